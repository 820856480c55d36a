import Foundation

/// A rank's flight recorder as a memory-mapped file (`RUN/diag/live/rank_RR.board`): the
/// header (who the rank is, how far it has recorded, what it is waiting for, a heartbeat),
/// the operation names it has interned, and the span ring itself.
///
/// It is the stall inspector's side channel: another rank reads it with plain file I/O, never
/// through MPI, so it says what a rank was doing even when that rank is stopped (SIGSTOP),
/// spinning in a collective or gone. Ranks on one host, or on hosts sharing the run folder's
/// filesystem, see each other's boards.
///
/// Layout (native byte order, every rank runs the same binary):
///
///     0    magic "USOBRD01"     8  span stride (u32)   12 capacity (u32)
///     16   written (i64)       24  flushed (i64)
///     32   pid (i32)           36  world rank (i32)
///     40   wait token (i64, -1 none)   48 wait since (u64 ns)   56 heartbeat (u64 ns)
///     64   step (i32)          68  name count (u32)
///     128  role (64 bytes)    192  host (64 bytes)
///     4096 operation names: 128 x 64 bytes
///     12288 spans: capacity x stride
public enum SharedBoard {
    static let magic: UInt64 = 0x3130_4452_424F_5355   // "USOBRD01" little-endian
    static let namesOffset = 4096, nameSlots = 128, nameBytes = 64
    static let spansOffset = 12288
    static let writtenOffset = 16, flushedOffset = 24, pidOffset = 32, rankOffset = 36
    static let waitTokenOffset = 40, waitSinceOffset = 48, heartbeatOffset = 56, stepOffset = 64, nameCountOffset = 68
    static let roleOffset = 128, hostOffset = 192

    public static func fileName(rank: Int) -> String { String(format: "rank_%02d.board", rank) }

    static func byteCount(capacity: Int) -> Int { spansOffset + capacity * MemoryLayout<Span>.stride }

    /// Creates (or replaces) the board file and maps it; returns the mapping's base.
    static func create(path: String, capacity: Int, rank: Int, role: String, host: String) throws -> UnsafeMutableRawPointer {
        let size = byteCount(capacity: capacity)
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw RecorderError("\(path): cannot create the flight recorder's board: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // Reserve the blocks now (not a sparse ftruncate): a mapped page the filesystem cannot
        // back when first written is a SIGBUS, on a full disk mid-run; this fails here instead.
        let reserved = posix_fallocate(fd, 0, off_t(size))
        guard reserved == 0 else {
            unlink(path)
            throw RecorderError("\(path): cannot reserve the board's \(size) bytes: \(String(cString: strerror(reserved)))")
        }
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw RecorderError("\(path): cannot map the board: \(String(cString: strerror(errno)))")
        }
        base.storeBytes(of: magic, toByteOffset: 0, as: UInt64.self)
        base.storeBytes(of: UInt32(MemoryLayout<Span>.stride), toByteOffset: 8, as: UInt32.self)
        base.storeBytes(of: UInt32(capacity), toByteOffset: 12, as: UInt32.self)
        base.storeBytes(of: Int32(getpid()), toByteOffset: pidOffset, as: Int32.self)
        base.storeBytes(of: Int32(rank), toByteOffset: rankOffset, as: Int32.self)
        base.storeBytes(of: Int64(-1), toByteOffset: waitTokenOffset, as: Int64.self)
        base.storeBytes(of: FlightRecorder.now(), toByteOffset: heartbeatOffset, as: UInt64.self)
        put(role, at: base + roleOffset, bytes: 64)
        put(host, at: base + hostOffset, bytes: 64)
        return base
    }

