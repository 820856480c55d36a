import Foundation

/// SiLU and tanh-GELU, forward and backward, element-wise over n values.
public enum ActivationKernels {
    /// y = x * sigmoid(x).
    @inlinable
    public static func siluForward(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<n {
            let v = x[i]
            y[i] = v / (1 + expf(-v))
        }
    }

    /// dx += dy * silu'(x), silu'(x) = s + x s (1 - s), s = sigmoid(x).
    @inlinable
    public static func siluBackwardAccumulate(_ n: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                              _ dx: UnsafeMutablePointer<Float>) {
        for i in 0..<n {
            let v = x[i]
            let s = 1 / (1 + expf(-v))
            dx[i] += dy[i] * (s + v * s * (1 - s))
        }
    }

    @usableFromInline static let geluC: Float = 0.7978845608028654  // sqrt(2 / pi)
    @usableFromInline static let geluK: Float = 0.044715

    /// y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): PyTorch's GELU(approximate="tanh").
    @inlinable
    public static func geluForward(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<n {
            let v = x[i]
            let u = geluC * (v + geluK * v * v * v)
            y[i] = 0.5 * v * (1 + tanhf(u))
        }
    }

    /// dx += dy * gelu'(x).
    @inlinable
    public static func geluBackwardAccumulate(_ n: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                              _ dx: UnsafeMutablePointer<Float>) {
        for i in 0..<n {
            let v = x[i]
            let u = geluC * (v + geluK * v * v * v)
            let t = tanhf(u)
            let du = geluC * (1 + 3 * geluK * v * v)
            dx[i] += dy[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du)
        }
    }

    /// h[i] = dy[i] * gelu'(h[i]): the gradient at the GELU's input written over its saved
    /// input, when backward needs the input no more.
    @inlinable
    public static func geluBackwardInPlace(_ n: Int, h: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>) {
        for i in 0..<n {
            let v = h[i]
            let u = geluC * (v + geluK * v * v * v)
            let t = tanhf(u)
            let du = geluC * (1 + 3 * geluK * v * v)
            h[i] = dy[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du)
        }
    }
}
