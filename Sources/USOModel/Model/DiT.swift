import TensorCore

/// The FLUX-layout diffusion transformer with USO's token streams.
///
/// Text stream [style tokens; txt_in(text states)] (style tokens enter AFTER the text input
/// projection); image stream img_in([noisy tokens; reference tokens]); conditioning
/// vec = time_in(t) + guidance_in(g) + vector_in(pooled); double-stream blocks, then
/// single-stream blocks over [text; image]; only the noisy tokens reach the final layer.
/// A forward takes a batch of samples packed along the rows (their sequence lengths may
/// differ: dropped conditions, prompt lengths): one GEMM per layer for all of them.
public final class DiT {
    public let config: DiTConfig
    let imgIn: Linear, txtIn: Linear
    let timeIn: MLPEmbedder, vectorIn: MLPEmbedder, guidanceIn: MLPEmbedder?
    public let doubleBlocks: [DoubleStreamBlock]
    public let singleBlocks: [SingleStreamBlock]
    let finalLayer: FinalLayer

    /// Registers the model's parameters. `zeroInitOutput` zeroes the final linear layer (so a
    /// freshly initialised base predicts v = 0, the usual start for training from scratch).
    public init(_ r: ParameterRegistry, config c: DiTConfig, zeroInitOutput: Bool = false) {
        config = c
        let d = c.hiddenSize
        imgIn = Linear(r, "img_in", in: c.inChannels, out: d, group: .base)
        timeIn = MLPEmbedder(r, "time_in", in: c.timeEmbedDim, hidden: d, group: .base)
        vectorIn = MLPEmbedder(r, "vector_in", in: c.vecDim, hidden: d, group: .base)
        guidanceIn = c.guidanceEmbed ? MLPEmbedder(r, "guidance_in", in: c.timeEmbedDim, hidden: d, group: .base) : nil
        txtIn = Linear(r, "txt_in", in: c.contextDim, out: d, group: .base)
        doubleBlocks = (0..<c.doubleBlocks).map { DoubleStreamBlock(r, index: $0, config: c) }
        singleBlocks = (0..<c.singleBlocks).map { SingleStreamBlock(r, index: $0, config: c) }
        finalLayer = FinalLayer(r, config: c, zeroInit: zeroInitOutput)
    }

    /// One sample's inputs, as (rows, cols) row-major arrays in caller memory.
    public struct Inputs {
        /// Noisy latent tokens (noisyRows, inChannels) followed by reference tokens (referenceRows, inChannels).
        public var imageTokens: UnsafePointer<Float>
        public var noisyRows: Int
        public var referenceRows: Int
        /// Style tokens (styleRows, hidden): the projector's output.
        public var styleTokens: UnsafePointer<Float>?
        public var styleRows: Int
        /// Text encoder states (textRows, contextDim) and pooled vector (vecDim).
        public var text: UnsafePointer<Float>
        public var textRows: Int
        public var pooled: UnsafePointer<Float>
        /// Position ids (styleRows + textRows + noisyRows + referenceRows, 3), in stream order [style; text; noisy; refs].
        public var positionIds: UnsafePointer<Float>
        public var t: Float
        public var guidance: Float

        public init(imageTokens: UnsafePointer<Float>, noisyRows: Int, referenceRows: Int, styleTokens: UnsafePointer<Float>?,
                    styleRows: Int, text: UnsafePointer<Float>, textRows: Int, pooled: UnsafePointer<Float>,
                    positionIds: UnsafePointer<Float>, t: Float, guidance: Float) {
            self.imageTokens = imageTokens; self.noisyRows = noisyRows; self.referenceRows = referenceRows
            self.styleTokens = styleTokens; self.styleRows = styleRows; self.text = text; self.textRows = textRows
            self.pooled = pooled; self.positionIds = positionIds; self.t = t; self.guidance = guidance
        }
    }

    /// Everything one forward saves for its backward, sized for `samples` of the largest sample.
    public final class Activations {
        public let imageCapacity: Int, textCapacity: Int, samples: Int
        let imageIn: Tensor                   // (samples * imgCap, inC): copies of the input tokens, packed
        let textIn: Tensor                    // (samples * txtCap, contextDim)
        let img: Tensor, txt: Tensor          // packed streams through the double blocks
        let joint: Tensor                     // packed [text_b; image_b]
        let dImg: Tensor, dTxt: Tensor, dJoint: Tensor
        let vec: Tensor, sv: Tensor, dsv: Tensor, dvec: Tensor, temb: Tensor, gemb: Tensor, pooled: Tensor   // (samples, ...)
        let timeAct: MLPEmbedder.Activations, vectorAct: MLPEmbedder.Activations, guidanceAct: MLPEmbedder.Activations?
        let doubles: [DoubleStreamBlock.Activations]
        let singles: [SingleStreamBlock.Activations]
        let final: FinalLayer.Activations
        public let rope: RotaryTable
        /// The predictions v_hat of the last forward, packed: sample b's (noisyRows_b, inChannels) at `outputOffset(b)`.
        public let output: Tensor
        /// The gradient of the text stream after backward, packed as `textSegments`: each
        /// sample's style tokens are its first `styleRows` rows.
        public var styleGradient: Tensor { dTxt }
        public internal(set) var imageSegments: Segments, textSegments: Segments, jointSegments: Segments, noisySegments: Segments
        var styleRows: [Int], textRows: [Int], noisyRowOffsets: [Int]

