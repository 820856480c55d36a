import Foundation
import TensorCore
import Testing
import USOTestSupport

/// Each kernel's backward against central finite differences of a random linear loss
/// L = sum(w * y), accumulated in Double (tolerance: Tolerance.finiteDifferenceFloat32).
struct KernelGradientTests {
    /// Checks d/dx of sum(w * f(x)) against `analytic` at every element.
    func checkInputGradient(_ n: Int, outputCount: Int, seed: UInt64,
                            forward: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
                            backward: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        var data = TestData(seed: seed)
        var x = data.array(n, scale: 2)
        let w = data.array(outputCount)
        var y = [Float](repeating: 0, count: outputCount)
        var dx = [Float](repeating: 0, count: n)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { forward(xp.baseAddress!, $0.baseAddress!) }
            w.withUnsafeBufferPointer { wp in dx.withUnsafeMutableBufferPointer { backward(xp.baseAddress!, wp.baseAddress!, $0.baseAddress!) } }
        }
        let numeric = x.withUnsafeMutableBufferPointer { xb in
            FiniteDifference.gradient(of: xb) {
                var out = [Float](repeating: 0, count: outputCount)
                out.withUnsafeMutableBufferPointer { forward(UnsafePointer(xb.baseAddress!), $0.baseAddress!) }
                return zip(out, w).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
        }
        let cmp = Approx.compare(dx, numeric, .finiteDifferenceFloat32, "dx")
        #expect(cmp.passed, "\(cmp)")
    }

    @Test func silu() {
        checkInputGradient(37, outputCount: 37, seed: 1,
                           forward: { ActivationKernels.siluForward(37, $0, $1) },
                           backward: { ActivationKernels.siluBackwardAccumulate(37, $0, $1, $2) })
    }

    @Test func gelu() {
        checkInputGradient(37, outputCount: 37, seed: 2,
                           forward: { ActivationKernels.geluForward(37, $0, $1) },
                           backward: { ActivationKernels.geluBackwardAccumulate(37, $0, $1, $2) })
    }

    /// The training forward's saved slope path: the same gelu bits as `geluForward`, the same
    /// gradient bits as `geluBackwardAccumulate` from the input, and right by finite differences.
    @Test func geluSavedSlopeIsTheDerivative() {
        let n = 37
        var data = TestData(seed: 3)
        let x = data.array(n, scale: 3), dy = data.array(n)
        var slope = x, g = [Float](repeating: 0, count: n), plain = g
        ActivationKernels.geluForwardSavingSlope(n, h: &slope, g: &g)
        ActivationKernels.geluForward(n, x, &plain)
        #expect(g == plain, "gelu saving its slope differs from geluForward")
        var fromSlope = [Float](repeating: 0, count: n), fromInput = fromSlope
        ActivationKernels.geluBackwardFromSlope(n, slope: slope, dy: dy, dx: &fromSlope)
        ActivationKernels.geluBackwardAccumulate(n, x, dy, &fromInput)
        let differing = zip(fromSlope, fromInput).filter { $0 != $1 }.count
        #expect(differing == 0, "dx from the saved slope differs from dx from the input at \(differing) of \(n)")
        checkInputGradient(n, outputCount: n, seed: 8, forward: { x, y in
            var h = Array(UnsafeBufferPointer(start: x, count: n))
            ActivationKernels.geluForwardSavingSlope(n, h: &h, g: y)
        }, backward: { x, dy, dx in
            var h = Array(UnsafeBufferPointer(start: x, count: n)), g = [Float](repeating: 0, count: n)
            ActivationKernels.geluForwardSavingSlope(n, h: &h, g: &g)
            var d = [Float](repeating: 0, count: n)
            ActivationKernels.geluBackwardFromSlope(n, slope: h, dy: dy, dx: &d)
            for i in 0..<n { dx[i] += d[i] }
        })
    }

    @Test func geluMatchesTheTanhFormula() {
        let x: [Float] = [-3, -1, -0.5, 0, 0.5, 1, 3]
        var y = [Float](repeating: 0, count: x.count)
        ActivationKernels.geluForward(x.count, x, &y)
        let want: [Double] = x.map { v in
            let d = Double(v)
            let u: Double = 0.7978845608028654 * (d + 0.044715 * d * d * d)
            return 0.5 * d * (1 + tanh(u))
        }
        let cmp = Approx.compare(y, want, .float32VersusFloat64, "gelu")
        #expect(cmp.passed, "\(cmp)")
    }

