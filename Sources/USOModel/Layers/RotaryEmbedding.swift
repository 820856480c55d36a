import Foundation
import TensorCore

/// RoPE over several position axes, as FLUX's `EmbedND`: for axis a with d_a head
/// dimensions, frequencies omega_k = theta^(-2k / d_a) and angles pos_a * omega_k; the
/// rotations act on ADJACENT pairs (x[2i], x[2i+1]) of each head, axes side by side.
///
/// The table (cos and sin per token and pair) is built once per forward from the position
/// ids and shared by every block.
public final class RotaryTable {
    public let axesDims: [Int]
    public let theta: Double
    public let headDim: Int
    public let capacity: Int
    /// (capacity, headDim / 2) each.
    let cosines: Tensor, sines: Tensor
    public private(set) var rows = 0

    public init(axesDims: [Int], theta: Double, capacity: Int) {
        precondition(axesDims.allSatisfy { $0 % 2 == 0 }, "RoPE axis dims must be even: \(axesDims)")
        self.axesDims = axesDims
        self.theta = theta
        self.headDim = axesDims.reduce(0, +)
        self.capacity = capacity
        cosines = Tensor(zeros: [capacity, headDim / 2])
        sines = Tensor(zeros: [capacity, headDim / 2])
    }

    /// Fills the table for `count` tokens with position ids (count, axes) in row-major order.
    public func build(ids: UnsafePointer<Float>, count: Int) {
        setRows(ids: ids, count: count, at: 0)
        setCount(count)
    }

    /// Fills rows `offset ..< offset + count` from position ids (count, axes): one sample of a packed batch.
    public func setRows(ids: UnsafePointer<Float>, count: Int, at offset: Int) {
        precondition(offset + count <= capacity, "RoPE table holds \(capacity) tokens, asked for rows \(offset)..<\(offset + count)")
        let pairs = headDim / 2, axes = axesDims.count
        for r in 0..<count {
            var pair = 0
            let out = (offset + r) * pairs
            for (a, d) in axesDims.enumerated() {
                let pos = Double(ids[r * axes + a])
                for k in 0..<(d / 2) {
                    let omega = 1 / pow(theta, Double(2 * k) / Double(d))
                    let angle = pos * omega
                    cosines.data[out + pair] = Float(cos(angle))
                    sines.data[out + pair] = Float(sin(angle))
                    pair += 1
                }
            }
        }
    }

    /// The number of rows in use (every row below it filled by `setRows`).
    public func setCount(_ count: Int) {
        precondition(count <= capacity, "RoPE table holds \(capacity) tokens, asked for \(count)")
        rows = count
    }

    /// Rotates each head of x (rows, heads * headDim; row stride `stride`) in place, rows
    /// `rowOffset ..< rowOffset + rows` of the table. `inverse` applies the transpose (backward).
    public func apply(_ x: UnsafeMutablePointer<Float>, rows n: Int, rowOffset: Int = 0, heads: Int, stride: Int,
                      inverse: Bool = false) {
        precondition(rowOffset + n <= rows, "RoPE rows \(rowOffset)..<\(rowOffset + n) beyond the table's \(rows)")
        let pairs = headDim / 2
        ModulationKernels.rotatePairs(rows: n, heads: heads, pairs: pairs, cosines: cosines.data + rowOffset * pairs,
                                      sines: sines.data + rowOffset * pairs, x: x, stride: stride, inverse: inverse)
    }
}
