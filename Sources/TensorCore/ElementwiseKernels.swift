/// Element-wise kernels over contiguous Float32 buffers.
///
/// Plain loops the compiler vectorises (AVX-512 on these machines); they read and
/// write caller-owned memory and never allocate.
public enum ElementwiseKernels {
    /// y[i] += x[i] for every i. The two buffers must have the same count.
    /// This is the reduction MPI performs for a float sum, so its rate is the local
    /// limit an allreduce is held against.
    @inlinable
    public static func add(_ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<Float>) {
        precondition(x.count == y.count, "add: \(x.count) elements into \(y.count)")
        guard let xp = x.baseAddress, let yp = y.baseAddress else { return }
        for i in 0..<x.count { yp[i] += xp[i] }
    }

    /// y[i] = value for every i.
    @inlinable
    public static func fill(_ y: UnsafeMutableBufferPointer<Float>, with value: Float) {
        guard let yp = y.baseAddress else { return }
        for i in 0..<y.count { yp[i] = value }
    }
}
