/// SiLU and tanh-GELU, forward and backward, element-wise over n values, in the active tier.
public enum ActivationKernels {
    /// y = x * sigmoid(x).
    public static func siluForward(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.activation, started) }
        activeKernels.siluForward(n, x, y)
    }

    /// dx += dy * silu'(x).
    public static func siluBackwardAccumulate(_ n: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                              _ dx: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.activation, started) }
        activeKernels.siluBackwardAccumulate(n, x, dy, dx)
    }

    /// y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): PyTorch's GELU(approximate="tanh").
    public static func geluForward(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.activation, started) }
        activeKernels.geluForward(n, x, y)
    }

    /// dx += dy * gelu'(x).
    public static func geluBackwardAccumulate(_ n: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                              _ dx: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.activation, started) }
        activeKernels.geluBackwardAccumulate(n, x, dy, dx)
    }

    /// g = gelu(h), then gelu'(h) written over h: the forward of a layer that will be trained
    /// through, whose backward is then `geluBackwardFromSlope` (one product, no second tanh).
    public static func geluForwardSavingSlope(_ n: Int, h: UnsafeMutablePointer<Float>, g: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.activation, started) }
        activeKernels.geluForwardSavingSlope(n, h, g)
    }

    /// dx = dy * slope, from the slope `geluForwardSavingSlope` left (dx may be the slope).
    public static func geluBackwardFromSlope(_ n: Int, slope: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                             dx: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.activation, started) }
        activeKernels.geluBackwardFromSlope(n, slope, dy, dx)
    }

    /// h[i] = dy[i] * gelu'(h[i]): the gradient at the GELU's input written over its saved
    /// input, when backward needs the input no more.
    public static func geluBackwardInPlace(_ n: Int, h: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.activation, started) }
        activeKernels.geluBackwardInPlace(n, h, dy)
    }
}

/// Row-wise softmax over a (rows, cols) matrix, forward in place and backward.
public enum SoftmaxKernels {
    /// p[r, :] = softmax(p[r, :] * scale), in place, max-subtracted for stability.
    public static func forwardInPlace(rows: Int, cols: Int, scale: Float, _ p: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.softmax, started) }
        activeKernels.softmaxForwardInPlace(rows, cols, scale, p)
    }

    /// ds = p * (dp - sum(dp * p)) per row, written into `dp` in place (the gradient with
    /// respect to the softmax input before `scale`; multiply by scale after).
    public static func backwardInPlace(rows: Int, cols: Int, p: UnsafePointer<Float>, _ dp: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.softmax, started) }
        activeKernels.softmaxBackwardInPlace(rows, cols, p, dp)
    }
}
