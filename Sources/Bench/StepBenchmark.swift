import Config
import Foundation
import TensorCore
import Training
import USOModel

/// `uso bench step`: one sample's forward and backward of the generator at a preset, its
/// achieved GFLOP/s, and the rate of cblas_sgemm on the model's own GEMM shapes measured in
/// the same run (interleaved), so the ratio says how close the step runs to the machine's GEMM.
public struct StepBenchmark {
    public struct Options: Sendable {
        public var preset: ModelPreset
        public var stage: Stage = .uso
        public var iterations = 20
        public var warmup = 3
        /// Multiplies every token count of the sample (noisy, reference, style, text).
        public var lengthScale = 1
        /// Multiplies the DiT's width and head count (the head dim stays).
        public var widthScale = 1
        /// When above 0, the result also holds this many GEMM shapes, longest replay time first.
        public var gemmShapes = 0
        public init(preset: ModelPreset) { self.preset = preset }
    }

    /// The preset with `length` times the tokens and `width` times the DiT width. Image
    /// capacity grows to the next square grid; the sample's grid is (side, side * length)
    /// for length 2 and (2 side, 2 side) for 4, so token counts scale exactly.
    public static func scaledConfig(_ preset: ModelPreset, length: Int, width: Int) -> ModelConfig {
        var c = preset.config
        guard length > 1 || width > 1 else { return c }
        c.name = "\(c.name) (tokens x\(length), width x\(width))"
        var side = 1
        while side * side < length { side *= 2 }
        c.autoencoder.imageSize *= side
        c.projectorTokens *= length
        c.text.maxTokens *= length
        c.dit.hiddenSize *= width
        c.dit.heads *= width
        return c
    }

    /// The noisy-token grid of a sample at `length` times the preset's tokens.
    static func grid(_ preset: ModelPreset, length: Int) -> (rows: Int, cols: Int) {
        let side = preset.config.autoencoder.latentSize / 2
        var rows = side, cols = side, k = length
        while k > 1 {
            if cols <= rows { cols *= 2 } else { rows *= 2 }
            k /= 2
        }
        return (rows, cols)
    }

    public struct Result: Sendable, Codable {
        public var preset: String
        public var stage: String
        public var tokens: Int
        public var forwardSeconds: Double
        public var backwardSeconds: Double
        public var forwardFLOPs: Double
        public var backwardFLOPs: Double
        public var stepGFLOPs: Double
        /// cblas_sgemm replaying every GEMM call of one step (`gemmCalls` of them), alone.
        public var sgemmGFLOPs: Double
        public var ratio: Double
        /// cblas_sgemm on the six largest shapes only (y = x W^T), for comparison.
        public var mainShapesGFLOPs: Double
        public var gemmCalls: Int
        /// FLOPs of the recorded GEMM calls (2mnk each): what the step's products compute.
        public var gemmCallFLOPs: Double
        /// Share of one forward + backward per kernel kind, largest first (from a profiled pass).
        public var sinks: [Sink]
        public var blasThreads: Int
        public var lengthScale: Int
        public var widthScale: Int
        public var hiddenSize: Int
        /// Attention's share of the step's FLOPs (its quadratic part).
        public var attentionShare: Double
        /// This process's peak resident memory after the run, in bytes.
        public var peakResidentBytes: Int
        public var blasCore: String
        public var kernelTier: String
        /// The `Options.gemmShapes` longest shapes (nil when not asked for).
        public var gemmShapes: [GemmShape]?
        /// How many distinct shapes the step's calls have.
        public var gemmShapeCount: Int?
    }

    public struct Sink: Sendable, Codable {
        public var name: String
        public var seconds: Double
        public var share: Double
    }

    public let options: Options
    public init(options: Options) { self.options = options }

