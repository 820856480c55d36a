import Foundation
import Training
import TensorCore
import TripletData
import USOModel

/// `uso eval csd`: how well a CSD model tells styles apart on images it never trained on.
///
/// Reads a style-labelled set's eval rows only and embeds each image; every image is a query
/// against all the other eval images by cosine: top-1 accuracy (is the nearest image of the
/// same style?) and average precision over the same-style images. Queries whose style has no
/// other image are left out. The queries are scored in two groups: images of styles no train
/// row has (held-out styles: the CSD model never saw the style), and held-out images of
/// trained styles; either group's queries rank the whole gallery, both kinds as distractors. Each mean comes with its 95% bootstrap interval over
/// queries, beside the chance level (the share of same-style images among the others).
public struct StyleRetrieval {
    /// One group of queries' scores.
    public struct Score: Codable, Sendable {
        /// Queries of the group, and their styles.
        public var images: Int
        public var styles: Int
        public var top1: BootstrapMean
        public var meanAveragePrecision: BootstrapMean
        /// The top-1 accuracy of a random ranking.
        public var chance: Double
    }

    public struct Result: Codable, Sendable {
        /// Eval images (the gallery) and their styles.
        public var galleryImages: Int
        public var galleryStyles: Int
        /// Styles that no train row holds, and how they score.
        public var heldOutStyleIDs: [Int32]
        public var heldOutStyles: Score?
        public var trainedStyles: Score?
    }

    public let csd: CSDModel

    public init(csd: CSDModel) { self.csd = csd }

    public func run(manifestPath: String, seed: UInt64 = 0) throws -> Result {
        let manifest = try Manifest.read(manifestPath)
        guard manifest.kind == .styles else {
            throw TrainingError("\(manifestPath) holds \(manifest.kind.rawValue); uso eval csd reads a styles set (uso data synth makes data/styles)")
        }
        guard manifest.resolution == csd.config.imageSize else {
            throw TrainingError("\(manifestPath) holds \(manifest.resolution) px images; this CSD model takes \(csd.config.imageSize) px")
        }
        var trainStyles = Set<Int32>()
        var rows: [(shard: Int, row: Int, style: Int32)] = []
        for i in manifest.shards.indices {
            let r = try manifest.openShard(i, manifestPath: manifestPath, verifyData: true)
            for j in 0..<r.count where r.styleIDs[j] >= 0 {
                if r.splits[j] == .train { trainStyles.insert(r.styleIDs[j]) } else { rows.append((i, j, r.styleIDs[j])) }
            }
        }
        guard !rows.isEmpty else {
            throw TrainingError("\(manifestPath) has no eval rows: a CSD model is scored on held-out images only (uso data synth makes them)")
        }
        // (rows, d): every eval image's embedding.
        let d = csd.embedding, s = manifest.resolution
        var z = [Float](repeating: 0, count: rows.count * d)
        let acts = csd.makeActivations()
        let pixels = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: s * s * 3)
        defer { pixels.deallocate() }
        let image = Tensor(zeros: [3, s, s])
        var readers: [Int: ShardReader] = [:]
        for (k, row) in rows.enumerated() {
            if readers[row.shard] == nil { readers[row.shard] = try manifest.openShard(row.shard, manifestPath: manifestPath, verifyData: false) }
            try readers[row.shard]!.readImage("target", index: row.row, into: pixels)
            for i in 0..<(s * s) { for c in 0..<3 { image.data[c * s * s + i] = Float(pixels[3 * i + c]) / 127.5 - 1 } }
            csd.forward(image: UnsafePointer(image.data), acts)
            for j in 0..<d { z[k * d + j] = acts.embedding[j] }
        }
        let heldOut = rows.indices.filter { !trainStyles.contains(rows[$0].style) }
        let trained = rows.indices.filter { trainStyles.contains(rows[$0].style) }
        let labels = rows.map(\.style)
        func score(_ queries: [Int]) -> Score? { Self.score(queries: queries, embeddings: z, dim: d, labels: labels, seed: seed) }
        return Result(galleryImages: rows.count, galleryStyles: Set(rows.map(\.style)).count, heldOutStyleIDs: Set(heldOut.map { rows[$0].style }).sorted(), heldOutStyles: score(heldOut), trainedStyles: score(trained))
    }

    /// Each query (a row of `embeddings`, (n, dim), L2-normalised) against all the other rows:
    /// top-1 and average precision over the rows of its label; nil when no query has another
    /// row of its label.
    public static func score(queries: [Int], embeddings z: [Float], dim d: Int, labels: [Int32], seed: UInt64) -> Score? {
        var top1: [Double] = [], ap: [Double] = [], chance: [Double] = []
        for q in queries {
            let others = labels.indices.filter { $0 != q }
            let positives = others.filter { labels[$0] == labels[q] }.count
            guard positives > 0 else { continue }
            var sims: [(Float, Bool)] = others.map { o in
                var dot: Float = 0
                for j in 0..<d { dot += z[q * d + j] * z[o * d + j] }
                return (dot, labels[o] == labels[q])
            }
            // Ties rank a different-label row first: a constant embedding scores at chance, not 1.
            sims.sort { $0.0 != $1.0 ? $0.0 > $1.0 : !$0.1 && $1.1 }
            top1.append(sims[0].1 ? 1 : 0)
            var hits = 0, precisionSum = 0.0
            for (rank, item) in sims.enumerated() where item.1 {
                hits += 1
                precisionSum += Double(hits) / Double(rank + 1)
            }
            ap.append(precisionSum / Double(positives))
            chance.append(Double(positives) / Double(others.count))
        }
        guard !top1.isEmpty else { return nil }
        return Score(images: queries.count, styles: Set(queries.map { labels[$0] }).count,
                     top1: BootstrapMean(top1, seed: seed), meanAveragePrecision: BootstrapMean(ap, seed: seed &+ 1),
                     chance: chance.reduce(0, +) / Double(chance.count))
    }
}
