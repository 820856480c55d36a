import ArgumentParser
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
        subcommands: [CkptListCommand.self, CkptInspectCommand.self]
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
