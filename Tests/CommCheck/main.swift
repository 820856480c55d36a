// uso-comm-check: every Comm operation at the world size mpirun gives it.
//
// Started by CommTests as `mpirun -np N uso-comm-check OUT_DIR`; each rank writes
// OUT_DIR/rank-<r>.jsonl with one line per scenario: {"scenario", "rank", "size",
// "ok", "detail"}. The checks are made here, against values every rank can compute for
// every other rank (see `pattern`); the test asserts that each rank ran the same
// scenarios and that every one passed.
import Comm
import Foundation

guard CommandLine.arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: uso-comm-check OUT_DIR\n".utf8))
    exit(64)
}
let runtime = try MPIRuntime.initialize()
let harness = Harness(world: runtime.world)
harness.scenario("init.thread-level") {
    runtime.providedThreadLevel >= .funneled ? nil : "provided \(runtime.providedThreadLevel)"
}
CollectiveScenarios.run(harness)
PointToPointScenarios.run(harness)
FailureScenarios.run(harness)
try harness.write(to: CommandLine.arguments[1])
try runtime.world.barrier()
try runtime.finalize()