        init(_ m: DiT, imageCapacity ic: Int, textCapacity tc: Int, samples n: Int, sharedScratch: Bool) {
            let c = m.config, d = c.hiddenSize
            imageCapacity = ic; textCapacity = tc; samples = n
            imageIn = Tensor(zeros: [n * ic, c.inChannels]); textIn = Tensor(zeros: [n * tc, c.contextDim])
            img = Tensor(zeros: [n * ic, d]); txt = Tensor(zeros: [n * tc, d]); joint = Tensor(zeros: [n * (ic + tc), d])
            dImg = Tensor(zeros: [n * ic, d]); dTxt = Tensor(zeros: [n * tc, d]); dJoint = Tensor(zeros: [n * (ic + tc), d])
            vec = Tensor(zeros: [n, d]); sv = Tensor(zeros: [n, d]); dsv = Tensor(zeros: [n, d]); dvec = Tensor(zeros: [n, d])
            temb = Tensor(zeros: [n, c.timeEmbedDim]); gemb = Tensor(zeros: [n, c.timeEmbedDim]); pooled = Tensor(zeros: [n, c.vecDim])
            timeAct = m.timeIn.makeActivations(rows: n); vectorAct = m.vectorIn.makeActivations(rows: n)
            guidanceAct = m.guidanceIn?.makeActivations(rows: n)
            // One set of backward buffers for all double blocks, one for all single blocks, one
            // dP for every attention: backward runs a block at a time, and shared buffers stay
            // in cache between blocks.
            let doubleScratch = DoubleStreamBlock.BackwardScratch(config: c, imageCapacity: ic, textCapacity: tc, samples: n)
            let singleScratch = SingleStreamBlock.BackwardScratch(config: c, sampleCapacity: ic + tc, samples: n,
                                                                  attention: doubleScratch.attention)
            doubles = m.doubleBlocks.map {
                $0.makeActivations(imageCapacity: ic, textCapacity: tc, samples: n, scratch: sharedScratch ? doubleScratch : nil)
            }
            singles = m.singleBlocks.map { $0.makeActivations(capacity: ic + tc, samples: n, scratch: sharedScratch ? singleScratch : nil) }
            final = m.finalLayer.makeActivations(capacity: ic, samples: n)
            rope = RotaryTable(axesDims: c.axesDims, theta: c.theta, capacity: n * (ic + tc))
            output = Tensor(zeros: [n * ic, c.inChannels])
            imageSegments = Segments(capacity: n); textSegments = Segments(capacity: n)
            jointSegments = Segments(capacity: n); noisySegments = Segments(capacity: n)
            styleRows = [Int](repeating: 0, count: n); textRows = styleRows; noisyRowOffsets = styleRows
        }

        /// The first row of sample b's v_hat in `output` (and of its gradient in backward's dOutput).
        public func outputOffset(_ b: Int) -> Int { noisySegments.offsets[b] }
    }

    /// Activations for up to `samples` samples per forward, each of up to `imageTokens` image
    /// tokens (noisy + references) and `textTokens` text-stream tokens (style + text).
    /// `sharedScratch` (default): one set of backward buffers for all blocks of a kind;
    /// false gives every block its own (what the tests compare against).
    public func makeActivations(imageTokens: Int, textTokens: Int, samples: Int = 1, sharedScratch: Bool = true) -> Activations {
        Activations(self, imageCapacity: imageTokens, textCapacity: textTokens, samples: samples, sharedScratch: sharedScratch)
    }

    /// v_hat of one sample into `a.output`.
    public func forward(_ x: Inputs, _ a: Activations) { forward(batch: [x], a) }