    public func run() throws -> Result {
        precondition([1, 2, 4, 8].contains(options.lengthScale) && options.widthScale >= 1, "length scale 1, 2, 4 or 8; width scale >= 1")
        let c = Self.scaledConfig(options.preset, length: options.lengthScale, width: options.widthScale)
        let model = try USOModel(config: c)
        let store = model.allocate(seed: 1)
        // Non-zero adapters, as after some training (the cost does not depend on it).
        for p in model.registry.parameters(in: .lora) where p.name.hasSuffix("up.weight") {
            var s = RandomStream(seed: 2, purpose: .parameterInit, id: 9_000)
            s.fillNormal(p.value.buffer, std: 0.01)
        }
        precondition(options.stage.isDiffusion, "uso bench step times stage base or uso")
        store.allocateGradients(where: DiffusionProgram.trainable(options.stage))
        let acts = model.makeActivations()
        let grid = Self.grid(options.preset, length: options.lengthScale)
        let tokens = grid.rows * grid.cols, inC = c.dit.inChannels
        var rng = RandomStream(seed: 3, purpose: .evaluation, id: 0)
        func random(_ n: Int) -> Tensor { let t = Tensor(zeros: [n]); rng.fillNormal(t.buffer); return t }
        let noisy = random(tokens * inC), reference = random(tokens * inC)
        let styles = 1
        let features = random(styles * 3 * c.styleEncoder.tokens * c.styleEncoder.width)
        let text = random(c.text.maxTokens * c.text.width), pooled = random(c.text.pooledWidth)
        let dv = random(tokens * inC)
        let sample = USOModel.Sample(noisy: noisy, grid: grid, references: reference,
                                     referenceCount: 1, referenceGrid: grid, styleFeatures: features,
                                     styleCount: styles, text: text, textRows: c.text.maxTokens, pooled: pooled, t: 0.5)
        let styleRows = styles * c.styleTokensPerImage
        let flops = model.dit.forwardFLOPs(noisyRows: tokens, referenceRows: tokens, styleRows: styleRows, textRows: c.text.maxTokens)
        let projector = model.projector.forwardFLOPs(images: styles)
        let forwardFLOPs = flops.total + projector
        let backwardFLOPs = (options.stage == .uso ? flops.backwardAdaptersOnly + projector : flops.backwardAllTrainable)

        // The model's GEMM shapes at this sample: (M rows, N out, K in).
        let joint = 2 * tokens + styleRows + c.text.maxTokens, d = c.dit.hiddenSize, h = c.dit.mlpHidden
        let shapes = [(joint, 3 * d + h, d), (joint, d, d + h), (tokens * 2, 3 * d, d), (tokens * 2, h, d),
                      (tokens * 2, d, h), (joint, c.dit.headDim, joint)]
        let sgemm = SgemmProbe(shapes: shapes)

        func step() -> (Double, Double) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            model.forward(sample, acts)
            let t1 = DispatchTime.now().uptimeNanoseconds
            store.zeroGradients()
            model.backward(dOutput: dv.data, acts)
            let t2 = DispatchTime.now().uptimeNanoseconds
            return (Double(t1 - t0) * 1e-9, Double(t2 - t1) * 1e-9)
        }
        // Every GEMM call of one step (shapes, transposes, strides), replayed on their own.
        var calls: [Gemm.Call] = []
        Gemm.recorder = { calls.append($0) }
        _ = step()
        Gemm.recorder = nil
        let replay = SgemmReplay(calls: calls)
        let shapeTable = options.gemmShapes > 0 ? replay.shapeProfile() : nil
        for _ in 0..<options.warmup { _ = step(); _ = sgemm.measure(); _ = replay.measure() }
        var fw: [Double] = [], bw: [Double] = [], gemmRates: [Double] = [], replayRates: [Double] = []
        for _ in 0..<options.iterations {
            let (f, b) = step()
            fw.append(f); bw.append(b)
            gemmRates.append(sgemm.measure())
            replayRates.append(replay.measure())
        }
        // A separate profiled pass for the time sinks.
        KernelTimer.reset()
        KernelTimer.isEnabled = true
        let profiled = 3
        var profiledTotal = 0.0
        for _ in 0..<profiled { let (f, b) = step(); profiledTotal += f + b }
        KernelTimer.isEnabled = false
        var sinks = KernelTimer.totals().map { Sink(name: $0.kind.rawValue, seconds: $0.seconds / Double(profiled), share: $0.seconds / profiledTotal) }
        let accounted = sinks.reduce(0) { $0 + $1.seconds }
        sinks.append(Sink(name: "other (copies, modulation, residuals, bookkeeping)",
                          seconds: profiledTotal / Double(profiled) - accounted,
                          share: 1 - accounted / (profiledTotal / Double(profiled)) ))
        sinks.sort { $0.seconds > $1.seconds }

