import Foundation

/// The supervised-contrastive loss (Khosla et al. 2020) CSD trains its style head with: for
/// each anchor i with at least one positive (same label), L_i = -1/|P(i)| sum over p in P(i)
/// of log(exp(z_i . z_p / tau) / sum over a != i of exp(z_i . z_a / tau)); the loss is the
/// mean over such anchors. Embeddings are L2-normalised, (n, d) row-major.
public enum SupervisedContrastive {
    /// Returns the loss and writes dL/dz (n, d) into `gradient`; anchors without positives
    /// contribute nothing. `scale` multiplies the gradient (the micro-batch's share of the step).
    public static func loss(_ z: [Float], labels: [Int32], dim d: Int, temperature tau: Double, scale: Double,
                            gradient: inout [Float]) -> (loss: Double, anchors: Int) {
        let n = labels.count
        gradient = [Float](repeating: 0, count: n * d)
        var s = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n where j != i {
                var dot = 0.0
                for k in 0..<d { dot += Double(z[i * d + k]) * Double(z[j * d + k]) }
                s[i * n + j] = dot / tau
            }
        }
        let anchors = (0..<n).filter { i in (0..<n).contains { $0 != i && labels[$0] == labels[i] } }
        guard !anchors.isEmpty else { return (0, 0) }
        var total = 0.0
        var ds = [Double](repeating: 0, count: n * n)
        for i in anchors {
            let others = (0..<n).filter { $0 != i }
            let m = others.map { s[i * n + $0] }.max()!
            let sumExp = others.reduce(0.0) { $0 + exp(s[i * n + $1] - m) }
            let logZ = m + log(sumExp)
            let positives = others.filter { labels[$0] == labels[i] }
            total += -positives.reduce(0.0) { $0 + s[i * n + $1] - logZ } / Double(positives.count)
            for j in others {
                let soft = exp(s[i * n + j] - logZ)
                ds[i * n + j] = (soft - (labels[j] == labels[i] ? 1 / Double(positives.count) : 0)) / Double(anchors.count)
            }
        }
        for i in 0..<n {
            for j in 0..<n where j != i && ds[i * n + j] != 0 {
                let g = ds[i * n + j] / tau * scale
                for k in 0..<d {
                    gradient[i * d + k] += Float(g * Double(z[j * d + k]))
                    gradient[j * d + k] += Float(g * Double(z[i * d + k]))
                }
            }
        }
        return (total / Double(anchors.count), anchors.count)
    }
}
