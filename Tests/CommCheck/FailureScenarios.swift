import Comm
import Foundation

/// Deadlines, cancellation, MPI errors returned as Swift errors, split, and rank layouts.
enum FailureScenarios {
    static func run(_ h: Harness) {
        let world = h.world
        let (n, me, right, left) = (h.n, h.me, h.right, h.left)

        h.scenario("deadline.irecv.then-late-match") {
            let inbox = SharedBuffer<Float>(count: 8)
            let r = try world.irecv(into: inbox, from: .rank(left), tag: .value(99))
            let t0 = Date()
            do {
                try r.wait(timeout: 0.2)
                return "wait(timeout:) returned with nothing sent"
            } catch let CommError.deadlineExceeded(operation, peer, seconds) {
                let elapsed = Date().timeIntervalSince(t0)
                if !operation.contains("MPI_Irecv") { return "operation named \(operation)" }
                if peer != left { return "peer \(String(describing: peer)), want \(left)" }
                if seconds != 0.2 || elapsed < 0.2 || elapsed > 5 { return "deadline \(seconds) s after \(elapsed) s" }
                let text = "\(CommError.deadlineExceeded(operation: operation, peer: peer, seconds: seconds))"
                if !text.contains("rank \(left)") || !text.contains("200 ms") { return "message: \(text)" }
            }
            // The late message still matches the same request.
            try world.barrier()
            let s = try world.isend(patternArray(me, count: 8, Float.self), to: right, tag: 99)
            try s.wait()
            let status = try r.wait(timeout: 30)
            if status.count != 8 { return "late count \(String(describing: status.count))" }
            return firstMismatch(inbox.toArray(), patternArray(left, count: 8, Float.self), "late payload")
        }

        h.scenario("deadline.waitany") {
            let boxes = (0..<2).map { _ in SharedBuffer<UInt8>(count: 1) }
            let rs = try (0..<2).map { try world.irecv(into: boxes[$0], from: .rank(right), tag: .value(120 + $0)) }
            do {
                _ = try Request.waitAny(rs, timeout: 0.05)
                return "waitAny returned with nothing sent"
            } catch let CommError.deadlineExceeded(operation, peer, _) {
                if !operation.contains("waitAny") || peer != right { return "named \(operation) peer \(String(describing: peer))" }
            }
            for r in rs {
                try r.cancel()
                if r.status?.cancelled != true { return "cancel did not cancel \(r.operation)" }
            }
            return nil
        }

        h.scenario("error.invalid-rank.returned") {
            do {
                try world.send([Float(1)], to: n, tag: 1)
                return "send to rank \(n) did not throw"
            } catch let CommError.mpi(operation, _, _, message) {
                if !operation.contains("MPI_Send") { return "operation \(operation)" }
                if !message.lowercased().contains("rank") { return "message \(message)" }
            }
            // The job goes on: MPI returned the error instead of aborting.
            let total = try world.allreduce(Int32(1), op: .sum)
            return total == Int32(n) ? nil : "allreduce after error gave \(total)"
        }

        h.scenario("error.truncation.returned") {
            let s = try world.isend(patternArray(me, count: 10, Int32.self), to: me, tag: 77)
            var small = [Int32](repeating: 0, count: 5)
            do {
                _ = try small.withUnsafeMutableBufferPointer { try world.receive(into: $0, from: .rank(me), tag: .value(77)) }
                return "receiving 10 into 5 did not throw"
            } catch let CommError.mpi(_, _, _, message) {
                try s.wait()
                return message.lowercased().contains("truncat") ? nil : "message \(message)"
            }
        }

        h.scenario("error.count-beyond-int32") {
            let fake = UnsafeMutableBufferPointer<Float>(start: UnsafeMutablePointer(bitPattern: 64), count: Int(Int32.max) + 1)
            do {
                try world.allreduce(inPlace: fake, op: .sum)
                return "no error"
            } catch CommError.invalidArgument(let op, let message) {
                return op.contains("MPI_Allreduce") && message.contains("2147483648") ? nil : "\(op): \(message)"
            }
        }

        h.scenario("split.parity") {
            let sub = try world.split(color: me % 2, key: -me, name: "parity")
            guard let sub else { return "got no communicator" }
            let members = (0..<n).filter { $0 % 2 == me % 2 }
            if sub.size != members.count { return "size \(sub.size), want \(members.count)" }
            // Key -rank reverses the order.
            let wantRank = Array(members.reversed()).firstIndex(of: me)!
            if sub.rank != wantRank { return "rank \(sub.rank), want \(wantRank)" }
            let total = try sub.allreduce(Int64(me), op: .sum)
            return total == Int64(members.reduce(0, +)) ? nil : "sum \(total)"
        }

        // diag.check_collectives: a mismatched call is an error on every rank naming the
        // groups and their fingerprints, never a hang or a wrong sum; matched calls still reduce.
        h.scenario("fingerprint.count-type-root-op") {
            Communicator.checksCollectives = true
            defer { Communicator.checksCollectives = false }
            let last = n - 1
            func expectMismatch(_ what: String, _ wants: [String], _ body: () throws -> Void) -> String? {
                do {
                    try body()
                    return n == 1 ? nil : "\(what): no mismatch reported"
                } catch let CommError.collectiveMismatch(comm, groups) {
                    let text = "\(CommError.collectiveMismatch(communicator: comm, groups: groups))"
                    if comm != world.name || groups.flatMap(\.ranks).sorted() != Array(0..<n) { return "\(what): groups \(groups)" }
                    if groups.first(where: { $0.ranks.contains(last) })?.ranks != [last] { return "\(what): rank \(last) not alone in \(groups)" }
                    for w in wants where !text.contains(w) { return "\(what): '\(w)' missing from: \(text)" }
                    return nil
                } catch { return "\(what): threw \(error)" }
            }
            // A count off by one on the last rank (unchecked: a wrong sum or a hang).
            if let f = expectMismatch("count", ["8 x float32", "9 x float32", "MPI_Allreduce"], {
                _ = try world.allreduce([Float](repeating: 1, count: me == last ? 9 : 8), op: .sum)
            }) { return f }
            // Another element type.
            if let f = expectMismatch("type", ["float32", "float64"], {
                if me == last { _ = try world.allreduce([Double(1)], op: .sum) } else { _ = try world.allreduce([Float(1)], op: .sum) }
            }) { return f }
            // Another root.
            if let f = expectMismatch("root", ["root 0", "root \(last)"], {
                var v = [Float(me)]
                try v.withUnsafeMutableBufferPointer { (p) throws(CommError) in try world.broadcast(p, root: me == last ? last : 0) }
            }) { return f }
            // Another reduction, and another operation altogether.
            if let f = expectMismatch("reduction", ["sum", "max"], { _ = try world.allreduce(Int32(1), op: me == last ? .max : .sum) }) { return f }
            if let f = expectMismatch("operation", ["MPI_Barrier", "MPI_Allreduce"], {
                if me == last { try world.barrier() } else { _ = try world.allreduce(Int32(1), op: .sum) }
            }) { return f }
            // Matched calls, blocking and not, give the right sums with the check on.
            let total = try world.allreduce(Int32(me + 1), op: .sum)
            let buffer = SharedBuffer<Float>(count: 5, repeating: Float(me))
            try world.iallreduce(inPlace: buffer, op: .sum).wait()
            let want = Float(n * (n - 1) / 2)
            if total != Int32(n * (n + 1) / 2) || buffer.toArray() != [Float](repeating: want, count: 5) {
                return "checked sums \(total), \(buffer.toArray())"
            }
            return nil
        }

        h.scenario("split.undefined-color") {
            let sub = try world.split(color: me == 0 ? nil : 3, key: me, name: "not-zero")
            if me == 0 { return sub == nil ? nil : "rank 0 got a communicator" }
            guard let sub else { return "rank \(me) got nil" }
            return sub.size == n - 1 && sub.rank == me - 1 ? nil : "size \(sub.size) rank \(sub.rank)"
        }

        for placement in RankPlacement.allCases {
            for r in 0..<n {
                h.scenario("layout.reward\(r).\(placement)") {
                    if placement == .ownHosts {
                        // Possible only where the last hosts hold exactly r ranks (never on one host);
                        // this program's ranks fill hosts in rank order.
                        let hosts = try world.allgather(Array(world.hostName.utf8)).map { String(decoding: $0, as: UTF8.self) }
                        if !Set(hosts.suffix(r)).isDisjoint(with: hosts.prefix(n - r)) {
                            do {
                                let roles = try RoleCommunicators(world: world, rewardRanks: r, placement: placement)
                                return "accepted with hosts \(hosts): \(roles.layout.summary)"
                            } catch let e as RankLayoutError {
                                if !"\(e)".contains("beside trainer rank") { return "message: \(e)" }
                            }
                            try world.barrier()  // every rank refused alike; the world is intact
                            return nil
                        }
                    }
                    let roles = try RoleCommunicators(world: world, rewardRanks: r, placement: placement)
                    let layout = roles.layout
                    if layout.rewardRanks.count != r || layout.trainerRanks.count != n - r { return layout.summary }
                    if placement == .tail && layout.rewardRanks != Array((n - r)..<n) { return layout.summary }
                    if placement == .ownHosts && layout.rewardRanks != Array((n - r)..<n) { return layout.summary }
                    let isReward = layout.rewardRanks.contains(me)
                    if (roles.trainers == nil) != isReward || (roles.rewards == nil) != !isReward { return "communicators for \(roles.role)" }
                    if let t = roles.trainers {
                        if t.size != n - r || t.rank != layout.trainerRanks.firstIndex(of: me) { return "trainer rank \(t.rank)/\(t.size)" }
                        if (t.rank == 0) != (roles.role == .coordinator) { return "coordinator is not trainer 0" }
                        let sum = try t.allreduce(Int64(me), op: .sum)
                        if sum != Int64(layout.trainerRanks.reduce(0, +)) { return "trainer sum \(sum)" }
                    }
                    if let w = roles.rewards {
                        if w.size != r || w.rank != layout.rewardRanks.firstIndex(of: me) { return "reward rank \(w.rank)/\(w.size)" }
                        let sum = try w.allreduce(Int64(me), op: .sum)
                        if sum != Int64(layout.rewardRanks.reduce(0, +)) { return "reward sum \(sum)" }
                    }
                    return nil
                }
            }
        }

        for bad in [-1, n, n + 1] {
            h.scenario("layout.error.reward\(bad)") {
                do {
                    _ = try RoleCommunicators(world: world, rewardRanks: bad, placement: .tail)
                    return "reward_ranks = \(bad) was accepted"
                } catch let e as RankLayoutError {
                    let text = "\(e)"
                    if !text.contains("cluster.reward_ranks = \(bad)") || !text.contains("world of \(n) rank") {
                        return "message: \(text)"
                    }
                }
                try world.barrier()  // every rank failed alike; the world is intact
                return nil
            }
        }
    }
}
