import Inference
import Foundation
import Testing

/// The retrieval scores `uso eval csd` prints and the bootstrap interval every evaluation
/// gives: hand-computed cases, so a wrong rank, precision or percentile shows.
struct StyleRetrievalTests {
    /// Four rows on the unit circle, labels A A B B: row 0's neighbours by cosine are row 2
    /// (B, 0.8), row 1 (A, 0.6), row 3 (B, -0.6). Top-1 misses; AP = (1/2) / 1 = 0.5.
    @Test func averagePrecisionAndTopOneByHand() throws {
        let z: [Float] = [1, 0,   0.6, 0.8,   0.8, 0.6,   -0.6, -0.8]
        let labels: [Int32] = [0, 0, 1, 1]
        let s = try #require(StyleRetrieval.score(queries: [0], embeddings: z, dim: 2, labels: labels, seed: 0))
        #expect(s.top1.mean == 0 && s.meanAveragePrecision.mean == 0.5, "top-1 \(s.top1), mAP \(s.meanAveragePrecision)")
        #expect(abs(s.chance - 1.0 / 3) < 1e-12)
        // Row 2 (B): row 1 (A, 0.96), row 0 (A, 0.8), row 3 (B, -0.96): its one positive last, AP = 1/3.
        let r = try #require(StyleRetrieval.score(queries: [2], embeddings: z, dim: 2, labels: labels, seed: 0))
        #expect(r.top1.mean == 0 && abs(r.meanAveragePrecision.mean - 1.0 / 3) < 1e-12, "\(r)")
        // Labels A B A B: row 0's nearest (row 2, 0.8) is its positive: top-1 hits, AP 1.
        let both = try #require(StyleRetrieval.score(queries: [0, 1], embeddings: z, dim: 2, labels: [0, 1, 0, 1], seed: 0))
        // Row 1 (B): row 2 (A, 0.96), row 0 (A, 0.6), row 3 (B, -1): miss, AP 1/3.
        #expect(both.top1.mean == 0.5 && abs(both.meanAveragePrecision.mean - (1 + 1.0 / 3) / 2) < 1e-12, "\(both)")
    }

    @Test func perfectAndConstantEmbeddings() throws {
        // One-hot per label: every query's positives rank first.
        let labels: [Int32] = [0, 0, 0, 1, 1, 2, 2, 2]
        var z = [Float](repeating: 0, count: labels.count * 3)
        for (i, l) in labels.enumerated() { z[i * 3 + Int(l)] = 1 }
        let perfect = try #require(StyleRetrieval.score(queries: Array(labels.indices), embeddings: z, dim: 3, labels: labels, seed: 0))
        #expect(perfect.top1.mean == 1 && perfect.meanAveragePrecision.mean == 1 && perfect.top1.low == 1)
        // The same embedding for all: ties rank other labels first, so top-1 is 0, not a free 1.
        let flat = [Float](repeating: 1, count: labels.count)
        let constant = try #require(StyleRetrieval.score(queries: Array(labels.indices), embeddings: flat, dim: 1, labels: labels, seed: 0))
        #expect(constant.top1.mean == 0, "\(constant)")
        // A query alone with its label is left out; none left gives nil.
        #expect(StyleRetrieval.score(queries: [0], embeddings: [1, 1], dim: 1, labels: [0, 1], seed: 0) == nil)
    }

    @Test func bootstrapIntervalOfABernoulliMean() {
        // 400 draws, 200 ones: the mean 0.5, its standard error 0.025, so the 95% interval is
        // about 0.5 +- 0.049.
        let values = (0..<400).map { Double($0 % 2) }
        let b = BootstrapMean(values, resamples: 4000, seed: 1)
        #expect(b.mean == 0.5 && b.count == 400)
        #expect(abs(b.low - 0.451) < 0.012 && abs(b.high - 0.549) < 0.012, "\(b)")
        #expect(BootstrapMean(values, resamples: 4000, seed: 1) == b, "keyed by the seed")
        let constant = BootstrapMean([0.3, 0.3, 0.3])
        #expect(constant.low == 0.3 && constant.high == 0.3)
        #expect(BootstrapMean([]).mean.isNaN)
    }
}

/// The autoencoder evaluation's two measures on images whose answers are known by hand.
struct AutoencoderMeasureTests {
    /// x(y, x) = a x + b floor(x / 4) on 8 x 8: horizontal steps are a inside a cell and a + b
    /// across a line, vertical ones 0 both ways; the means over all pairs give (a + b) / a.
    @Test func gridStepRatioOfARampWithCellSteps() {
        let s = 8, a: Float = 0.01, b: Float = 0.03
        var image = [Float](repeating: 0, count: 3 * s * s)
        for c in 0..<3 { for y in 0..<s { for x in 0..<s { image[c * s * s + y * s + x] = a * Float(x) + b * Float(x / 4) } } }
        let r = AutoencoderEvaluation.gridStepRatio(image, size: s, grid: 4)
        #expect(abs(r - Double((a + b) / a)) < 1e-4, "ratio \(r)")
        // A plain ramp has no grid: 1.
        var ramp = [Float](repeating: 0, count: 3 * s * s)
        for c in 0..<3 { for y in 0..<s { for x in 0..<s { ramp[c * s * s + y * s + x] = a * Float(x + y) } } }
        #expect(abs(AutoencoderEvaluation.gridStepRatio(ramp, size: s, grid: 4) - 1) < 1e-6)
    }

    @Test func psnrOfOneGreyLevel() {
        // Originals come from 8-bit pixels: grey level 100.
        let a = [Float](repeating: 100 / 127.5 - 1, count: 48)
        #expect(AutoencoderEvaluation.psnr(a, a) == 99, "identical images: the cap")
        // One grey level off everywhere: MSE 1, PSNR 20 log10(255).
        let b = a.map { $0 + 1 / 127.5 }
        #expect(abs(AutoencoderEvaluation.psnr(a, b) - 20 * log10(255.0)) < 1e-9, "\(AutoencoderEvaluation.psnr(a, b))")
    }
}
