import Comm
import Foundation
import USOTestSupport

/// Records scenario results for one rank and writes them as JSON lines to
/// `<out>/rank-<world rank>.jsonl`, which CommTests reads after mpirun returns.
final class Harness {
    typealias Result = ScenarioResult

    let world: Communicator
    /// This rank, the world size, and the ring neighbours (self at one rank).
    var me: Int { world.rank }
    var n: Int { world.size }
    var right: Int { (world.rank + 1) % world.size }
    var left: Int { (world.rank - 1 + world.size) % world.size }
    private var results: [Result] = []
    /// USO_CHECK_TRACE=1 prints each scenario as it starts (to find a hang).
    private let trace = ProcessInfo.processInfo.environment["USO_CHECK_TRACE"] == "1"

    init(world: Communicator) { self.world = world }

    /// Runs one scenario; `body` returns nil when every check held, or what failed.
    /// A thrown error is a failure carrying the error's text.
    func scenario(_ name: String, _ body: () throws -> String?) {
        if trace { FileHandle.standardError.write(Data("[rank \(world.rank)] \(name)\n".utf8)) }
        let result: Result
        do {
            let failure = try body()
            result = Result(scenario: name, rank: world.rank, size: world.size, ok: failure == nil, detail: failure ?? "")
        } catch {
            result = Result(scenario: name, rank: world.rank, size: world.size, ok: false, detail: "threw: \(error)")
        }
        results.append(result)
        // Keep scenarios apart: no rank's messages of the next scenario can be taken by a
        // wildcard receive of this one.
        do { try world.barrier() } catch {
            results.append(Result(scenario: name + ".barrier", rank: world.rank, size: world.size, ok: false,
                                  detail: "threw: \(error)"))
        }
    }

    func write(to directory: String) throws {
        try ScenarioResult.write(results, to: URL(fileURLWithPath: directory), rank: world.rank)
    }
}

/// First mismatch between two arrays, described; nil when equal.
func firstMismatch<T: Equatable>(_ got: [T], _ want: [T], _ what: String) -> String? {
    if got.count != want.count { return "\(what): got \(got.count) elements, want \(want.count)" }
    for i in got.indices where got[i] != want[i] {
        return "\(what): element \(i) is \(got[i]), want \(want[i])"
    }
    return nil
}

/// Scalars built from small integers, so that sums over ranks are exact in every type.
protocol Patterned: MPIScalar {
    init(small: Int)
    static func + (a: Self, b: Self) -> Self
}
extension Float: Patterned { init(small: Int) { self.init(small) } }
extension Double: Patterned { init(small: Int) { self.init(small) } }
extension Int32: Patterned { init(small: Int) { self.init(small) } }
extension Int64: Patterned { init(small: Int) { self.init(small) } }

/// The value rank `rank` holds at index `i`: integers in -11...11 that vary with both,
/// so a maximum or minimum comes from different ranks at different indices.
func pattern<T: Patterned>(_ rank: Int, _ i: Int, _ type: T.Type = T.self) -> T {
    T(small: (i * 7 + rank * 13) % 23 - 11)
}

func patternArray<T: Patterned>(_ rank: Int, count: Int, _ type: T.Type = T.self) -> [T] {
    (0..<count).map { pattern(rank, $0) }
}

/// What an allreduce over every rank's pattern must give.
func expectedReduction<T: Patterned>(_ op: ReduceOp, ranks: Int, count: Int, _ type: T.Type = T.self) -> [T] {
    (0..<count).map { i in
        let values: [T] = (0..<ranks).map { pattern($0, i) }
        switch op {
        case .sum: return values.dropFirst().reduce(values[0], +)
        case .max: return values.max()!
        case .min: return values.min()!
        }
    }
}
