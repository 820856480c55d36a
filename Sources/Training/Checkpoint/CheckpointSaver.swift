import Comm
import FlightRecorder
import Foundation

/// Writes one trainer's part of a checkpoint on a helper thread while training goes on
/// (`run.save_in_background`), and completes the checkpoint once every trainer's part is on
/// disk.
///
/// The helper thread only writes files: it never calls MPI (the design's thread level is
/// `funneled`). Whether every trainer has finished travels in a collective the training loop
/// makes anyway (`status` is max-reduced with the step's timings), so finding a save done
/// costs no extra message; `finish` blocks until it is done (before the next save, at the end,
/// or when the state is written in the foreground).
public final class CheckpointSaver: @unchecked Sendable {   // finished and failure under the lock; pending on the training thread only
    /// What a trainer reports of the save in flight: nothing pending or written (0), still
    /// writing (1), or failed (2 + its rank, so the max names the highest failing trainer).
    public static let idle = 0.0, writing = 1.0

    public struct Pending {
        public let step: Int
        public let folder: String
        public let bytes: Int
        public let started: DispatchTime
    }

    private let lock = NSLock()
    private var finished = true
    private var failure: Error?
    private let group = DispatchGroup()
    private let queue = DispatchQueue(label: "uso.checkpoint-writer")
    public private(set) var pending: Pending?
    /// The last part written, whose memory the next save copies into.
    public private(set) var spare: CheckpointPart?
    private var inFlight: CheckpointPart?
    /// Seconds the last completed save took from its start to its DONE.
    public private(set) var lastSeconds = 0.0

    public init() {}

    /// Starts writing `part` into `folder` (the snapshot is already taken: training may change
    /// the live state at once). Only one save is in flight at a time: call `finish` first.
    public func start(_ part: CheckpointPart, step: Int, folder: String, background: Bool) throws {
        precondition(pending == nil, "a checkpoint save is already in flight")
        pending = Pending(step: step, folder: folder, bytes: part.bytes, started: .now())
        inFlight = part
        spare = nil
        lock.withLock { finished = false; failure = nil }
        if background {
            group.enter()
            queue.async { [self] in
                var error: Error?
                let span = FlightRecorder.shared.begin(.checkpointWrite, .io, sequence: Int64(step), bytes: Int64(part.bytes))
                do { try part.write(to: folder) } catch let e { error = e }
                FlightRecorder.shared.end(span)
                lock.withLock { finished = true; failure = error }
                group.leave()
            }
        } else {
            var error: Error?
            let span = FlightRecorder.shared.begin(.checkpointWrite, .io, sequence: Int64(step), bytes: Int64(part.bytes))
            do { try part.write(to: folder) } catch let e { error = e }
            FlightRecorder.shared.end(span)
            lock.withLock { finished = true; failure = error }
        }
    }

    /// This trainer's report on the save in flight, for the max-reduction.
    public func status(rank: Int) -> Double {
        guard pending != nil else { return Self.idle }
        return lock.withLock { !finished ? Self.writing : failure != nil ? 2 + Double(rank) : Self.idle }
    }

    /// Given the max over the trainers of `status`: nil while some trainer is still writing,
    /// else the save in flight (cleared), once every trainer has written its part. A failure
    /// throws on every trainer, the failing one with its own error.
    public func settle(_ reduced: Double, rank: Int) throws -> Pending? {
        guard let p = pending, reduced != Self.writing else { return nil }
        pending = nil
        spare = inFlight
        inFlight = nil
        if reduced >= 2 {
            if let failure = lock.withLock({ failure }) { throw failure }
            throw CheckpointError(p.folder, "trainer \(Int(reduced) - 2) could not write its part of the checkpoint of step \(p.step) (its error says why); "
                                  + "the checkpoint is incomplete and will not be used")
        }
        lastSeconds = Double(DispatchTime.now().uptimeNanoseconds - p.started.uptimeNanoseconds) * 1e-9
        return p
    }

    /// Blocks until this trainer's part of the save in flight is written (or failed).
    public func waitForWrite() { group.wait() }

    /// Waits for this trainer's write, then learns (one max-allreduce on `communicator`)
    /// whether every trainer's is done: returns the save, now on disk everywhere.
    public func finish(_ communicator: Communicator) throws -> Pending? {
        guard pending != nil else { return nil }
        waitForWrite()
        let reduced = try communicator.allreduce(status(rank: communicator.rank), op: .max)
        return try settle(reduced, rank: communicator.rank)
    }
}
