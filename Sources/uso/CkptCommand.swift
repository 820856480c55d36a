import ArgumentParser
import SafeTensors
import TensorCore
import Training

/// `uso ckpt`: a run's checkpoints.
struct CkptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ckpt",
        abstract: "List a run's checkpoints, inspect one (every checksum verified), merge its shards, export it for the ecosystem.",
        discussion: """
            A run writes RUN/checkpoints/step_N/ every run.save_every steps and at the end; a folder \
            is complete once it holds DONE, and RUN/checkpoints/latest names the newest complete one.

            Examples:
              uso ckpt list runs/small-uso
              uso ckpt inspect runs/small-uso/checkpoints/step_00000800
              uso ckpt merge runs/small-uso/checkpoints/step_00000800 --out step800.safetensors
              uso ckpt export runs/small-uso/checkpoints/step_00000800 --out lora/ --dtype bf16
            """,
        subcommands: [CkptListCommand.self, CkptInspectCommand.self, CkptMergeCommand.self, CkptExportCommand.self]
    )
}

/// `uso ckpt list`.
struct CkptListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "One line per checkpoint: step, size, complete, latest.")

    @Argument(help: ArgumentHelp("A run folder.", valueName: "run")) var path: String

    func run() throws {
        for line in try CheckpointInspection.list(run: path) { print(line) }
    }
}

/// `uso ckpt inspect`.
struct CkptInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect",
                                                    abstract: "A checkpoint's stage, step, world and sizes, every tensor's checksum verified.")

    @Argument(help: ArgumentHelp("A checkpoint folder (RUN/checkpoints/step_N).", valueName: "dir")) var folder: String

    func run() throws {
        for line in try CheckpointInspection.inspect(folder) { print(line) }
    }
}

/// `uso ckpt merge`.
struct CkptMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Write a checkpoint (whole or in ZeRO-1 shards) as one safetensors file of full tensors and full optimizer state.",
        discussion: """
            The trainable tensors under their FLUX/USO names, AdamW's moments as m.<name> and v.<name>, \
            the checkpoint's state.json in the metadata (uso.checkpoint_state). Streamed one tensor at \
            a time (peak memory near the largest tensor, not the state); every shard's checksum is \
            verified on the way. An existing file is replaced only with --force.

            Example:
              uso ckpt merge runs/small-uso/checkpoints/step_00000800 --out step800.safetensors
            """
    )

    @Argument(help: ArgumentHelp("A checkpoint folder (RUN/checkpoints/step_N).", valueName: "dir")) var folder: String
    @Option(help: ArgumentHelp("The file to write.", valueName: "file")) var out: String
    @Flag(help: "Replace an existing file.") var force = false

    func run() throws {
        let r = try CheckpointMerge.merge(folder, to: out, force: force)
        print(String(format: "uso ckpt merge: wrote %@: %d tensors, %.1f MB (largest tensor %.1f MB); peak memory %.1f MB", r.path, r.tensors,
                     Double(r.bytes) / 1e6, Double(r.largestTensorBytes) / 1e6, Double(ProcessMemory.highWaterResidentBytes()) / 1e6))
    }
}

/// `--dtype f32|bf16|f16`.
extension SafeTensorsDType: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.uppercased()) }
    public static var allValueStrings: [String] { allCases.map { $0.rawValue.lowercased() } }
    public var defaultValueDescription: String { rawValue.lowercased() }
}

/// `uso ckpt export`.
struct CkptExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's trained tensors as dit_lora.safetensors and projector.safetensors (stage uso).",
        discussion: """
            USO's key names and shapes, as USO's own loader and ComfyUI read them; ModelSpec metadata \
            (architecture flux-1-dev/lora at flux-dev shapes) and the training facts (stage, step, seed, \
            preset, trainers, the data set's manifest and checksum). Every tensor is checked against \
            the checkpoint's checksum first. An existing file is replaced only with --force.

            --average K exports the mean of the run's last K complete checkpoints up to this one \
            (keep them: run.keep_last or run.keep_every). --fuse also writes dit_fused.safetensors, \
            the base DiT (FLUX key names) with every LoRA merged into its layer, from --base or the \
            run's run.init_weights.

            Examples:
              uso ckpt export runs/small-uso/checkpoints/step_00000800 --out lora/
              uso ckpt export runs/small-uso/checkpoints/step_00000800 --out lora-bf16/ --dtype bf16
              uso ckpt export runs/small-uso/checkpoints/step_00000800 --out mean/ --average 4
              uso ckpt export runs/small-uso/checkpoints/step_00000800 --out fused/ --fuse
            """
    )

    @Argument(help: ArgumentHelp("A checkpoint folder (RUN/checkpoints/step_N).", valueName: "dir")) var folder: String
    @Option(help: ArgumentHelp("The folder to write into.", valueName: "dir")) var out: String
    @Option(help: "Stored precision: f32, bf16 or f16.") var dtype: SafeTensorsDType = .f32
    @Flag(help: "Replace existing output files.") var force = false
    @Option(help: "Average the trainable tensors of the run's last K complete checkpoints up to this one.") var average: Int = 1
    @Flag(help: "Also write dit_fused.safetensors: the base DiT with the LoRA merged in (FLUX key names).") var fuse = false
    @Option(help: ArgumentHelp("The base DiT to fuse into: a base.safetensors or a weights folder (default: the run's run.init_weights).",
                               valueName: "path")) var base: String?

    func validate() throws {
        guard average >= 1 else { throw ValidationError("--average \(average): give a count of checkpoints, 1 or more") }
        if base != nil && !fuse { throw ValidationError("--base is the base to fuse into: give it with --fuse") }
    }

    func run() throws {
        var o = CheckpointExport.Options()
        o.dtype = dtype
        o.force = force
        o.average = average
        o.fuse = fuse
        o.base = base
        for line in try CheckpointExport.export(folder, to: out, options: o) { print("uso ckpt export: " + line) }
    }
}
