import Foundation
import TensorCore
import VectorKernels
import Testing
import USOTestSupport

/// The vectorised exp, sigmoid and tanh against Double's libm, over their whole useful range.
struct FastMathTests {
    @Test func expIsAccurateToAFewUlps() {
        var worst = 0.0, at: Float = 0
        var x: Float = -87
        while x <= 88 {
            let got = Double(FastMath.exp(x)), want = Foundation.exp(Double(x))
            let rel = abs(got - want) / want
            if rel > worst { worst = rel; at = x }
            x += 0.0137
        }
        #expect(worst < 3e-7, "worst relative error \(worst) at x = \(at)")
        #expect(FastMath.exp(-1000) > 0 && FastMath.exp(-1000) < 2e-38)
        #expect(FastMath.exp(1000).isFinite)
        #expect(FastMath.exp(0) == 1)
    }

    @Test func tanhAndSigmoidAbsoluteError() {
        var worstTanh = 0.0, worstSigmoid = 0.0
        var x: Float = -20
        while x <= 20 {
            worstTanh = max(worstTanh, abs(Double(FastMath.tanh(x)) - Foundation.tanh(Double(x))))
            worstSigmoid = max(worstSigmoid, abs(Double(FastMath.sigmoid(x)) - 1 / (1 + Foundation.exp(-Double(x)))))
            x += 0.001
        }
        #expect(worstTanh < 2e-7, "tanh \(worstTanh)")
        #expect(worstSigmoid < 1e-7, "sigmoid \(worstSigmoid)")
    }

    @Test(arguments: [0, 1, 15, 16, 17, 100])
    func kernelsHandleEveryLength(n: Int) {
        var data = TestData(seed: UInt64(n + 1))
        let x = data.array(n, scale: 4)
        var y = [Float](repeating: 9, count: n + 1)   // one guard element past the end
        ActivationKernels.siluForward(n, x, &y)
        let want = x.map { Double($0) / (1 + Foundation.exp(-Double($0))) }
        let cmp = Approx.compare(Array(y[0..<n]), want, .float32VersusFloat64, "silu")
        #expect(cmp.passed, "\(cmp)")
        #expect(y[n] == 9, "wrote past the end")
        #expect(Reductions.sum(n, x) == Float(x.reduce(0.0) { $0 + Double($1) }) || abs(Double(Reductions.sum(n, x)) - x.reduce(0.0) { $0 + Double($1) }) < 1e-4)
        if n > 0 { #expect(Reductions.max(n, x) == x.max()!) }
    }
}