        let f = median(fw), b = median(bw)
        let rate = (forwardFLOPs + backwardFLOPs) / (f + b) / 1e9
        let gemm = median(replayRates), mainShapes = median(gemmRates)
        let attention = flops.attention * 3   // forward once, backward twice
        return Result(preset: c.name, stage: options.stage.rawValue, tokens: joint, forwardSeconds: f, backwardSeconds: b,
                      forwardFLOPs: forwardFLOPs, backwardFLOPs: backwardFLOPs, stepGFLOPs: rate, sgemmGFLOPs: gemm,
                      ratio: rate / gemm, mainShapesGFLOPs: mainShapes, gemmCalls: calls.count,
                      gemmCallFLOPs: calls.reduce(0) { $0 + Gemm.flops(m: $1.m, n: $1.n, k: $1.k) }, sinks: sinks,
                      blasThreads: BLASRuntime.threadCount,
                      lengthScale: options.lengthScale, widthScale: options.widthScale, hiddenSize: c.dit.hiddenSize,
                      attentionShare: attention / (forwardFLOPs + backwardFLOPs), peakResidentBytes: ProcessMemory.peakResidentBytes(),
                      blasCore: BLASRuntime.coreName, kernelTier: KernelTier.active.rawValue,
                      gemmShapes: shapeTable.map { Array($0.prefix(options.gemmShapes)) }, gemmShapeCount: shapeTable?.count)
    }

    public static func render(_ r: Result) -> String {
        var lines = [
            "uso bench step: preset \(r.preset), stage \(r.stage), one sample of \(r.tokens) joint tokens, \(r.blasThreads) BLAS thread(s), "
                + "BLAS core \(r.blasCore), kernels \(r.kernelTier)",
            String(format: "forward   %8.2f ms  %7.3f GFLOP", r.forwardSeconds * 1e3, r.forwardFLOPs / 1e9),
            String(format: "backward  %8.2f ms  %7.3f GFLOP", r.backwardSeconds * 1e3, r.backwardFLOPs / 1e9),
            String(format: "step      %8.2f ms  %7.2f GFLOP/s achieved", (r.forwardSeconds + r.backwardSeconds) * 1e3, r.stepGFLOPs),
            String(format: "cblas_sgemm replaying the step's %d GEMM calls, same run: %.2f GFLOP/s (six largest shapes alone: %.2f)",
                   r.gemmCalls, r.sgemmGFLOPs, r.mainShapesGFLOPs),
            String(format: "ratio step / sgemm: %.2f (the step's GEMM calls compute %.3f GFLOP; the FLOPs above count the model's products)",
                   r.ratio, r.gemmCallFLOPs / 1e9),
            String(format: "peak resident memory: %.1f MiB", Double(r.peakResidentBytes) / 1_048_576),
            "time sinks (profiled pass):",
        ]
        for s in r.sinks {
            lines.append("  " + s.name.padding(toLength: 52, withPad: " ", startingAt: 0)
                         + String(format: " %7.2f ms  %5.1f%%", s.seconds * 1e3, s.share * 100))
        }
        if let shapes = r.gemmShapes, let all = r.gemmShapeCount { lines.append(renderShapes(shapes, of: all)) }
        return lines.joined(separator: "\n")
    }
}

