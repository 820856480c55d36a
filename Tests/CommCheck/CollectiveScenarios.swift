import Comm
import Foundation

/// Broadcast, allreduce, allgather and gather: every type, every op, in place and not,
/// zero, one, odd and large lengths, every root.
enum CollectiveScenarios {
    static let lengths = [0, 1, 7, 1023, 65537]

    static func run(_ h: Harness) {
        let world = h.world
        h.scenario("identity") {
            let ranks = try world.allgather(Int32(world.rank))
            if let m = firstMismatch(ranks, (0..<world.size).map { Int32($0) }, "allgather of ranks") { return m }
            if let env = ProcessInfoEnv.worldSize, env != world.size {
                return "size \(world.size) differs from OMPI_COMM_WORLD_SIZE \(env)"
            }
            return world.hostName.isEmpty ? "empty host name" : nil
        }
        h.scenario("barrier") {
            try world.barrier()
            try world.barrier()
            return nil
        }
        broadcasts(h, Float.self)
        broadcasts(h, Double.self)
        broadcasts(h, Int32.self)
        broadcasts(h, Int64.self)
        allreduces(h, Float.self)
        allreduces(h, Double.self)
        allreduces(h, Int32.self)
        allreduces(h, Int64.self)
        gathers(h)
        partitioned(h)
    }

    /// Reduce-scatter and allgather of parts (ZeRO-1's collectives): uneven parts, a rank
    /// with an empty part, one element, and a long odd buffer.
    static func partitioned(_ h: Harness) {
        let world = h.world, n = world.size
        let layouts: [(String, [Int])] = [
            ("even", Array(repeating: 5, count: n)),
            ("uneven", (0..<n).map { 2 * $0 + 1 }),
            ("empty-first", (0..<n).map { $0 == 0 ? 0 : 3 + $0 }),
            ("one", (0..<n).map { $0 == n - 1 ? 1 : 0 }),
            ("long", (0..<n).map { 65537 / n + ($0 < 65537 % n ? 1 : 0) }),
        ]
        for (label, counts) in layouts {
            let total = counts.reduce(0, +), lower = counts[..<world.rank].reduce(0, +)
            h.scenario("reduce-scatter.float32.\(label)") {
                let send: [Float] = patternArray(world.rank, count: total)
                let receive = SharedBuffer<Float>(count: counts[world.rank])
                try send.withUnsafeBufferPointer { s in
                    let r = try world.ireduceScatter(s, into: receive.unsafeMutableBufferPointer,
                                                     counts: counts, op: .sum, keepingAlive: receive)
                    _ = try r.wait()
                }
                let want: [Float] = expectedReduction(.sum, ranks: n, count: total)
                return firstMismatch(receive.toArray(), Array(want[lower..<lower + counts[world.rank]]), "my part")
            }
            h.scenario("allgather-parts.float64.\(label)") {
                let buffer = SharedBuffer<Double>(count: total, repeating: -1)
                buffer.assign(patternArray(world.rank, count: counts[world.rank]), at: lower)
                let r = try world.iallgather(unsafeInPlace: buffer.unsafeMutableBufferPointer, counts: counts,
                                             keepingAlive: buffer)
                _ = try r.wait()
                var want: [Double] = []
                for (rank, c) in counts.enumerated() { want += patternArray(rank, count: c, Double.self) }
                return firstMismatch(buffer.toArray(), want, "gathered parts")
            }
        }
        h.scenario("reduce-scatter.error.parts-mismatch") {
            let send = [Float](repeating: 1, count: 4)
            let receive = SharedBuffer<Float>(count: 1)
            do {
                _ = try send.withUnsafeBufferPointer { s in
                    try world.ireduceScatter(s, into: receive.unsafeMutableBufferPointer,
                                             counts: Array(repeating: 1, count: n + 1), op: .sum, keepingAlive: receive)
                }
                return "accepted \(n + 1) parts for \(n) ranks"
            } catch let e as CommError {
                return "\(e)".contains("\(n + 1) part counts for \(n) ranks") ? nil : "unclear error: \(e)"
            }
        }
    }