    /// v_hat of every sample of `batch` into `a.output`, packed (see `Activations.outputOffset`).
    /// The samples may differ in their token counts: row-wise layers run over all of them at
    /// once (one GEMM per layer), attention and modulation per sample.
    public func forward(batch: [Inputs], _ a: Activations) {
        let c = config, d = c.hiddenSize, n = batch.count
        precondition(n >= 1 && n <= a.samples, "a batch of \(n) samples, activations for \(a.samples)")
        for x in batch {
            precondition(x.noisyRows + x.referenceRows <= a.imageCapacity && x.styleRows + x.textRows <= a.textCapacity,
                         "sample of \(x.noisyRows + x.referenceRows) image and \(x.styleRows + x.textRows) text tokens exceeds activations for \(a.imageCapacity) and \(a.textCapacity)")
        }
        a.imageSegments.set(batch.lazy.map { $0.noisyRows + $0.referenceRows })
        a.textSegments.set(batch.lazy.map { $0.styleRows + $0.textRows })
        a.jointSegments.set(batch.lazy.map { $0.noisyRows + $0.referenceRows + $0.styleRows + $0.textRows })
        a.noisySegments.set(batch.lazy.map(\.noisyRows))
        for (b, x) in batch.enumerated() {
            a.styleRows[b] = x.styleRows
            a.textRows[b] = x.textRows
            a.noisyRowOffsets[b] = a.jointSegments.offsets[b] + x.styleRows + x.textRows
            // Streams: the image tokens packed, then img_in over all; text per sample after its style tokens.
            (a.imageIn.data + a.imageSegments.offsets[b] * c.inChannels).update(from: x.imageTokens, count: a.imageSegments.counts[b] * c.inChannels)
            let t0 = a.textSegments.offsets[b]
            if x.styleRows > 0 { (a.txt.data + t0 * d).update(from: x.styleTokens!, count: x.styleRows * d) }
            (a.textIn.data + (t0 + x.styleRows) * c.contextDim).update(from: x.text, count: x.textRows * c.contextDim)
            txtIn.forward(x.text, rows: x.textRows, a.txt.data + (t0 + x.styleRows) * d, cache: nil)
            // Positions: [style; text] then [noisy; refs], the order of the joint sequence.
            a.rope.setRows(ids: x.positionIds, count: a.jointSegments.counts[b], at: a.jointSegments.offsets[b])
            TimestepEmbedding.embed(x.t, dim: c.timeEmbedDim, into: a.temb.data + b * c.timeEmbedDim)
            TimestepEmbedding.embed(x.guidance, dim: c.timeEmbedDim, into: a.gemb.data + b * c.timeEmbedDim)
            (a.pooled.data + b * c.vecDim).update(from: x.pooled, count: c.vecDim)
        }
        a.rope.setCount(a.jointSegments.total)
        imgIn.forward(a.imageIn.data, rows: a.imageSegments.total, a.img.data, cache: nil)
        // Conditioning vectors, one per sample.
        ElementwiseKernels.fill(UnsafeMutableBufferPointer(start: a.vec.data, count: n * d), with: 0)
        timeIn.forwardAccumulate(a.temb.data, rows: n, into: a.vec.data, a.timeAct)
        if let guidanceIn, let ga = a.guidanceAct { guidanceIn.forwardAccumulate(a.gemb.data, rows: n, into: a.vec.data, ga) }
        vectorIn.forwardAccumulate(a.pooled.data, rows: n, into: a.vec.data, a.vectorAct)
        ActivationKernels.siluForward(n * d, a.vec.data, a.sv.data)
        for (block, act) in zip(doubleBlocks, a.doubles) {
            block.forward(img: a.img.data, imageSegments: a.imageSegments, txt: a.txt.data, textSegments: a.textSegments,
                          sv: a.sv.data, rope: a.rope, act)
        }
        for b in 0..<n {
            let j = a.joint.data + a.jointSegments.offsets[b] * d
            j.update(from: a.txt.data + a.textSegments.offsets[b] * d, count: a.textSegments.counts[b] * d)
            (j + a.textSegments.counts[b] * d).update(from: a.img.data + a.imageSegments.offsets[b] * d, count: a.imageSegments.counts[b] * d)
        }
        for (block, act) in zip(singleBlocks, a.singles) {
            block.forward(a.joint.data, segments: a.jointSegments, sv: a.sv.data, rope: a.rope, act)
        }
        finalLayer.forward(a.joint.data, rowOffsets: a.noisyRowOffsets, segments: a.noisySegments, sv: a.sv.data,
                           out: a.output.data, a.final)
    }

    /// The backward milestone at which parameter `name`'s gradient is final: 0 after the final
    /// layer, then one per single block and per double block in backward order, then the
    /// input layers and embedders. (Gradient sync starts a bucket once all its parameters' milestones have passed.)
    public func milestone(of name: String) -> Int {
        let s = singleBlocks.count, d = doubleBlocks.count
        if name.hasPrefix("final_layer.") { return 0 }
        if name.hasPrefix("single_blocks."), let i = Self.blockIndex(name) { return 1 + (s - 1 - i) }
        if name.hasPrefix("double_blocks."), let i = Self.blockIndex(name) { return 1 + s + (d - 1 - i) }
        return 1 + s + d
    }

