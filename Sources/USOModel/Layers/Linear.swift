import TensorCore

/// y = x W^T + b, PyTorch's `nn.Linear` with its [out, in] weight layout and FLUX's key
/// names (`<name>.weight`, `<name>.bias`), with an optional LoRA adapter added to its output.
public final class Linear {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Parameter   // (out, in)
    public let bias: Parameter?    // (out)
    /// A LoRA adapter on this layer's input and (part of) its output, if any.
    public private(set) var lora: LoRA?

    public init(_ registry: ParameterRegistry, _ name: String, in inFeatures: Int, out outFeatures: Int,
                bias hasBias: Bool = true, group: ParameterGroup, zeroInit: Bool = false) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = registry.make("\(name).weight", [outFeatures, inFeatures], group: group,
                               initializer: zeroInit ? .zeros : .uniform(bound: bound))
        bias = hasBias ? registry.make("\(name).bias", [outFeatures], group: group,
                                       initializer: zeroInit ? .zeros : .uniform(bound: bound)) : nil
    }

    /// Attaches `adapter`, which adds to outputs `adapter.outputOffset ..< + adapter.outFeatures`.
    public func attach(_ adapter: LoRA) {
        precondition(adapter.inFeatures == inFeatures && adapter.outputOffset + adapter.outFeatures <= outFeatures,
                     "LoRA \(adapter.name) does not fit \(weight.name)")
        lora = adapter
        adapter.host = weight
    }

    /// Scratch for the adapter's hidden values; nil without an adapter.
    public func makeCache(rows: Int) -> Tensor? {
        lora.map { Tensor(zeros: [rows, $0.rank]) }
    }

    /// y (rows, out) = x (rows, in) W^T + b [+ LoRA(x)]. `cache` from `makeCache` when an adapter is attached.
    public func forward(_ x: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>, cache: Tensor?) {
        // With a bias, y starts as b in every row and the product adds to it (beta 1): OpenBLAS
        // would otherwise zero y first (beta 0) and the bias be added in a third pass over y.
        if let bias { ElementwiseKernels.copyRows(rows: rows, cols: outFeatures, from: bias.data, stride: 0, to: y, stride: outFeatures) }
        Gemm.multiply(transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures,
                      a: x, lda: inFeatures, b: weight.data, ldb: inFeatures, beta: bias == nil ? 0 : 1, c: y, ldc: outFeatures)
        if let lora { lora.forwardAccumulate(x, rows: rows, into: y, ldy: outFeatures, hidden: cache!.data) }
    }

    /// Backward: dx += dy W (when `dx` is given; `dx = dy W` with `overwrite`, which spares
    /// the caller zeroing dx first), dW += dy^T x and db += sum(dy) (when trainable), and the
    /// adapter's gradients (added to dx). `dy` is (rows, out), `x` the forward input.
    public func backward(_ x: UnsafePointer<Float>, rows: Int, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, overwrite: Bool = false, cache: Tensor?) {
        if let dx {
            Gemm.multiply(transA: false, transB: false, m: rows, n: inFeatures, k: outFeatures,
                          a: dy, lda: outFeatures, b: weight.data, ldb: inFeatures, beta: overwrite ? 0 : 1, c: dx, ldc: inFeatures)
        }
        if let dw = weight.gradData {
            Gemm.multiply(transA: true, transB: false, m: outFeatures, n: inFeatures, k: rows,
                          a: dy, lda: outFeatures, b: x, ldb: inFeatures, beta: 1, c: dw, ldc: inFeatures)
        }
        if let bias, let db = bias.gradData {
            ElementwiseKernels.sumRowsAccumulate(rows: rows, cols: outFeatures, dy, into: db)
        }
        if let lora { lora.backward(x, rows: rows, dy: dy, ldy: outFeatures, dx: dx, hidden: cache!.data) }
    }

    /// FLOPs of one forward over `rows` rows: the dense product and the adapter's.
    public func forwardFLOPs(rows: Int) -> FLOPCount {
        FLOPCount(dense: Gemm.flops(m: rows, n: outFeatures, k: inFeatures), lora: lora?.forwardFLOPs(rows: rows) ?? 0)
    }
}
