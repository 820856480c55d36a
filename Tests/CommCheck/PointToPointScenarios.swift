import Comm
import Foundation

/// Typed and byte messages, blocking and non-blocking, tags, any-source, wait-any, test.
enum PointToPointScenarios {
    static func run(_ h: Harness) {
        let world = h.world
        let (n, me, right, left) = (h.n, h.me, h.right, h.left)

        h.scenario("send.blocking.each-root-to-all") {
            // Rank k sends a typed and a byte message to every other rank, in turn.
            for k in 0..<n {
                if me == k {
                    for dest in 0..<n where dest != k {
                        try world.send(patternArray(k * 10 + dest, count: 5 + dest, Float.self), to: dest, tag: 3)
                        try world.send((0..<(dest + k)).map { UInt8($0 + 200) }, to: dest, tag: 4)
                    }
                } else {
                    let m = try world.receive(Float.self, from: .rank(k), tag: .value(3))
                    if m.source != k || m.tag != 3 { return "envelope \(m.source)/\(m.tag), want \(k)/3" }
                    if let e = firstMismatch(m.values, patternArray(k * 10 + me, count: 5 + me, Float.self), "floats from \(k)") { return e }
                    let b = try world.receive(UInt8.self, from: .rank(k), tag: .value(4))
                    if let e = firstMismatch(b.values, (0..<(me + k)).map { UInt8($0 + 200) }, "bytes from \(k)") { return e }
                }
            }
            return nil
        }

        h.scenario("send.any-source.any-tag") {
            // Every rank but 0 sends its rank with tag = 100 + rank; rank 0 takes them in any order.
            if me == 0 {
                var seen = Set<Int>()
                for _ in 1..<max(n, 1) where n > 1 {
                    let m = try world.receive(Int64.self, from: .any, tag: .any)
                    if m.tag != 100 + m.source { return "tag \(m.tag) from \(m.source)" }
                    if m.values != [Int64(m.source), Int64(m.source * m.source)] { return "payload \(m.values) from \(m.source)" }
                    seen.insert(m.source)
                }
                return seen == Set(1..<n) ? nil : "heard from \(seen.sorted()), want 1..<\(n)"
            }
            try world.send([Int64(me), Int64(me * me)], to: 0, tag: 100 + me)
            return nil
        }

        h.scenario("send.tag-selection.zero-length") {
            // Two messages to the right (tags 5 then 7); the receiver takes tag 7 first.
            let a = try world.isend([Int32(me), 5], to: right, tag: 5)
            let b = try world.isend([UInt8](), to: right, tag: 7)
            let seven = try world.receive(UInt8.self, from: .rank(left), tag: .value(7))
            let five = try world.receive(Int32.self, from: .rank(left), tag: .value(5))
            try Request.waitAll([a, b])
            if !seven.values.isEmpty || seven.tag != 7 { return "tag 7: \(seven.values.count) bytes, tag \(seven.tag)" }
            return firstMismatch(five.values, [Int32(left), 5], "tag 5 payload")
        }

        h.scenario("send.receive-into-buffer") {
            let send = try world.isend(patternArray(me, count: 9, Double.self), to: right, tag: 8)
            var buffer = [Double](repeating: -99, count: 16)
            let status = try buffer.withUnsafeMutableBufferPointer { try world.receive(into: $0, from: .rank(left), tag: .value(8)) }
            try send.wait()
            if status.count != 9 || status.source != left || status.tag != 8 {
                return "status \(status), want count 9 from \(left) tag 8"
            }
            if buffer[9...].contains(where: { $0 != -99 }) { return "wrote past the message" }
            return firstMismatch(Array(buffer[0..<9]), patternArray(left, count: 9, Double.self), "payload")
        }

        h.scenario("nonblocking.ring.large") {
            // 1 Mi floats around the ring: beyond any eager limit.
            let count = 1 << 20
            let out = SharedBuffer(patternArray(me, count: count, Float.self))
            let inbox = SharedBuffer<Float>(count: count)
            let r = try world.irecv(into: inbox, from: .rank(left), tag: .value(21))
            let s = try world.isend(out, to: right, tag: 21)
            try Request.waitAll([r, s])
            if r.status?.count != count || r.status?.source != left { return "status \(String(describing: r.status))" }
            return firstMismatch(inbox.toArray(), patternArray(left, count: count, Float.self), "ring payload")
        }

        h.scenario("nonblocking.iallreduce.buckets") {
            // Three buckets of one flat buffer, started in order, completed in any order.
            let sizes = [1000, 1, 4097]
            let total = sizes.reduce(0, +)
            let flat = SharedBuffer(patternArray(me, count: total, Float.self))
            var requests: [Request] = []
            var offset = 0
            for s in sizes {
                requests.append(try world.iallreduce(inPlace: flat, range: offset..<(offset + s), op: .sum))
                offset += s
            }
            try Request.waitAll(requests.reversed())
            return firstMismatch(flat.toArray(), expectedReduction(.sum, ranks: n, count: total, Float.self), "buckets")
        }

        h.scenario("nonblocking.ibarrier.test") {
            let r = try world.ibarrier()
            var spins = 0
            while !(try r.test()) { spins += 1; sched_yield() }
            return r.isComplete ? nil : "ibarrier not complete after test() returned true"
        }

        h.scenario("nonblocking.test-before-send") {
            // The sender sends only after a barrier, so a test before the barrier must be false.
            let inbox = SharedBuffer<Int32>(count: 4)
            let r = try world.irecv(into: inbox, from: .rank(left), tag: .value(31))
            let early = try r.test()
            try world.barrier()
            let s = try world.isend([Int32(me), 1, 2], to: right, tag: 31)
            try s.wait()
            let status = try r.wait()
            if early { return "test() was true before anything was sent" }
            if status.count != 3 { return "count \(String(describing: status.count)), want 3" }
            return firstMismatch(inbox.toArray(0..<3), [Int32(left), 1, 2], "payload")
        }

        h.scenario("probe.envelope-without-receiving") {
            // Nothing is sent before the barrier: a probe before it finds nothing.
            let early = try world.probe(Float.self, from: .rank(left), tag: .value(55))
            try world.barrier()
            let s = try world.isend(patternArray(me, count: 6, Float.self), to: right, tag: 55)
            var status: Status? = nil
            while status == nil { status = try world.probe(Float.self, from: .any, tag: .value(55)) }
            let m = try world.receive(Float.self, from: .rank(status!.source!), tag: .value(55))
            try s.wait()
            if early != nil { return "probe found a message before any was sent" }
            if status!.source != left || status!.count != 6 || status!.tag != 55 { return "probe status \(status!)" }
            return firstMismatch(m.values, patternArray(left, count: 6, Float.self), "probed message")
        }

        h.scenario("nonblocking.waitany") {
            // One receive per rank (self included), tag = sender; senders go in rank order
            // separated by barriers, so completions arrive one at a time.
            let inboxes = (0..<n).map { _ in SharedBuffer<Int64>(count: 1) }
            let receives = try (0..<n).map { try world.irecv(into: inboxes[$0], from: .rank($0), tag: .value(40 + $0)) }
            var order: [Int] = []
            for k in 0..<n {
                if me == k {
                    let sends = try (0..<n).map { try world.isend([Int64(k * 1000 + $0)], to: $0, tag: 40 + k) }
                    try Request.waitAll(sends)
                }
                let (index, status) = try Request.waitAny(receives)
                order.append(index)
                if status.source != k { return "waitAny gave source \(String(describing: status.source)) at turn \(k)" }
                try world.barrier()
            }
            if order != Array(0..<n) { return "completion order \(order)" }
            for k in 0..<n where inboxes[k][0] != Int64(k * 1000 + me) {
                return "from \(k): \(inboxes[k][0])"
            }
            do {
                _ = try Request.waitAny(receives)
                return "waitAny over completed requests did not throw"
            } catch CommError.invalidArgument {
                return nil
            }
        }
    }
}