    static func put(_ s: String, at p: UnsafeMutableRawPointer, bytes: Int) {
        let u = Array(s.utf8.prefix(bytes - 1))
        p.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        u.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: u.count) }
    }

    static func string(at p: UnsafeRawPointer, bytes: Int) -> String {
        let b = UnsafeBufferPointer(start: p.assumingMemoryBound(to: UInt8.self), count: bytes)
        return String(decoding: b.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Another rank's board, read once (a snapshot: the rank may go on recording).
    public struct Snapshot: Sendable {
        public let rank: Int, pid: Int32
        public let role: String, host: String
        public let step: Int
        public let written: Int64, flushed: Int64
        /// The span the rank is waiting in (its token's span), if any, and since when.
        public let waiting: Span?
        public let waitingSince: UInt64
        public let heartbeat: UInt64
        /// The ring's spans still held, oldest first, with their tokens.
        public let spans: [(token: Int64, span: Span)]
        public let operationNames: [String]

        public func operationName(_ s: Span) -> String { Int(s.operation) < operationNames.count ? operationNames[Int(s.operation)] : "" }

        /// The newest collective span on communicator `comm` ("trainers", "world", ...).
        public func lastCollective(on comm: String) -> Span? {
            spans.last { $0.span.kind == .collective && operationName($0.span).hasSuffix("(\(comm))") }?.span
        }

        /// What the rank is doing: its newest open span on the compute or comm stream, else its newest span.
        public var current: Span? {
            spans.last { $0.span.end == 0 && $0.span.stream != .io }?.span ?? spans.last?.span
        }
    }

    /// Reads the board at `path`; nil when there is none or it is not a board.
    public static func read(_ path: String) -> Snapshot? {
        guard let data = FileManager.default.contents(atPath: path), data.count >= spansOffset else { return nil }
        return data.withUnsafeBytes { raw -> Snapshot? in
            let p = raw.baseAddress!
            guard p.loadUnaligned(fromByteOffset: 0, as: UInt64.self) == magic,
                  Int(p.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) == MemoryLayout<Span>.stride else { return nil }
            let capacity = Int(p.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
            guard capacity > 0, data.count >= byteCount(capacity: capacity) else { return nil }
            let written = p.loadUnaligned(fromByteOffset: writtenOffset, as: Int64.self)
            let flushed = p.loadUnaligned(fromByteOffset: flushedOffset, as: Int64.self)
            let names = (0..<min(nameSlots, Int(p.loadUnaligned(fromByteOffset: nameCountOffset, as: UInt32.self)))).map {
                string(at: p + namesOffset + $0 * nameBytes, bytes: nameBytes)
            }
            let first = max(0, written - Int64(capacity))
            var spans: [(Int64, Span)] = []
            spans.reserveCapacity(Int(written - first))
            for t in first..<max(first, written) {
                spans.append((t, p.loadUnaligned(fromByteOffset: spansOffset + Int(t % Int64(capacity)) * MemoryLayout<Span>.stride, as: Span.self)))
            }
            let token = p.loadUnaligned(fromByteOffset: waitTokenOffset, as: Int64.self)
            let waiting = token >= first && token < written ? spans[Int(token - first)].1 : nil
            return Snapshot(rank: Int(p.loadUnaligned(fromByteOffset: rankOffset, as: Int32.self)),
                            pid: p.loadUnaligned(fromByteOffset: pidOffset, as: Int32.self),
                            role: string(at: p + roleOffset, bytes: 64), host: string(at: p + hostOffset, bytes: 64),
                            step: Int(p.loadUnaligned(fromByteOffset: stepOffset, as: Int32.self)),
                            written: written, flushed: flushed, waiting: waiting,
                            waitingSince: p.loadUnaligned(fromByteOffset: waitSinceOffset, as: UInt64.self),
                            heartbeat: p.loadUnaligned(fromByteOffset: heartbeatOffset, as: UInt64.self),
                            spans: spans, operationNames: names.isEmpty ? [""] : names)
        }
    }

    /// Appends a board's spans not yet flushed, open ones too (their t1 is 0), to `jsonl`:
    /// the stall inspector's dump of a rank that cannot flush itself.
    public static func dump(_ board: Snapshot, to jsonl: String) throws {
        let pending = board.spans.filter { $0.token >= board.flushed }
        guard !pending.isEmpty else { return }
        var text = ""
        for (_, s) in pending { text += SpanLine.encode(s, names: board.operationNames) + "\n" }
        if !FileManager.default.fileExists(atPath: jsonl) { FileManager.default.createFile(atPath: jsonl, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: jsonl) else { throw RecorderError("\(jsonl): cannot open to append rank \(board.rank)'s board") }
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: Data(text.utf8))
    }
}