    /// Milestones of one backward: final layer, single blocks, double blocks, the rest.
    public var milestoneCount: Int { 2 + singleBlocks.count + doubleBlocks.count }

    static func blockIndex(_ name: String) -> Int? {
        let parts = name.split(separator: ".")
        return parts.count > 1 ? Int(parts[1]) : nil
    }

    /// Backward from dvhat (packed as `output`): parameter gradients accumulate; the style
    /// tokens' gradient is left in `a.styleGradient`. `milestone` is called with 0, 1, ... as
    /// the gradients of each part become final (see `milestone(of:)`), and again with the
    /// latest milestone between the larger products inside a block: a repeated milestone is
    /// a progress point (gradient sync tests its requests there).
    public func backward(dOutput: UnsafePointer<Float>, _ a: Activations, milestone: ((Int) -> Void)? = nil) {
        let c = config, d = c.hiddenSize, n = a.imageSegments.count
        ElementwiseKernels.fill(UnsafeMutableBufferPointer(start: a.dsv.data, count: n * d), with: 0)
        ElementwiseKernels.fill(UnsafeMutableBufferPointer(start: a.dJoint.data, count: a.jointSegments.total * d), with: 0)
        finalLayer.backward(dOut: dOutput, sv: a.sv.data, dsv: a.dsv.data, dx: a.dJoint.data, rowOffsets: a.noisyRowOffsets, a.final)
        var done = 0
        milestone?(done)
        for i in stride(from: singleBlocks.count - 1, through: 0, by: -1) {
            let reached = done
            singleBlocks[i].backward(a.dJoint.data, sv: a.sv.data, dsv: a.dsv.data, rope: a.rope, a.singles[i],
                                     progress: milestone.map { m in { m(reached) } })
            done += 1
            milestone?(done)
        }
        for b in 0..<n {
            let j = a.dJoint.data + a.jointSegments.offsets[b] * d
            (a.dTxt.data + a.textSegments.offsets[b] * d).update(from: j, count: a.textSegments.counts[b] * d)
            (a.dImg.data + a.imageSegments.offsets[b] * d).update(from: j + a.textSegments.counts[b] * d, count: a.imageSegments.counts[b] * d)
        }
        for i in stride(from: doubleBlocks.count - 1, through: 0, by: -1) {
            let reached = done
            doubleBlocks[i].backward(dImg: a.dImg.data, dTxt: a.dTxt.data, sv: a.sv.data, dsv: a.dsv.data, rope: a.rope,
                                     a.doubles[i], progress: milestone.map { m in { m(reached) } })
            done += 1
            milestone?(done)
        }
        imgIn.backward(a.imageIn.data, rows: a.imageSegments.total, dy: a.dImg.data, dx: nil, cache: nil)
        for b in 0..<n {
            let t0 = a.textSegments.offsets[b] + a.styleRows[b]
            txtIn.backward(a.textIn.data + t0 * c.contextDim, rows: a.textRows[b], dy: a.dTxt.data + t0 * d, dx: nil, cache: nil)
        }
        ElementwiseKernels.fill(UnsafeMutableBufferPointer(start: a.dvec.data, count: n * d), with: 0)
        ActivationKernels.siluBackwardAccumulate(n * d, a.vec.data, a.dsv.data, a.dvec.data)
        timeIn.backward(dy: a.dvec.data, a.timeAct)
        if let guidanceIn, let ga = a.guidanceAct { guidanceIn.backward(dy: a.dvec.data, ga) }
        vectorIn.backward(dy: a.dvec.data, a.vectorAct)
        milestone?(done + 1)
    }

    /// Forward FLOPs of one sample.
    public func forwardFLOPs(noisyRows: Int, referenceRows: Int, styleRows: Int, textRows: Int) -> FLOPCount {
        let li = noisyRows + referenceRows, lt = styleRows + textRows, d = config.hiddenSize
        var f = imgIn.forwardFLOPs(rows: li) + txtIn.forwardFLOPs(rows: textRows)
        f.dense += 3 * Gemm.flops(m: 1, n: d, k: d) + Gemm.flops(m: 1, n: d, k: config.timeEmbedDim) * 2
            + Gemm.flops(m: 1, n: d, k: config.vecDim)
        for b in doubleBlocks { f = f + b.forwardFLOPs(imageRows: li, textRows: lt) }
        for b in singleBlocks { f = f + b.forwardFLOPs(rows: li + lt) }
        return f + finalLayer.forwardFLOPs(rows: noisyRows)
    }
}
