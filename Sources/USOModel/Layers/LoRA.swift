import TensorCore

/// A low-rank adapter as USO places it: out += up(down(x)), with `down` (rank, in) drawn
/// normal with std 1/rank, `up` (out, rank) zero, no bias, no alpha scaling (weight 1).
///
/// Key names follow USO's `dit_lora.safetensors`: `<name>.down.weight`, `<name>.up.weight`.
/// An adapter may cover a slice of its layer's outputs (`outputOffset`): the qkv part of
/// a single block's `linear1`.
public final class LoRA {
    public let name: String
    public let inFeatures: Int
    public let outFeatures: Int
    public let rank: Int
    /// The first output of the host layer this adapter adds to.
    public let outputOffset: Int
    public let down: Parameter  // (rank, in)
    public let up: Parameter    // (out, rank)
    /// The weight of the layer it is attached to (FLUX's key): where `uso ckpt export --fuse`
    /// merges it, W[offset ..< offset + out, :] += up down.
    public internal(set) var host: Parameter?

    public init(_ registry: ParameterRegistry, _ name: String, in inFeatures: Int, out outFeatures: Int,
                rank: Int, outputOffset: Int = 0) {
        self.name = name
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.rank = rank
        self.outputOffset = outputOffset
        down = registry.make("\(name).down.weight", [rank, inFeatures], group: .lora, initializer: .normal(std: 1 / Float(rank)))
        up = registry.make("\(name).up.weight", [outFeatures, rank], group: .lora, initializer: .zeros)
        registry.adapters.append(self)
    }

    /// h (rows, rank) = x down^T; y[:, offset ..< offset+out] += h up^T. `ldy` is y's row stride.
    func forwardAccumulate(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
                           hidden h: UnsafeMutablePointer<Float>) {
        Gemm.multiply(transA: false, transB: true, m: rows, n: rank, k: inFeatures,
                      a: x, lda: inFeatures, b: down.data, ldb: inFeatures, beta: 0, c: h, ldc: rank)
        Gemm.multiply(transA: false, transB: true, m: rows, n: outFeatures, k: rank,
                      a: h, lda: rank, b: up.data, ldb: rank, beta: 1, c: y + outputOffset, ldc: ldy)
    }

    /// dup += dy_s^T h; dh = dy_s up; ddown += dh^T x; dx += dh down (dy_s: the covered slice of dy).
    func backward(_ x: UnsafePointer<Float>, rows: Int, dy: UnsafePointer<Float>, ldy: Int,
                  dx: UnsafeMutablePointer<Float>?, hidden h: UnsafeMutablePointer<Float>) {
        let dys = dy + outputOffset
        if let dup = up.gradData {
            Gemm.multiply(transA: true, transB: false, m: outFeatures, n: rank, k: rows,
                          a: dys, lda: ldy, b: h, ldb: rank, beta: 1, c: dup, ldc: rank)
        }
        guard dx != nil || down.grad != nil else { return }
        // dh overwrites h: the forward's hidden values are no longer needed (dup used them above).
        Gemm.multiply(transA: false, transB: false, m: rows, n: rank, k: outFeatures,
                      a: dys, lda: ldy, b: up.data, ldb: rank, beta: 0, c: h, ldc: rank)
        if let ddown = down.gradData {
            Gemm.multiply(transA: true, transB: false, m: rank, n: inFeatures, k: rows,
                          a: h, lda: rank, b: x, ldb: inFeatures, beta: 1, c: ddown, ldc: inFeatures)
        }
        if let dx {
            Gemm.multiply(transA: false, transB: false, m: rows, n: inFeatures, k: rank,
                          a: h, lda: rank, b: down.data, ldb: inFeatures, beta: 1, c: dx, ldc: inFeatures)
        }
    }

    func forwardFLOPs(rows: Int) -> Double {
        Gemm.flops(m: rows, n: rank, k: inFeatures) + Gemm.flops(m: rows, n: outFeatures, k: rank)
    }
}
