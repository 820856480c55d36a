import Foundation
import SafeTensors

/// What `uso ckpt list` and `uso ckpt inspect` report: a run's checkpoints, and one
/// checkpoint's facts with every tensor's checksum verified.
public enum CheckpointInspection {
    /// One line per checkpoint folder of `run`: step, complete or not, size, `latest`.
    public static func list(run: String) throws -> [String] {
        let folder = CheckpointFolder(run: run)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.root, isDirectory: &isDir), isDir.boolValue else {
            throw CheckpointError(run, "holds no checkpoints/ folder (not a run, or one that never saved)")
        }
        let latest = folder.latest()
        return folder.allSteps().map { step in
            let path = folder.path(step: step)
            let bytes = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).reduce(0) { sum, name in
                sum + (((try? FileManager.default.attributesOfItem(atPath: (path as NSString).appendingPathComponent(name)))?[.size] as? Int) ?? 0)
            }
            let status = folder.isComplete(step: step) ? (step == latest ? "complete, latest" : "complete") : "INCOMPLETE (no DONE: never loaded)"
            return String(format: "%@  step %8d  %10.2f MB  %@", CheckpointFolder.name(step: step), step, Double(bytes) / 1e6, status)
        }
    }

    /// The checkpoint's stage, step, world and sizes, every tensor read back and checked
    /// against the metadata's checksum; throws naming the file and tensor of a mismatch.
    public static func inspect(_ folder: String) throws -> [String] {
        let (state, metadata) = try Checkpoint.read(folder)
        var reader = CheckpointTensors(folder: folder)
        var elements = 0
        for e in metadata.tensors { elements += try reader.values(e).count }
        let trainable = metadata.tensors.filter { $0.file == Checkpoint.trainableFile }
        return [
            "\(folder): stage \(state.stage), preset \(state.preset), step \(state.step) (epoch \(state.cursor.epoch), step \(state.cursor.step) of it), seed \(state.seed)",
            "world: \(state.trainers) trainer(s), \(state.rewardRanks) reward rank(s) (\(state.worldSize) ranks, placement \(state.placement))",
            "schedule: \(state.scheduleSteps) planned steps, next rate \(state.nextLR); AdamW step \(state.adamStep); reward \(state.rewardMode) (weight now \(state.rewardWeightNow), from step \(state.rewardStartStep))",
            "tensors: \(trainable.count) trainable (\(trainable.reduce(0) { $0 + $1.shape.reduce(1, *) }) elements) and their moments, \(elements) elements in all",
            "overrides: " + (state.overrides.isEmpty ? "none" : state.overrides.joined(separator: " ")),
            "checksums: all \(metadata.tensors.count) tensors verified",
        ]
    }
}
