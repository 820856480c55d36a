import TensorCore

/// Which part of the system a parameter belongs to: counted, saved and frozen by group.
public enum ParameterGroup: String, Sendable, CaseIterable, Codable {
    /// The DiT's own weights (FLUX key names): trained in stage `base`, frozen in `uso`.
    case base
    /// USO's LoRA adapters on the DiT (trained in stage `uso`).
    case lora
    /// The hierarchical projector (trained in stage `uso`).
    case projector
    /// The style encoder (SigLIP's role), frozen.
    case styleEncoder
    /// The autoencoder (the VAE's role), frozen.
    case autoencoder
    /// The text encoder (T5/CLIP's role), frozen.
    case textEncoder
    /// The CSD style model (trained in stage `csd`, frozen while serving rewards).
    case csd
}

/// How a parameter's first values are drawn (each from its own keyed random stream).
public enum Initializer: Sendable, Equatable {
    case zeros
    case ones
    /// Uniform in [-bound, bound] (PyTorch's Linear default has bound 1/sqrt(fan_in)).
    case uniform(bound: Float)
    /// Normal with mean 0.
    case normal(std: Float)
}

/// One named tensor of a model: its FLUX/USO key name, shape, group, initializer, and,
/// once a `ParameterStore` has allocated it, its value and (when trainable) its gradient.
///
/// Layers are built against parameters before any memory exists, so that the shapes and
/// key names of a model at FLUX size can be listed without allocating it.
public final class Parameter {
    public let name: String
    public let shape: [Int]
    public let group: ParameterGroup
    public let initializer: Initializer
    /// The value, set by `ParameterStore`.
    public internal(set) var value: Tensor!
    /// The gradient, for trainable parameters once gradients are allocated; nil when frozen.
    public internal(set) var grad: Tensor?

    init(name: String, shape: [Int], group: ParameterGroup, initializer: Initializer) {
        self.name = name
        self.shape = shape
        self.group = group
        self.initializer = initializer
    }

    /// Number of elements.
    public var count: Int { Tensor.elementCount(shape) }

    /// Whether memory has been allocated.
    public var isAllocated: Bool { value != nil }

    /// The value's first element (allocated parameters only).
    @inlinable public var data: UnsafeMutablePointer<Float> { value.data }

    /// The gradient's first element, or nil when frozen.
    @inlinable public var gradData: UnsafeMutablePointer<Float>? { grad?.data }
}

/// Collects the parameters of a model as its layers are built, in build order.
public final class ParameterRegistry {
    public private(set) var parameters: [Parameter] = []
    private var names: Set<String> = []
    /// Every LoRA adapter made with this registry, in build order (each knows its host layer's weight).
    public internal(set) var adapters: [LoRA] = []

    public init() {}

    /// A new parameter. Names must be unique within a registry.
    public func make(_ name: String, _ shape: [Int], group: ParameterGroup, initializer: Initializer) -> Parameter {
        precondition(names.insert(name).inserted, "parameter \(name) registered twice")
        let p = Parameter(name: name, shape: shape, group: group, initializer: initializer)
        parameters.append(p)
        return p
    }

    /// Parameters of one group, in build order.
    public func parameters(in group: ParameterGroup) -> [Parameter] { parameters.filter { $0.group == group } }

    /// Element count per group.
    public func counts() -> [ParameterGroup: Int] {
        var result: [ParameterGroup: Int] = [:]
        for p in parameters { result[p.group, default: 0] += p.count }
        return result
    }

    /// The parameter named `name`, if any.
    public func parameter(named name: String) -> Parameter? { parameters.first { $0.name == name } }
}
