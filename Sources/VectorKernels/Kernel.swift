/// The bodies of every non-GEMM kernel of the model, written once over 16-wide SIMD lanes.
///
/// Each is `@inlinable @inline(__always)`, so it is compiled where it is inlined: into the
/// kernel tier modules (`VectorKernelsBaseline`, `VectorKernelsAVX2`, `VectorKernelsAVX512`),
/// each built for its target CPU, which fill one `KernelTable` apiece. `TensorCore` picks the
/// table this CPU runs at start (`KernelTier`). The bodies read and write caller-owned
/// memory and never allocate. Kernels named `...Accumulate` add into their output (`+=`), as
/// gradient kernels do throughout (llm.c's convention): callers zero gradients once per step.
///
/// Only IEEE operations in a fixed order appear, so every tier computes the same bits (the
/// tests compare the tiers element by element).
public enum Kernel {
    public typealias Lanes = FastMath.Lanes
}
