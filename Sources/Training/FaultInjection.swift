import Foundation

/// The faults the tests inject into training, named by environment variables (read once per
/// trainer), so that what a real fault does can be shown on purpose:
///
/// - `USO_FAULT_DIVERGE=TRAINER:STEP`: that trainer nudges a weight after the step (a silent corruption);
/// - `USO_FAULT_NONFINITE=STEP`: a NaN in the reduced gradient of the last tensor;
/// - `USO_FAULT_NAN_SAMPLE=TRAINER:STEP:loss|backward`: a NaN in that trainer's first sample
///   of the step, in its input (the loss is NaN) or its loss gradient (only the backward is);
/// - `USO_FAULT_SLOW=TRAINER:MS`: each of that trainer's micro-batches takes MS longer (a straggler);
/// - `USO_FAULT_STOP_AFTER=STEP`: the job stops after the step, as a crash past its last save;
/// - `USO_FAULT_STOP_IN_SAVE=STEP`: the job stops inside that step's save, before DONE.
///
/// (`USO_FAULT_DATA_DELAY` lives in the data loader.)
struct FaultInjection {
    var diverge: (trainer: Int, step: Int)?
    var nonFinite: Int?
    var nanSample: (trainer: Int, step: Int, source: NonFiniteReport.Source)?
    var slow: (trainer: Int, seconds: Double)?
    var stopAfter: Int?
    var stopInSave: Int?

    static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> FaultInjection {
        func ints(_ key: String) -> [Int] { environment[key]?.split(separator: ":").compactMap { Int($0) } ?? [] }
        var f = FaultInjection()
        let d = ints("USO_FAULT_DIVERGE")
        if d.count == 2 { f.diverge = (d[0], d[1]) }
        f.nonFinite = environment["USO_FAULT_NONFINITE"].flatMap { Int($0) }
        if let parts = environment["USO_FAULT_NAN_SAMPLE"]?.split(separator: ":"), parts.count == 3, let t = Int(parts[0]), let s = Int(parts[1]),
           let source = NonFiniteReport.Source(rawValue: String(parts[2])) {
            f.nanSample = (t, s, source)
        }
        let slow = environment["USO_FAULT_SLOW"]?.split(separator: ":").compactMap { Double($0) } ?? []
        if slow.count == 2 { f.slow = (Int(slow[0]), slow[1] / 1000) }
        f.stopAfter = environment["USO_FAULT_STOP_AFTER"].flatMap { Int($0) }
        f.stopInSave = environment["USO_FAULT_STOP_IN_SAVE"].flatMap { Int($0) }
        return f
    }
}

extension Trainer {
    /// Fault injection for tests: with USO_FAULT_DIVERGE=TRAINER:STEP in the environment,
    /// that trainer nudges one trainable weight after that step, as a silent corruption would.
    func injectDivergenceForTests() {
        guard let fault = faults.diverge, fault.trainer == communicator.rank, fault.step == step,
              let p = optimizer.store.trainable.first else { return }
        p.data[0] += 1e-3
    }

    /// Fault injection for tests: with USO_FAULT_NONFINITE=STEP in the environment, every
    /// trainer's last trainable tensor gets a NaN gradient at that step, after the sync (as an
    /// overflow in the backward would leave it): the step must be skipped and say where.
    func injectNonFiniteGradientForTests() {
        guard faults.nonFinite == step, let last = optimizer.store.trainable.last else { return }
        // The reduced gradient's element, wherever it lives (ZeRO-1: on the trainer owning it).
        let flat = optimizer.offsets[optimizer.offsets.count - 1] + last.count / 2
        guard optimizer.owned.contains(flat) else { return }
        withExtendedLifetime(optimizer.gradients) { optimizer.gradients.base[flat - optimizer.owned.lowerBound] = .nan }
    }

}
