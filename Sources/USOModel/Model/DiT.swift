import TensorCore

/// The FLUX-layout diffusion transformer with USO's token streams.
///
/// Text stream [style tokens; txt_in(text states)] (style tokens enter AFTER the text input
/// projection); image stream img_in([noisy tokens; reference tokens]); conditioning
/// vec = time_in(t) + guidance_in(g) + vector_in(pooled); double-stream blocks, then
/// single-stream blocks over [text; image]; only the noisy tokens reach the final layer.
/// One sample per call (sequence lengths differ between samples with dropped conditions).
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

    /// Everything one forward saves for its backward, sized for the largest sample.
    public final class Activations {
        public let imageCapacity: Int, textCapacity: Int
        let imageIn: Tensor                   // (imgCap, inC): copy of the input tokens
        let textIn: Tensor                    // (txtCap, contextDim)
        let img: Tensor, txt: Tensor          // (cap, D): streams through the double blocks
        let joint: Tensor                     // (txtCap + imgCap, D)
        let dImg: Tensor, dTxt: Tensor, dJoint: Tensor
        let vec: Tensor, sv: Tensor, dsv: Tensor, dvec: Tensor, temb: Tensor, gemb: Tensor
        let timeAct: MLPEmbedder.Activations, vectorAct: MLPEmbedder.Activations, guidanceAct: MLPEmbedder.Activations?
        let doubles: [DoubleStreamBlock.Activations]
        let singles: [SingleStreamBlock.Activations]
        let final: FinalLayer.Activations
        public let rope: RotaryTable
        /// The prediction v_hat (noisyCap, inChannels) of the last forward.
        public let output: Tensor
        /// The gradient of the style tokens after backward (txtCap, D): rows 0 ..< styleRows.
        public var styleGradient: Tensor { dTxt }
        var noisyRows = 0, imageRows = 0, styleRows = 0, textRows = 0

        init(_ m: DiT, imageCapacity ic: Int, textCapacity tc: Int) {
            let c = m.config, d = c.hiddenSize
            imageCapacity = ic; textCapacity = tc
            imageIn = Tensor(zeros: [ic, c.inChannels]); textIn = Tensor(zeros: [tc, c.contextDim])
            img = Tensor(zeros: [ic, d]); txt = Tensor(zeros: [tc, d]); joint = Tensor(zeros: [ic + tc, d])
            dImg = Tensor(zeros: [ic, d]); dTxt = Tensor(zeros: [tc, d]); dJoint = Tensor(zeros: [ic + tc, d])
            vec = Tensor(zeros: [d]); sv = Tensor(zeros: [d]); dsv = Tensor(zeros: [d]); dvec = Tensor(zeros: [d])
            temb = Tensor(zeros: [c.timeEmbedDim]); gemb = Tensor(zeros: [c.timeEmbedDim])
            timeAct = m.timeIn.makeActivations(); vectorAct = m.vectorIn.makeActivations()
            guidanceAct = m.guidanceIn?.makeActivations()
            doubles = m.doubleBlocks.map { $0.makeActivations(imageCapacity: ic, textCapacity: tc) }
            singles = m.singleBlocks.map { $0.makeActivations(capacity: ic + tc) }
            final = m.finalLayer.makeActivations(capacity: ic)
            rope = RotaryTable(axesDims: c.axesDims, theta: c.theta, capacity: ic + tc)
            output = Tensor(zeros: [ic, c.inChannels])
        }
    }

    /// Activations for samples of up to `imageTokens` image tokens (noisy + references) and
    /// `textTokens` text-stream tokens (style + text).
    public func makeActivations(imageTokens: Int, textTokens: Int) -> Activations {
        Activations(self, imageCapacity: imageTokens, textCapacity: textTokens)
    }

    /// v_hat (noisyRows, inChannels) into `a.output`.
    public func forward(_ x: Inputs, _ a: Activations) {
        let c = config, d = c.hiddenSize
        let li = x.noisyRows + x.referenceRows, lt = x.styleRows + x.textRows
        precondition(li <= a.imageCapacity && lt <= a.textCapacity,
                     "sample of \(li) image and \(lt) text tokens exceeds activations for \(a.imageCapacity) and \(a.textCapacity)")
        a.noisyRows = x.noisyRows; a.imageRows = li; a.styleRows = x.styleRows; a.textRows = x.textRows
        // Streams.
        a.imageIn.data.update(from: x.imageTokens, count: li * c.inChannels)
        imgIn.forward(x.imageTokens, rows: li, a.img.data, cache: nil)
        if x.styleRows > 0 { a.txt.data.update(from: x.styleTokens!, count: x.styleRows * d) }
        a.textIn.data.update(from: x.text, count: x.textRows * c.contextDim)
        txtIn.forward(x.text, rows: x.textRows, a.txt.data + x.styleRows * d, cache: nil)
        // Conditioning vector.
        a.vec.fill(0)
        TimestepEmbedding.embed(x.t, dim: c.timeEmbedDim, into: a.temb.data)
        timeIn.forwardAccumulate(a.temb.data, into: a.vec.data, a.timeAct)
        if let guidanceIn, let ga = a.guidanceAct {
            TimestepEmbedding.embed(x.guidance, dim: c.timeEmbedDim, into: a.gemb.data)
            guidanceIn.forwardAccumulate(a.gemb.data, into: a.vec.data, ga)
        }
        vectorIn.forwardAccumulate(x.pooled, into: a.vec.data, a.vectorAct)
        ActivationKernels.siluForward(d, a.vec.data, a.sv.data)
        // Positions: [style; text] then [noisy; refs], the order of the joint sequence.
        a.rope.build(ids: x.positionIds, count: lt + li)
        for (block, act) in zip(doubleBlocks, a.doubles) {
            block.forward(img: a.img.data, imageRows: li, txt: a.txt.data, textRows: lt, sv: a.sv.data, rope: a.rope, act)
        }
        a.joint.data.update(from: a.txt.data, count: lt * d)
        (a.joint.data + lt * d).update(from: a.img.data, count: li * d)
        for (block, act) in zip(singleBlocks, a.singles) {
            block.forward(a.joint.data, rows: lt + li, sv: a.sv.data, rope: a.rope, act)
        }
        finalLayer.forward(a.joint.data + lt * d, rows: x.noisyRows, sv: a.sv.data, out: a.output.data, a.final)
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

    /// Backward from dvhat (noisyRows, inChannels): parameter gradients accumulate; the style
    /// tokens' gradient is left in `a.styleGradient` rows 0 ..< styleRows. `milestone` is
    /// called with 0, 1, ... as the gradients of each part become final (see `milestone(of:)`),
    /// and again with the latest milestone between the larger products inside a block: a
    /// repeated milestone is a progress point (gradient sync tests its requests there).
    public func backward(dOutput: UnsafePointer<Float>, _ a: Activations, milestone: ((Int) -> Void)? = nil) {
        let c = config, d = c.hiddenSize
        let li = a.imageRows, lt = a.styleRows + a.textRows
        a.dsv.fill(0)
        ElementwiseKernels.fill(UnsafeMutableBufferPointer(start: a.dJoint.data, count: (lt + li) * d), with: 0)
        finalLayer.backward(dOut: dOutput, sv: a.sv.data, dsv: a.dsv.data, dx: a.dJoint.data + lt * d, a.final)
        var done = 0
        milestone?(done)
        for i in stride(from: singleBlocks.count - 1, through: 0, by: -1) {
            let reached = done
            singleBlocks[i].backward(a.dJoint.data, sv: a.sv.data, dsv: a.dsv.data, rope: a.rope, a.singles[i],
                                     progress: milestone.map { m in { m(reached) } })
            done += 1
            milestone?(done)
        }
        a.dTxt.data.update(from: a.dJoint.data, count: lt * d)
        a.dImg.data.update(from: a.dJoint.data + lt * d, count: li * d)
        for i in stride(from: doubleBlocks.count - 1, through: 0, by: -1) {
            let reached = done
            doubleBlocks[i].backward(dImg: a.dImg.data, dTxt: a.dTxt.data, sv: a.sv.data, dsv: a.dsv.data, rope: a.rope,
                                     a.doubles[i], progress: milestone.map { m in { m(reached) } })
            done += 1
            milestone?(done)
        }
        imgIn.backward(a.imageIn.data, rows: li, dy: a.dImg.data, dx: nil, cache: nil)
        txtIn.backward(a.textIn.data, rows: a.textRows, dy: a.dTxt.data + a.styleRows * d, dx: nil, cache: nil)
        a.dvec.fill(0)
        ActivationKernels.siluBackwardAccumulate(d, a.vec.data, a.dsv.data, a.dvec.data)
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
