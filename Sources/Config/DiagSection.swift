/// `[diag]`: the flight recorder every rank keeps, the stall inspector, collective
/// fingerprints and the non-finite guard.
public struct DiagSection: Sendable, Equatable {
    public var recorderSpans: Int = 65_536
    public var flushEvery: Int = 10
    public var stallWarnSeconds: Double = 60
    public var stallAbortSeconds: Double = 600
    public var checkCollectives = false
    public var maxSkippedInARow: Int = 10

    public init() {}

    public static let recorderSpansKey = ConfigKey<Int>.integer("diag.recorder_spans", default: 65_536, in: 0...(1 << 26),
        "Spans each rank's flight recorder holds in its preallocated ring (data wait, micro-batches, every collective with its sequence number, bytes and state, the optimizer, checkpoint copies and writes); 0 switches recording off. Flushed to RUN/diag/rank_RR.jsonl; uso diag timeline merges the ranks.")
    public static let flushEveryKey = ConfigKey<Int>.integer("diag.flush_every", default: 10, in: 1...Int(Int32.max),
        "Steps between flushes of the flight recorder to RUN/diag/ (also at the end and on an error).")
    public static let stallWarnKey = ConfigKey<Double>.number("diag.stall_warn_s", default: 60, in: 0.5...1e7,
        "Seconds a rank may wait in one collective, data wait or reward wait before the stall inspector prints, on the waiting rank, which ranks have not arrived and what each was last doing (read from their flight recorders' boards in RUN/diag/live/, not through MPI). Also in RUN/diag/stalls_RR.jsonl.")
    public static let stallAbortKey = ConfigKey<Double>.number("diag.stall_abort_s", default: 600, in: 0...1e7,
        "Seconds of one wait after which the stall inspector ends the job, after dumping every rank's flight recorder into RUN/diag/; 0: never (the warning repeats every diag.stall_warn_s); at or below diag.stall_warn_s: the first warning ends the job.")
    public static let checkCollectivesKey = ConfigKey<Bool>.boolean("diag.check_collectives", default: false,
        "Compare every collective's fingerprint (sequence, operation, count, type, reduction, root) across its ranks before it runs: a mismatch is an error naming the ranks and both fingerprints, never a hang or a wrong sum. Costs one small allreduce per collective (uso bench diag measures it).")
    public static let maxSkippedKey = ConfigKey<Int>.integer("diag.max_skipped_in_a_row", default: 10, in: 1...Int(Int32.max),
        "Steps in a row skipped for non-finite losses or gradients after which the job ends, naming the last step's rank, tensor, micro-batch and samples.")

    public static let keys: [ConfigKeySpec] = [recorderSpansKey.spec, flushEveryKey.spec, stallWarnKey.spec, stallAbortKey.spec,
                                                checkCollectivesKey.spec, maxSkippedKey.spec]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        recorderSpans = try r.read(Self.recorderSpansKey)
        flushEvery = try r.read(Self.flushEveryKey)
        stallWarnSeconds = try r.read(Self.stallWarnKey)
        stallAbortSeconds = try r.read(Self.stallAbortKey)
        checkCollectives = try r.read(Self.checkCollectivesKey)
        maxSkippedInARow = try r.read(Self.maxSkippedKey)
        try r.finish(allowed: Self.keys.map(\.name))
    }
}
