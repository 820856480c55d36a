import Foundation
import SafeTensors

/// `uso ckpt merge`: a checkpoint (whole or in ZeRO-1 shards) as one safetensors file with
/// every trained tensor whole under its own name and AdamW's moments whole as `m.<name>` and
/// `v.<name>`, the checkpoint's state.json in the metadata (`uso.checkpoint_state`).
///
/// Streamed: the header is written first, then one tensor at a time, assembled from its
/// shards and checked against their checksums, so peak memory stays near the largest tensor
/// (twice it: the assembled values and the read buffer), not the whole state. The file is
/// written through a temporary name and never replaces an existing one unless `force`.
public enum CheckpointMerge {
    public struct Result: Sendable {
        public let path: String
        public let tensors: Int
        public let bytes: Int
        public let largestTensorBytes: Int
    }

    public static func merge(_ folder: String, to out: String, force: Bool) throws -> Result {
        let (state, metadata) = try Checkpoint.read(folder)
        if !force && FileManager.default.fileExists(atPath: out) {
            throw CheckpointError(out, "exists; give --force to replace it (nothing was written)")
        }
        let parent = (out as NSString).deletingLastPathComponent
        var isDir: ObjCBool = false
        guard parent.isEmpty || (FileManager.default.fileExists(atPath: parent, isDirectory: &isDir) && isDir.boolValue) else {
            throw CheckpointError(out, "its folder \(parent) does not exist")
        }
        // The trainable tensors first, then the moments, each in the checkpoint's order.
        let entries = metadata.tensors.filter { $0.file == Checkpoint.trainableFile } + metadata.tensors.filter { $0.file != Checkpoint.trainableFile }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let stateText = String(decoding: try encoder.encode(state), as: UTF8.self)
        let writer = try SafeTensorsStreamWriter(path: out, tensors: entries.map { ($0.name, $0.shape, $0.shape.reduce(1, *)) },
                                                 metadata: ["format": "pt", "uso.checkpoint_state": stateText, "uso.step": String(state.step),
                                                            "uso.stage": state.stage, "uso.preset": state.preset])
        var reader = CheckpointTensors(folder: folder)
        var largest = 0, bytes = 0
        for e in entries {
            let values = try reader.values(e)
            try values.withUnsafeBufferPointer { (p) throws(SafeTensorsError) in try writer.append(e.name, p) }
            largest = max(largest, values.count * 4)
            bytes += values.count * 4
        }
        try writer.finish()
        return Result(path: out, tensors: entries.count, bytes: bytes, largestTensorBytes: largest)
    }
}