    @Test(arguments: [true, false])
    func layerNorm(affine: Bool) {
        let rows = 3, dim = 11
        var data = TestData(seed: 4)
        let weight = data.array(dim), bias = data.array(dim)
        var mean = [Float](repeating: 0, count: rows), rstd = mean
        checkInputGradient(rows * dim, outputCount: rows * dim, seed: 5, forward: { x, y in
            NormKernels.layerNormForward(rows: rows, dim: dim, eps: 1e-6, x: x, weight: affine ? weight : nil,
                                         bias: affine ? bias : nil, y: y, mean: &mean, rstd: &rstd)
        }, backward: { x, dy, dx in
            NormKernels.layerNormBackwardAccumulate(rows: rows, dim: dim, x: x, dy: dy, mean: mean, rstd: rstd,
                                                    weight: affine ? weight : nil, dx: dx, dweight: nil, dbias: nil)
        })
    }

    @Test func rmsNorm() {
        let rows = 4, dim = 8
        var data = TestData(seed: 6)
        let scale = data.array(dim)
        var rrms = [Float](repeating: 0, count: rows)
        checkInputGradient(rows * dim, outputCount: rows * dim, seed: 7, forward: { x, y in
            NormKernels.rmsNormForward(rows: rows, dim: dim, stride: dim, eps: 1e-6, x: x, scale: scale, y: y, yStride: dim, rrms: &rrms)
        }, backward: { x, dy, dx in
            NormKernels.rmsNormBackwardAccumulate(rows: rows, dim: dim, stride: dim, x: x, dy: dy, dyStride: dim, rrms: rrms,
                                                  scale: scale, dx: dx, dxStride: dim, dscale: nil)
        })
    }

    @Test func softmax() {
        let rows = 3, cols = 6
        var saved = [Float](repeating: 0, count: rows * cols)
        checkInputGradient(rows * cols, outputCount: rows * cols, seed: 8, forward: { x, y in
            y.update(from: x, count: rows * cols)
            SoftmaxKernels.forwardInPlace(rows: rows, cols: cols, scale: 0.7, y)
            saved = Array(UnsafeBufferPointer(start: y, count: rows * cols))
        }, backward: { _, dy, dx in
            var dp = Array(UnsafeBufferPointer(start: dy, count: rows * cols))
            SoftmaxKernels.backwardInPlace(rows: rows, cols: cols, p: saved, &dp)
            for i in 0..<(rows * cols) { dx[i] += 0.7 * dp[i] }
        })
    }

    @Test func parameterGradientsOfNorms() {
        // dweight, dbias of LayerNorm and dscale of RMSNorm against finite differences.
        let rows = 3, dim = 5
        var data = TestData(seed: 9)
        let x = data.array(rows * dim, scale: 2), w = data.array(rows * dim)
        // Parameters live in tensors: the loss reads them while finite differences perturb them.
        let weight = Tensor(shape: [dim], values: data.array(dim)), bias = Tensor(shape: [dim], values: data.array(dim))
        var mean = [Float](repeating: 0, count: rows), rstd = mean
        var y = [Float](repeating: 0, count: rows * dim)
        func loss() -> Double {
            NormKernels.layerNormForward(rows: rows, dim: dim, eps: 1e-6, x: x, weight: weight.data, bias: bias.data,
                                         y: &y, mean: &mean, rstd: &rstd)
            return zip(y, w).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = loss()
        var dw = [Float](repeating: 0, count: dim), db = dw, dx = x
        NormKernels.layerNormBackwardAccumulate(rows: rows, dim: dim, x: x, dy: w, mean: mean, rstd: rstd, weight: weight.data,
                                                dx: &dx, dweight: &dw, dbias: &db)
        let nw = FiniteDifference.gradient(of: weight.buffer, loss: loss)
        let nb = FiniteDifference.gradient(of: bias.buffer, loss: loss)
        let cw = Approx.compare(dw, nw, .finiteDifferenceFloat32, "dweight")
        let cb = Approx.compare(db, nb, .finiteDifferenceFloat32, "dbias")
        #expect(cw.passed, "\(cw)")
        #expect(cb.passed, "\(cb)")

        let scale = Tensor(shape: [dim], values: data.array(dim))
        var rrms = [Float](repeating: 0, count: rows)
        func rmsLoss() -> Double {
            NormKernels.rmsNormForward(rows: rows, dim: dim, stride: dim, eps: 1e-6, x: x, scale: scale.data, y: &y, yStride: dim, rrms: &rrms)
            return zip(y, w).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = rmsLoss()
        var ds = [Float](repeating: 0, count: dim)
        NormKernels.rmsNormBackwardAccumulate(rows: rows, dim: dim, stride: dim, x: x, dy: w, dyStride: dim, rrms: rrms,
                                              scale: scale.data, dx: &dx, dxStride: dim, dscale: &ds)
        let ns = FiniteDifference.gradient(of: scale.buffer, loss: rmsLoss)
        let cmp = Approx.compare(ds, ns, .finiteDifferenceFloat32, "dscale")
        #expect(cmp.passed, "\(cmp)")
    }
}