/// Times cblas_sgemm replaying a recorded list of calls (each with its own transposes,
/// strides and beta) on operands of their sizes, allocated once: the rate the step's own
/// GEMMs reach when nothing else runs between them.
final class SgemmReplay {
    let calls: [Gemm.Call]
    let a: Tensor, b: Tensor, c: Tensor

    init(calls: [Gemm.Call]) {
        self.calls = calls
        func extent(rows: Int, ld: Int) -> Int { rows * ld }
        var na = 1, nb = 1, nc = 1
        for x in calls {
            na = max(na, extent(rows: x.transA ? x.k : x.m, ld: x.lda))
            nb = max(nb, extent(rows: x.transB ? x.n : x.k, ld: x.ldb))
            nc = max(nc, extent(rows: x.m, ld: x.ldc))
        }
        var rng = RandomStream(seed: 5, purpose: .evaluation, id: 2)
        func random(_ n: Int) -> Tensor { let t = Tensor(zeros: [n]); rng.fillUniform(t.buffer, low: -1, high: 1); return t }
        a = random(na); b = random(nb); c = Tensor(zeros: [nc])
    }

    /// GFLOP/s over one pass of every call.
    func measure() -> Double {
        var flops = 0.0
        let t0 = DispatchTime.now().uptimeNanoseconds
        for x in calls {
            Gemm.multiply(transA: x.transA, transB: x.transB, m: x.m, n: x.n, k: x.k, a: a.data, lda: x.lda, b: b.data, ldb: x.ldb,
                          beta: x.beta == 0 ? 0 : 0.5, c: c.data, ldc: x.ldc)
            flops += Gemm.flops(m: x.m, n: x.n, k: x.k)
        }
        return flops / (Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9) / 1e9
    }
}

/// Times cblas_sgemm over a list of (M, N, K) shapes with fresh-but-reused operands.
final class SgemmProbe {
    let shapes: [(Int, Int, Int)]
    let a: [Tensor], b: [Tensor], c: [Tensor]

    init(shapes: [(Int, Int, Int)]) {
        self.shapes = shapes
        var rng = RandomStream(seed: 4, purpose: .evaluation, id: 1)
        func random(_ n: Int) -> Tensor { let t = Tensor(zeros: [n]); rng.fillNormal(t.buffer); return t }
        a = shapes.map { random($0.0 * $0.2) }
        b = shapes.map { random($0.1 * $0.2) }
        c = shapes.map { Tensor(zeros: [$0.0 * $0.1]) }
    }

    /// GFLOP/s over one pass of every shape (y = x W^T, as the model's Linear layers run).
    func measure() -> Double {
        var flops = 0.0
        let t0 = DispatchTime.now().uptimeNanoseconds
        for (i, (m, n, k)) in shapes.enumerated() {
            for _ in 0..<3 {
                Gemm.multiply(transA: false, transB: true, m: m, n: n, k: k, a: a[i].data, lda: k, b: b[i].data, ldb: k,
                              beta: 0, c: c[i].data, ldc: n)
                flops += Gemm.flops(m: m, n: n, k: k)
            }
        }
        return flops / (Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9) / 1e9
    }
}

extension StepBenchmark {
    /// How the step's cost grows with sequence length and width: one line per (length, width)
    /// scale, with time and FLOPs relative to the first.
    public static func renderScaling(_ results: [Result]) -> String {
        guard let first = results.first else { return "" }
        var lines = ["uso bench step --scaling: preset \(first.preset.components(separatedBy: " ").first ?? ""), stage \(first.stage), "
                     + "\(first.blasThreads) BLAS thread(s), BLAS core \(first.blasCore), kernels \(first.kernelTier)",
                     "tokens x  width x  joint tokens  width   step ms  GFLOP   time / 1x  FLOP / 1x  attention FLOPs  step/sgemm"]
        for r in results {
            let step = r.forwardSeconds + r.backwardSeconds, base = first.forwardSeconds + first.backwardSeconds
            let flop = r.forwardFLOPs + r.backwardFLOPs, baseFlop = first.forwardFLOPs + first.backwardFLOPs
            lines.append(String(format: "%8d  %7d  %12d  %5d  %8.2f  %5.2f  %9.2f  %9.2f  %14.1f%%  %10.2f", r.lengthScale, r.widthScale,
                                r.tokens, r.hiddenSize, step * 1e3, flop / 1e9, step / base, flop / baseFlop, r.attentionShare * 100,
                                r.ratio))
        }
        return lines.joined(separator: "\n")
    }
}

