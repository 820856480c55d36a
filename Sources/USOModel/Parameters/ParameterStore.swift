import TensorCore

/// Owns the memory of a model's parameters: one flat storage for all values, and one flat
/// storage for the gradients of the trainable ones.
///
/// Gradients are laid out in REVERSE build order, which is the order backward produces
/// them: the gradient buffer fills from its start as backward runs, so a bucket of the
/// allreduce is a contiguous range that is complete early (DDP's and llm.c's layout).
public final class ParameterStore {
    public let registry: ParameterRegistry
    public let values: TensorStorage
    /// Flat gradients of the trainable parameters (empty until `allocateGradients`).
    public private(set) var gradients: TensorStorage
    /// Trainable parameters in gradient order (reverse build order).
    public private(set) var trainable: [Parameter] = []

    /// Allocates every parameter's value and draws its initial values from
    /// RandomStream(seed, .parameterInit, id: index in build order).
    public init(_ registry: ParameterRegistry, seed: UInt64) {
        self.registry = registry
        let total = registry.parameters.reduce(0) { $0 + $1.count }
        values = TensorStorage(count: total)
        gradients = TensorStorage(count: 0)
        var offset = 0
        for (index, p) in registry.parameters.enumerated() {
            p.value = Tensor(storage: values, offset: offset, shape: p.shape)
            offset += p.count
            var stream = RandomStream(seed: seed, purpose: .parameterInit, id: UInt64(index))
            switch p.initializer {
            case .zeros: p.value.fill(0)
            case .ones: p.value.fill(1)
            case .uniform(let bound): stream.fillUniform(p.value.buffer, low: -bound, high: bound)
            case .normal(let std): stream.fillNormal(p.value.buffer, std: std)
            }
        }
    }

    /// Gives the parameters for which `isTrainable` holds a gradient (zeroed), in one flat
    /// storage in reverse build order, or ordered by `milestone` (the backward milestone at
    /// which each gradient is final; ties keep reverse build order) so that gradient buckets
    /// complete front to back. All other parameters get none and cost no weight backward.
    public func allocateGradients(where isTrainable: (Parameter) -> Bool, milestone: ((Parameter) -> Int)? = nil) {
        for p in registry.parameters { p.grad = nil }
        trainable = registry.parameters.reversed().filter(isTrainable)
        if let milestone {
            trainable = trainable.enumerated().sorted { (milestone($0.element), $0.offset) < (milestone($1.element), $1.offset) }
                .map(\.element)
        }
        gradients = TensorStorage(count: trainable.reduce(0) { $0 + $1.count })
        var offset = 0
        for p in trainable {
            p.grad = Tensor(storage: gradients, offset: offset, shape: p.shape)
            offset += p.count
        }
    }

    /// Sets every gradient to zero.
    public func zeroGradients() {
        ElementwiseKernels.fill(UnsafeMutableBufferPointer(start: gradients.base, count: gradients.count), with: 0)
    }

    /// The number of trainable elements.
    public var trainableCount: Int { gradients.count }
}
