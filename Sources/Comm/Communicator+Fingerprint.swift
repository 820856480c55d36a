internal import CMPI
import Foundation

/// What one rank is about to call: a collective's sequence number on its communicator, its
/// operation, element count (-1 where ranks may differ, the v-forms), element type, reduction
/// and root. Ranks calling different fingerprints at the same point would hang or sum the
/// wrong things; `diag.check_collectives` compares them first (PyTorch's
/// TORCH_DISTRIBUTED_DEBUG=DETAIL check, per call).
public struct Fingerprint: Sendable, Equatable, CustomStringConvertible {
    public var sequence: Int64
    public var operation: String
    public var count: Int
    public var kind: ScalarKind?
    public var reduce: ReduceOp?
    public var root: Int

    public init(sequence: Int64, operation: String, count: Int, kind: ScalarKind?, reduce: ReduceOp? = nil, root: Int) {
        self.sequence = sequence; self.operation = operation; self.count = count; self.kind = kind; self.reduce = reduce; self.root = root
    }

    /// The fingerprint as integers (the operation by its FNV-1a hash, 63 bits, so it negates).
    var words: [Int64] {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in operation.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        return [sequence, Int64(bitPattern: hash & 0x7fff_ffff_ffff_ffff), Int64(count),
                Int64(kind.flatMap { ScalarKind.allCases.firstIndex(of: $0) } ?? -1),
                Int64(reduce.flatMap { ReduceOp.allCases.firstIndex(of: $0) } ?? -1), Int64(root)]
    }

    public var description: String {
        "#\(sequence) \(operation)" + (reduce.map { " \($0)" } ?? "")
            + (count >= 0 ? ", \(count) x \(kind?.rawValue ?? "-")" : kind.map { ", \($0.rawValue)" } ?? "")
            + (root >= 0 ? ", root \(root)" : "")
    }
}

extension Communicator {
    /// Compare every collective's fingerprint across the communicator's ranks before it runs
    /// (`diag.check_collectives`). Off by default: it adds one small allreduce per collective.
    nonisolated(unsafe) public static var checksCollectives = false

    /// Every rank's fingerprint agrees, or every rank throws `collectiveMismatch` naming the
    /// groups. One allreduce (MAX of the words and of their negations: equal everywhere when
    /// max = min) on a duplicate communicator; the gather of every fingerprint only on mismatch.
    func checkFingerprint(_ mine: Fingerprint) throws(CommError) {
        if checkHandle == nil {
            var dup: MPI_Comm? = cmpi_comm_null()
            try check(MPI_Comm_dup(handle, &dup), "MPI_Comm_dup(\(name)) for collective fingerprints")
            try check(MPI_Comm_set_errhandler(dup, cmpi_errors_return()), "MPI_Comm_set_errhandler(\(name) fingerprints)")
            checkHandle = dup
        }
        let words = mine.words, n = words.count
        var both = words + words.map { -$0 }
        try check(MPI_Allreduce(cmpi_in_place(), &both, Int32(2 * n), cmpi_int64(), cmpi_op_max(), checkHandle), "fingerprint check of \(mine) on \(name)")
        guard (0..<n).contains(where: { both[$0] != -both[n + $0] }) else { return }
        // Mismatch: gather every rank's fingerprint to name the groups.
        var all = [Int64](repeating: 0, count: n * size)
        var send = words
        try check(MPI_Allgather(&send, Int32(n), cmpi_int64(), &all, Int32(n), cmpi_int64(), checkHandle), "fingerprint gather on \(name)")
        // The operation's name travels as its hash: gather the names' bytes too, to print them.
        var nameBytes = Array(mine.operation.utf8.prefix(48)) + [UInt8](repeating: 0, count: 48 - min(48, mine.operation.utf8.count))
        var names = [UInt8](repeating: 0, count: 48 * size)
        try check(MPI_Allgather(&nameBytes, 48, cmpi_uint8(), &names, 48, cmpi_uint8(), checkHandle), "fingerprint names on \(name)")
        var groups: [(ranks: [Int], fingerprint: String)] = []
        var seen: [[Int64]: Int] = [:]
        for r in 0..<size {
            let w = Array(all[(r * n)..<((r + 1) * n)])
            if let g = seen[w] { groups[g].ranks.append(r); continue }
            let op = String(decoding: names[(r * 48)..<((r + 1) * 48)].prefix { $0 != 0 }, as: UTF8.self)
            let kind = w[3] >= 0 ? ScalarKind.allCases[Int(w[3])] : nil
            let reduce = w[4] >= 0 ? ReduceOp.allCases[Int(w[4])] : nil
            seen[w] = groups.count
            groups.append(([r], Fingerprint(sequence: w[0], operation: op, count: Int(w[2]), kind: kind, reduce: reduce, root: Int(w[5])).description))
        }
        throw CommError.collectiveMismatch(communicator: name, groups: groups)
    }
}
