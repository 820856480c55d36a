import TripletData
import TensorCore

/// The built-in world: its subjects and styles, and the records of every set, each a pure
/// function of (seed, set, sample id), so any rank can make any sample and a set made by
/// one rank is identical to one made by many.
public struct World: Sendable {
    public let config: WorldConfig
    public let subjects: [Subject]
    public let styles: [Style]

    public init(_ config: WorldConfig) throws(TripletDataError) {
        try config.validate()
        self.config = config
        subjects = Subject.generate(count: config.subjects, seed: config.seed)
        styles = Style.generate(count: config.styles, seed: config.seed)
    }

    /// Samples in set `kind`.
    public func count(_ kind: ShardKind) -> Int {
        switch kind {
        case .triplets: return config.triplets
        case .pairs: return config.pairs
        case .styles: return config.styleImages
        }
    }

    func stream(_ kind: ShardKind, _ id: Int64) -> RandomStream {
        let set: UInt64 = kind == .triplets ? 0 : kind == .pairs ? 1 : 2
        return RandomStream(seed: config.seed, purpose: .synthesis, id: UInt64(id) | set << 44)
    }

    func randomLayout(_ rng: inout RandomStream) -> Layout {
        let scale = 0.28 + 0.34 * rng.nextUniform()
        let room = max(0.05, 0.92 - scale * 1.3)
        let center = SIMD2(room * (2 * rng.nextUniform() - 1), room * (2 * rng.nextUniform() - 1))
        let angle = rng.nextUniform() < 0.35 ? (rng.nextUniform() - 0.5) * 1.6 : (rng.nextUniform() - 0.5) * 0.3
        return Layout(center: center, scale: scale, angle: angle, mirrored: rng.nextUniform() < 0.5)
    }

    /// A layout clearly different from `l` (another place or size).
    func shiftedLayout(from l: Layout, _ rng: inout RandomStream) -> Layout {
        for _ in 0..<32 {
            let n = randomLayout(&rng)
            let moved = ((n.center - l.center) * (n.center - l.center)).sum().squareRoot()
            if moved > 0.35 || abs(n.scale - l.scale) > 0.15 { return n }
        }
        return Layout(center: -l.center, scale: l.scale, angle: -l.angle, mirrored: !l.mirrored)
    }

    func pick(_ range: Range<Int>, _ rng: inout RandomStream) -> Int { range.lowerBound + rng.nextInt(below: range.count) }

    /// Subject and style of a sample, honouring the split: training samples use training
    /// subjects and styles only; evaluation samples use a held-out subject, style, or both.
    func subjectAndStyle(eval: Bool, _ rng: inout RandomStream) -> (Int, Int) {
        let c = config
        guard eval else { return (pick(c.trainSubjects, &rng), pick(c.trainStyles, &rng)) }
        let heldSubjects = c.trainSubjects.upperBound..<c.subjects, heldStyles = c.trainStyles.upperBound..<c.styles
        var options: [(Int, Int)] = []
        if !heldSubjects.isEmpty { options.append((pick(heldSubjects, &rng), pick(c.trainStyles, &rng))) }
        if !heldStyles.isEmpty { options.append((pick(c.trainSubjects, &rng), pick(heldStyles, &rng))) }
        if !heldSubjects.isEmpty && !heldStyles.isEmpty { options.append((pick(heldSubjects, &rng), pick(heldStyles, &rng))) }
        if options.isEmpty { return (pick(c.trainSubjects, &rng), pick(c.trainStyles, &rng)) }
        return options[rng.nextInt(below: options.count)]
    }

    func isEval(_ rng: inout RandomStream) -> Bool {
        (config.heldOutSubjects > 0 || config.heldOutStyles > 0) && Double(rng.nextUniform()) < config.evalFraction
    }

    /// The decisions behind triplet `id`, before any pixel is drawn.
    public struct TripletPlan: Sendable {
        public let eval: Bool
        public let subject: Int, style: Int
        public let layout: Layout, contentLayout: Layout
        public let shifted: Bool
        /// The subject the style reference shows: never `subject`.
        public let styleReferenceSubject: Int
        public let styleReferenceLayout: Layout
        let variation: UInt32
        let promptChoice: Int
    }

