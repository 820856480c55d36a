import ArgumentParser
import SafeTensors
import Training

/// `uso ckpt`: a run's checkpoints.
struct CkptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ckpt",
        abstract: "List a run's checkpoints and inspect one (every tensor's checksum verified).",
        discussion: """
            A run writes RUN/checkpoints/step_N/ every run.save_every steps and at the end; a folder \
            is complete once it holds DONE, and RUN/checkpoints/latest names the newest complete one.

            Examples:
              uso ckpt list runs/small-uso
              uso ckpt inspect runs/small-uso/checkpoints/step_00000800
            """,
        subcommands: [CkptListCommand.self, CkptInspectCommand.self, CkptExportCommand.self]
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
            preset, trainers). Every tensor is checked against the checkpoint's checksum first. An \
            existing file is replaced only with --force.

            Examples:
              uso ckpt export runs/small-uso/checkpoints/step_00000800 --out lora/
              uso ckpt export runs/small-uso/checkpoints/step_00000800 --out lora-bf16/ --dtype bf16
            """
    )

    @Argument(help: ArgumentHelp("A checkpoint folder (RUN/checkpoints/step_N).", valueName: "dir")) var folder: String
    @Option(help: ArgumentHelp("The folder to write into.", valueName: "dir")) var out: String
    @Option(help: "Stored precision: f32, bf16 or f16.") var dtype: SafeTensorsDType = .f32
    @Flag(help: "Replace existing output files.") var force = false

    func run() throws {
        for line in try CheckpointExport.export(folder, to: out, dtype: dtype, force: force) { print("uso ckpt export: " + line) }
    }
}