extension StepBenchmark {
    /// A whole stage-uso training step of `batch` samples: zero the gradients, forward and
    /// backward of every sample (all with the bench's token layout), AdamW on the LoRA and
    /// projector weights. What Scripts/bench/vs-torch.sh compares with PyTorch.
    public struct TrainingResult: Sendable, Codable {
        public var implementation: String
        public var batch: Int
        /// Samples per forward (packed).
        public var pack: Int
        public var stepSeconds: Double
        public var samplesPerSecond: Double
        public var jointTokens: Int
        public var trainableParameters: Int
        public var blasCore: String
        public var kernelTier: String
        public var peakResidentBytes: Int
    }

    /// `pack`: samples that go through the model together (packed rows, one GEMM per layer).
    public func runTraining(batch: Int, pack: Int = 1) throws -> TrainingResult {
        precondition(batch >= 1 && pack >= 1, "batch and pack must be at least 1")
        let c = options.preset.config
        let model = try USOModel(config: c)
        let store = model.allocate(seed: 1)
        for p in model.registry.parameters(in: .lora) where p.name.hasSuffix("up.weight") {
            var s = RandomStream(seed: 2, purpose: .parameterInit, id: 9_000)
            s.fillNormal(p.value.buffer, std: 0.01)
        }
        store.allocateGradients { $0.group == .lora || $0.group == .projector }
        let optimizer = AdamW(store: store, hyper: .init())
        let group = min(pack, batch)
        let acts = model.makeActivations(samples: group)
        let side = c.autoencoder.latentSize / 2, tokens = c.noisyTokens, inC = c.dit.inChannels
        var rng = RandomStream(seed: 3, purpose: .evaluation, id: 0)
        func random(_ n: Int) -> Tensor { let t = Tensor(zeros: [n]); rng.fillNormal(t.buffer); return t }
        let dv = random(group * tokens * inC)
        struct Inputs { let noisy, reference, features, text, pooled, dv: Tensor }
        let inputs = (0..<batch).map { _ in
            Inputs(noisy: random(tokens * inC), reference: random(tokens * inC), features: random(3 * c.styleEncoder.tokens * c.styleEncoder.width),
                   text: random(c.text.maxTokens * c.text.width), pooled: random(c.text.pooledWidth), dv: random(tokens * inC))
        }
        func step() -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            store.zeroGradients()
            var start = 0
            while start < inputs.count {
                let samples = inputs[start..<min(inputs.count, start + group)].map { x in
                    USOModel.Sample(noisy: x.noisy, grid: (side, side), references: x.reference,
                                    referenceCount: 1, referenceGrid: (side, side), styleFeatures: x.features,
                                    styleCount: 1, text: x.text, textRows: c.text.maxTokens, pooled: x.pooled, t: 0.5)
                }
                model.forward(batch: samples, acts)
                model.backward(dOutput: dv.data, acts)
                start += group
            }
            optimizer.update(lr: 1e-4)
            return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        }
        for _ in 0..<options.warmup { _ = step() }
        let t = median((0..<options.iterations).map { _ in step() })
        return TrainingResult(implementation: "uso (Swift, OpenBLAS)", batch: batch, pack: group, stepSeconds: t, samplesPerSecond: Double(batch) / t,
                              jointTokens: 2 * tokens + c.styleTokensPerImage + c.text.maxTokens, trainableParameters: store.trainableCount,
                              blasCore: BLASRuntime.coreName, kernelTier: KernelTier.active.rawValue,
                              peakResidentBytes: ProcessMemory.peakResidentBytes())
    }
}
