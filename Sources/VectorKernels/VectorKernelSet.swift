/// One tier's compiled instance of every vector kernel, as a set of static functions with
/// the signatures of `Kernel`'s bodies. Each tier module (`VectorKernelsBaseline`,
/// `VectorKernelsAVX2`, `VectorKernelsAVX512`) conforms one type, `Tier`, by the same source
/// file compiled for its target CPU; `TensorCore` calls through the tier its CPU runs.
public protocol VectorKernelSet {
    /// The tier's name ("baseline", "avx2", "avx512").
    static var name: String { get }

    // Activations.
    static func siluForward(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>)
    static func siluBackwardAccumulate(_ n: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>)
    static func geluForward(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>)
    static func geluBackwardAccumulate(_ n: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>)
    static func geluForwardSavingSlope(_ n: Int, _ h: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>)
    static func geluBackwardFromSlope(_ n: Int, _ slope: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>)
    static func geluBackwardInPlace(_ n: Int, _ h: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>)
    // Softmax.
    static func softmaxForwardInPlace(_ rows: Int, _ cols: Int, _ scale: Float, _ p: UnsafeMutablePointer<Float>)
    static func softmaxBackwardInPlace(_ rows: Int, _ cols: Int, _ p: UnsafePointer<Float>, _ dp: UnsafeMutablePointer<Float>)
    // Norms.
    static func layerNormForward(_ rows: Int, _ dim: Int, _ eps: Float, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>?,
                                 _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>,
                                 _ rstd: UnsafeMutablePointer<Float>)
    static func layerNormBackwardAccumulate(_ rows: Int, _ dim: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                            _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>, _ weight: UnsafePointer<Float>?,
                                            _ dx: UnsafeMutablePointer<Float>, _ dweight: UnsafeMutablePointer<Float>?,
                                            _ dbias: UnsafeMutablePointer<Float>?)
    static func rmsNormForward(_ rows: Int, _ dim: Int, _ stride: Int, _ eps: Float, _ x: UnsafePointer<Float>,
                               _ scale: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ yStride: Int,
                               _ rrms: UnsafeMutablePointer<Float>)
    static func rmsNormBackwardAccumulate(_ rows: Int, _ dim: Int, _ stride: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                          _ dyStride: Int, _ rrms: UnsafePointer<Float>, _ scale: UnsafePointer<Float>,
                                          _ dx: UnsafeMutablePointer<Float>, _ dxStride: Int, _ dscale: UnsafeMutablePointer<Float>?)
    // Modulation.
    static func modulate(_ rows: Int, _ dim: Int, _ n: UnsafePointer<Float>, _ shift: UnsafePointer<Float>,
                         _ scale: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>)
    static func modulateBackward(_ rows: Int, _ dim: Int, _ n: UnsafePointer<Float>, _ scale: UnsafePointer<Float>, _ dm: UnsafePointer<Float>,
                                 _ dshift: UnsafeMutablePointer<Float>, _ dscale: UnsafeMutablePointer<Float>, _ dn: UnsafeMutablePointer<Float>)
    static func gatedResidualForward(_ rows: Int, _ dim: Int, _ gate: UnsafePointer<Float>, _ f: UnsafePointer<Float>,
                                     _ x: UnsafeMutablePointer<Float>)
    static func gatedResidualBackward(_ rows: Int, _ dim: Int, _ gate: UnsafePointer<Float>, _ f: UnsafePointer<Float>,
                                      _ dx: UnsafePointer<Float>, _ dgate: UnsafeMutablePointer<Float>, _ df: UnsafeMutablePointer<Float>)
    // Element-wise.
    static func add(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>)
    static func fill(_ n: Int, _ y: UnsafeMutablePointer<Float>, _ value: Float)
    static func axpy(_ n: Int, _ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>)
    static func scale(_ n: Int, _ x: UnsafePointer<Float>, _ a: Float, _ y: UnsafeMutablePointer<Float>)
    static func addRows(_ rows: Int, _ cols: Int, _ src: UnsafePointer<Float>, _ srcStride: Int,
                        _ dst: UnsafeMutablePointer<Float>, _ dstStride: Int)
    static func addBias(_ rows: Int, _ cols: Int, _ bias: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>)
    static func sumRowsAccumulate(_ rows: Int, _ cols: Int, _ dy: UnsafePointer<Float>, _ db: UnsafeMutablePointer<Float>)
    // Reductions.
    static func sum(_ n: Int, _ x: UnsafePointer<Float>) -> Float
    static func max(_ n: Int, _ x: UnsafePointer<Float>) -> Float
    static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float
    static func dotDouble(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Double
    static func allFinite(_ n: Int, _ x: UnsafePointer<Float>) -> Bool
    // RoPE and the optimizer.
    static func rotatePairs(_ rows: Int, _ heads: Int, _ pairs: Int, _ cosines: UnsafePointer<Float>, _ sines: UnsafePointer<Float>,
                            _ x: UnsafeMutablePointer<Float>, _ stride: Int, _ sign: Float)
    static func adamW(_ n: Int, _ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ s: Float, _ m: UnsafeMutablePointer<Float>,
                      _ v: UnsafeMutablePointer<Float>, _ b1: Float, _ b2: Float, _ c1: Float, _ c2: Float, _ rate: Float,
                      _ decay: Float, _ eps: Float)
}