    public func tripletPlan(_ id: Int64) -> TripletPlan {
        var rng = stream(.triplets, id)
        let eval = isEval(&rng)
        let (s, y) = subjectAndStyle(eval: eval, &rng)
        let layout = randomLayout(&rng)
        let shifted = Double(rng.nextUniform()) < config.shiftedRatio
        let contentLayout = shifted ? shiftedLayout(from: layout, &rng) : layout
        // Style reference content: any other subject; training samples only show training subjects.
        let pool = eval ? 0..<config.subjects : config.trainSubjects
        var other = pick(pool, &rng)
        if other == s { other = pool.lowerBound + (other - pool.lowerBound + 1 + rng.nextInt(below: pool.count - 1)) % pool.count }
        let otherLayout = randomLayout(&rng)
        return TripletPlan(eval: eval, subject: s, style: y, layout: layout, contentLayout: contentLayout, shifted: shifted,
                           styleReferenceSubject: other, styleReferenceLayout: otherLayout, variation: rng.nextUInt32(),
                           promptChoice: rng.nextInt(below: 12))
    }

    /// Triplet `id`: target = style Y on subject S at layout L; style reference = Y on another
    /// subject (never S) at its own layout; content reference = S neutral at L (preserved)
    /// or at a clearly different layout (shifted).
    public func triplet(_ id: Int64) -> ShardRecord {
        let p = tripletPlan(id)
        let subject = subjects[p.subject], style = styles[p.style], v = p.variation, n = config.resolution
        let target = StyleRenderer.render(NeutralRenderer.render(subject, p.layout, size: n, variation: v), style, variation: v &+ 1)
        let styleRef = StyleRenderer.render(NeutralRenderer.render(subjects[p.styleReferenceSubject], p.styleReferenceLayout, size: n,
                                                                   variation: v &+ 2), style, variation: v &+ 3)
        let content = NeutralRenderer.render(subject, p.contentLayout, size: n, variation: v &+ 4).image
        return ShardRecord(sampleID: id, target: target.bytes(), styleReference: styleRef.bytes(), contentReference: content.bytes(),
                           prompt: PromptGrammar.stylized(subject, p.layout, style, choice: p.promptChoice),
                           subjectID: Int32(p.subject), styleID: Int32(p.style), layout: p.shifted ? .shifted : .preserved,
                           split: p.eval ? .eval : .train)
    }

    /// Text-to-image pair `id` (the base stage): a subject as a photo (40%) or in a style.
    public func pair(_ id: Int64) -> ShardRecord {
        var rng = stream(.pairs, id)
        let eval = isEval(&rng)
        let (s, y) = subjectAndStyle(eval: eval, &rng)
        let layout = randomLayout(&rng)
        let photo = rng.nextUniform() < 0.4
        let v = rng.nextUInt32()
        let neutral = NeutralRenderer.render(subjects[s], layout, size: config.resolution, variation: v)
        let image = photo ? neutral.image : StyleRenderer.render(neutral, styles[y], variation: v &+ 1)
        let prompt = photo ? PromptGrammar.photo(subjects[s], layout)
            : PromptGrammar.stylized(subjects[s], layout, styles[y], choice: rng.nextInt(below: 12))
        return ShardRecord(sampleID: id, target: image.bytes(), prompt: prompt, subjectID: Int32(s),
                           styleID: photo ? -1 : Int32(y), split: eval ? .eval : .train)
    }

    /// Style-labelled image `id` (the csd stage): a style on some subject.
    public func styleImage(_ id: Int64) -> ShardRecord {
        var rng = stream(.styles, id)
        let eval = isEval(&rng)
        let (s, y) = subjectAndStyle(eval: eval, &rng)
        let layout = randomLayout(&rng)
        let v = rng.nextUInt32()
        let image = StyleRenderer.render(NeutralRenderer.render(subjects[s], layout, size: config.resolution, variation: v), styles[y],
                                         variation: v &+ 1)
        return ShardRecord(sampleID: id, target: image.bytes(), prompt: "\(styles[y].name) style", subjectID: Int32(s),
                           styleID: Int32(y), split: eval ? .eval : .train)
    }

    public func record(_ kind: ShardKind, _ id: Int64) -> ShardRecord {
        switch kind {
        case .triplets: return triplet(id)
        case .pairs: return pair(id)
        case .styles: return styleImage(id)
        }
    }
}
