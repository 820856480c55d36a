import TripletData
/// The size and make-up of a synthesised world, as `uso data synth` takes it.
public struct WorldConfig: Sendable, Codable, Equatable {
    public var seed: UInt64 = 7
    /// Image side in pixels (the model preset's image size).
    public var resolution: Int = 64
    public var subjects: Int = 40
    public var styles: Int = 40
    /// The last `heldOutSubjects` subjects and `heldOutStyles` styles appear only in the
    /// evaluation split (the evaluation bench), never in training data.
    public var heldOutSubjects: Int = 4
    public var heldOutStyles: Int = 4
    public var triplets: Int = 2048
    public var pairs: Int = 2048
    public var styleImages: Int = 2048
    /// Fraction of triplets whose content reference is at another layout than the target.
    public var shiftedRatio: Double = 0.5
    /// Fraction of samples that belong to the evaluation split.
    public var evalFraction: Double = 0.1
    public var shardSize: Int = 256

    public init() {}

    /// Checks the numbers fit together; names the first that does not.
    public func validate() throws(TripletDataError) {
        func bad(_ key: String, _ message: String) -> TripletDataError { TripletDataError(file: "<synth options>", dataset: key, message) }
        guard resolution >= 16, resolution <= 1024, resolution % 8 == 0 else { throw bad("resolution", "must be a multiple of 8 in 16...1024 (got \(resolution))") }
        guard subjects >= 2, subjects <= 384 else { throw bad("subjects", "must be in 2...384 (got \(subjects))") }
        guard styles >= 1, styles <= 40 else { throw bad("styles", "must be in 1...40 (got \(styles))") }
        guard heldOutSubjects >= 0, subjects - heldOutSubjects >= 2 else { throw bad("held-out-subjects", "must leave at least 2 training subjects") }
        guard heldOutStyles >= 0, styles - heldOutStyles >= 1 else { throw bad("held-out-styles", "must leave at least 1 training style") }
        guard triplets >= 0, pairs >= 0, styleImages >= 0 else { throw bad("triplets", "counts must not be negative") }
        guard (0...1).contains(shiftedRatio) else { throw bad("shifted-ratio", "must be in 0...1 (got \(shiftedRatio))") }
        guard (0...1).contains(evalFraction) else { throw bad("eval-fraction", "must be in 0...1 (got \(evalFraction))") }
        guard shardSize >= 1 else { throw bad("shard-size", "must be positive") }
    }

    public var trainSubjects: Range<Int> { 0..<(subjects - heldOutSubjects) }
    public var trainStyles: Range<Int> { 0..<(styles - heldOutStyles) }
}
