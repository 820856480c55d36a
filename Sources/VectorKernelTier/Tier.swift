import VectorKernels

// This one file is every kernel tier: Sources/VectorKernels{Baseline,AVX2,AVX512}/Tier.swift
// are links to it, and Package.swift compiles each copy for its tier's target CPU. Each
// function inlines `Kernel`'s body (`@inline(__always)`), so it runs at the tier's vector width.

/// Every vector kernel, compiled for this module's target CPU (see Package.swift).
public enum Tier: VectorKernelSet {
    public static var name: String { tierName }

    public static func siluForward(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        Kernel.siluForward(n, x, y)
    }
    public static func siluBackwardAccumulate(_ n: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        Kernel.siluBackwardAccumulate(n, x, dy, dx)
    }
    public static func geluForward(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        Kernel.geluForward(n, x, y)
    }
    public static func geluBackwardAccumulate(_ n: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        Kernel.geluBackwardAccumulate(n, x, dy, dx)
    }
    public static func geluForwardSavingSlope(_ n: Int, _ h: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>) {
        Kernel.geluForwardSavingSlope(n, h, g)
    }
    public static func geluBackwardFromSlope(_ n: Int, _ slope: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        Kernel.geluBackwardFromSlope(n, slope, dy, dx)
    }
    public static func geluBackwardInPlace(_ n: Int, _ h: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>) {
        Kernel.geluBackwardInPlace(n, h, dy)
    }
    public static func softmaxForwardInPlace(_ rows: Int, _ cols: Int, _ scale: Float, _ p: UnsafeMutablePointer<Float>) {
        Kernel.softmaxForwardInPlace(rows, cols, scale, p)
    }
    public static func softmaxBackwardInPlace(_ rows: Int, _ cols: Int, _ p: UnsafePointer<Float>, _ dp: UnsafeMutablePointer<Float>) {
        Kernel.softmaxBackwardInPlace(rows, cols, p, dp)
    }
    public static func layerNormForward(_ rows: Int, _ dim: Int, _ eps: Float, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>?,
                                        _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>,
                                        _ rstd: UnsafeMutablePointer<Float>) {
        Kernel.layerNormForward(rows, dim, eps, x, weight, bias, y, mean, rstd)
    }
    public static func layerNormBackwardAccumulate(_ rows: Int, _ dim: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                                   _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>, _ weight: UnsafePointer<Float>?,
                                                   _ dx: UnsafeMutablePointer<Float>, _ dweight: UnsafeMutablePointer<Float>?,
                                                   _ dbias: UnsafeMutablePointer<Float>?) {
        Kernel.layerNormBackwardAccumulate(rows, dim, x, dy, mean, rstd, weight, dx, dweight, dbias)
    }
    public static func rmsNormForward(_ rows: Int, _ dim: Int, _ stride: Int, _ eps: Float, _ x: UnsafePointer<Float>,
                                      _ scale: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ yStride: Int,
                                      _ rrms: UnsafeMutablePointer<Float>) {
        Kernel.rmsNormForward(rows, dim, stride, eps, x, scale, y, yStride, rrms)
    }
    public static func rmsNormBackwardAccumulate(_ rows: Int, _ dim: Int, _ stride: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                                 _ dyStride: Int, _ rrms: UnsafePointer<Float>, _ scale: UnsafePointer<Float>,
                                                 _ dx: UnsafeMutablePointer<Float>, _ dxStride: Int, _ dscale: UnsafeMutablePointer<Float>?) {
        Kernel.rmsNormBackwardAccumulate(rows, dim, stride, x, dy, dyStride, rrms, scale, dx, dxStride, dscale)
    }
    public static func modulate(_ rows: Int, _ dim: Int, _ n: UnsafePointer<Float>, _ shift: UnsafePointer<Float>,
                                _ scale: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>) {
        Kernel.modulate(rows, dim, n, shift, scale, m)
    }
    public static func modulateBackward(_ rows: Int, _ dim: Int, _ n: UnsafePointer<Float>, _ scale: UnsafePointer<Float>, _ dm: UnsafePointer<Float>,
                                        _ dshift: UnsafeMutablePointer<Float>, _ dscale: UnsafeMutablePointer<Float>, _ dn: UnsafeMutablePointer<Float>) {
        Kernel.modulateBackward(rows, dim, n, scale, dm, dshift, dscale, dn)
    }
    public static func gatedResidualForward(_ rows: Int, _ dim: Int, _ gate: UnsafePointer<Float>, _ f: UnsafePointer<Float>,
                                            _ x: UnsafeMutablePointer<Float>) {
        Kernel.gatedResidualForward(rows, dim, gate, f, x)
    }
    public static func gatedResidualBackward(_ rows: Int, _ dim: Int, _ gate: UnsafePointer<Float>, _ f: UnsafePointer<Float>,
                                             _ dx: UnsafePointer<Float>, _ dgate: UnsafeMutablePointer<Float>, _ df: UnsafeMutablePointer<Float>) {
        Kernel.gatedResidualBackward(rows, dim, gate, f, dx, dgate, df)
    }
    public static func add(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) { Kernel.add(n, x, y) }
    public static func fill(_ n: Int, _ y: UnsafeMutablePointer<Float>, _ value: Float) { Kernel.fill(n, y, value) }
    public static func axpy(_ n: Int, _ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) { Kernel.axpy(n, a, x, y) }
    public static func scale(_ n: Int, _ x: UnsafePointer<Float>, _ a: Float, _ y: UnsafeMutablePointer<Float>) { Kernel.scale(n, x, a, y) }
    public static func addRows(_ rows: Int, _ cols: Int, _ src: UnsafePointer<Float>, _ srcStride: Int,
                               _ dst: UnsafeMutablePointer<Float>, _ dstStride: Int) {
        Kernel.addRows(rows, cols, src, srcStride, dst, dstStride)
    }
    public static func addBias(_ rows: Int, _ cols: Int, _ bias: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        Kernel.addBias(rows, cols, bias, y)
    }
    public static func sumRowsAccumulate(_ rows: Int, _ cols: Int, _ dy: UnsafePointer<Float>, _ db: UnsafeMutablePointer<Float>) {
        Kernel.sumRowsAccumulate(rows, cols, dy, db)
    }
    public static func sum(_ n: Int, _ x: UnsafePointer<Float>) -> Float { Kernel.sum(n, x) }
    public static func max(_ n: Int, _ x: UnsafePointer<Float>) -> Float { Kernel.max(n, x) }
    public static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float { Kernel.dot(n, x, y) }
    public static func dotDouble(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Double { Kernel.dotDouble(n, x, y) }
    public static func allFinite(_ n: Int, _ x: UnsafePointer<Float>) -> Bool { Kernel.allFinite(n, x) }
    public static func rotatePairs(_ rows: Int, _ heads: Int, _ pairs: Int, _ cosines: UnsafePointer<Float>, _ sines: UnsafePointer<Float>,
                                   _ x: UnsafeMutablePointer<Float>, _ stride: Int, _ sign: Float) {
        Kernel.rotatePairs(rows, heads, pairs, cosines, sines, x, stride, sign)
    }
    public static func adamW(_ n: Int, _ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ s: Float, _ m: UnsafeMutablePointer<Float>,
                             _ v: UnsafeMutablePointer<Float>, _ b1: Float, _ b2: Float, _ c1: Float, _ c2: Float, _ rate: Float,
                             _ decay: Float, _ eps: Float) {
        Kernel.adamW(n, w, g, s, m, v, b1, b2, c1, c2, rate, decay, eps)
    }
}
