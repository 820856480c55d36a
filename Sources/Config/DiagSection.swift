/// `[diag]`: the flight recorder every rank keeps.
public struct DiagSection: Sendable, Equatable {
    public var recorderSpans: Int = 65_536
    public var flushEvery: Int = 10

    public init() {}

    public static let recorderSpansKey = ConfigKey<Int>.integer("diag.recorder_spans", default: 65_536, in: 0...(1 << 26),
        "Spans each rank's flight recorder holds in its preallocated ring (data wait, micro-batches, every collective with its sequence number, bytes and state, the optimizer, checkpoint copies and writes); 0 switches recording off. Flushed to RUN/diag/rank_RR.jsonl; uso diag timeline merges the ranks.")
    public static let flushEveryKey = ConfigKey<Int>.integer("diag.flush_every", default: 10, in: 1...Int(Int32.max),
        "Steps between flushes of the flight recorder to RUN/diag/ (also at the end and on an error).")

    public static let keys: [ConfigKeySpec] = [recorderSpansKey.spec, flushEveryKey.spec]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        recorderSpans = try r.read(Self.recorderSpansKey)
        flushEvery = try r.read(Self.flushEveryKey)
        try r.finish(allowed: Self.keys.map(\.name))
    }
}