    static func broadcasts<T: Patterned>(_ h: Harness, _ type: T.Type) {
        let world = h.world
        for root in 0..<world.size {
            for n in [0, 1, 7, 1023] {
                h.scenario("broadcast.\(T.scalarKind).len\(n).root\(root)") {
                    // Non-roots pass a wrong-length array: the count travels with the data.
                    var values: [T] = world.rank == root ? patternArray(root, count: n) : patternArray(world.rank, count: 3)
                    try world.broadcast(&values, root: root)
                    return firstMismatch(values, patternArray(root, count: n), "broadcast")
                }
            }
            h.scenario("broadcast.\(T.scalarKind).scalar.root\(root)") {
                let v: T = try world.broadcast(pattern(world.rank, 5), root: root)
                return v == pattern(root, 5) ? nil : "got \(v), want \(pattern(root, 5, T.self))"
            }
        }
    }

    static func allreduces<T: Patterned>(_ h: Harness, _ type: T.Type) {
        let world = h.world
        for op in ReduceOp.allCases {
            for n in lengths {
                let want: [T] = expectedReduction(op, ranks: world.size, count: n)
                h.scenario("allreduce.\(T.scalarKind).\(op).copy.len\(n)") {
                    let mine: [T] = patternArray(world.rank, count: n)
                    let got = try world.allreduce(mine, op: op)
                    if let m = firstMismatch(mine, patternArray(world.rank, count: n), "send buffer changed") { return m }
                    return firstMismatch(got, want, "allreduce")
                }
                h.scenario("allreduce.\(T.scalarKind).\(op).inplace.len\(n)") {
                    var values: [T] = patternArray(world.rank, count: n)
                    try world.allreduce(inPlace: &values, op: op)
                    return firstMismatch(values, want, "allreduce in place")
                }
            }
            h.scenario("allreduce.\(T.scalarKind).\(op).scalar") {
                let got = try world.allreduce(pattern(world.rank, 3, T.self), op: op)
                let want: [T] = expectedReduction(op, ranks: world.size, count: 4)
                return got == want[3] ? nil : "got \(got), want \(want[3])"
            }
        }
    }

    static func gathers(_ h: Harness) {
        let world = h.world
        h.scenario("allgather.scalar.float64") {
            let got = try world.allgather(Double(world.rank) * 1.5 - 2)
            return firstMismatch(got, (0..<world.size).map { Double($0) * 1.5 - 2 }, "allgather")
        }
        h.scenario("allgather.varlen.int64") {
            // Rank r contributes r elements: rank 0 contributes none.
            let got = try world.allgather(patternArray(world.rank, count: world.rank, Int64.self))
            if got.count != world.size { return "got \(got.count) parts, want \(world.size)" }
            for r in 0..<world.size {
                if let m = firstMismatch(got[r], patternArray(r, count: r, Int64.self), "part of rank \(r)") { return m }
            }
            return nil
        }
        h.scenario("allgather.bytes.oddlen") {
            let mine = (0..<(2 * world.rank + 1)).map { UInt8(truncatingIfNeeded: $0 * 31 + world.rank) }
            let got = try world.allgather(mine)
            for r in 0..<world.size {
                let want = (0..<(2 * r + 1)).map { UInt8(truncatingIfNeeded: $0 * 31 + r) }
                if let m = firstMismatch(got[r], want, "bytes of rank \(r)") { return m }
            }
            return nil
        }
        for root in 0..<world.size {
            h.scenario("gather.varlen.float32.root\(root)") {
                let mine = patternArray(world.rank, count: (world.rank * 5) % 3, Float.self)
                let got = try world.gather(mine, root: root)
                if world.rank != root { return got == nil ? nil : "non-root got a result" }
                guard let got else { return "root got nil" }
                for r in 0..<world.size {
                    if let m = firstMismatch(got[r], patternArray(r, count: (r * 5) % 3, Float.self), "part of rank \(r)") {
                        return m
                    }
                }
                return nil
            }
        }
    }
}

enum ProcessInfoEnv {
    static var worldSize: Int? {
        guard let s = getenv("OMPI_COMM_WORLD_SIZE") else { return nil }
        return Int(String(cString: s))
    }
}
