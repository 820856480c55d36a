import ArgumentParser

/// `uso`: the one program of the USO cluster trainer. mpirun (or srun) starts it on every
/// rank; each subcommand is one job. (`main.swift` starts it, after settling the BLAS kernels.)
struct USO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uso",
        abstract: "Train USO (unified subject- and style-driven generation) on CPU clusters with MPI.",
        discussion: """
            Every subcommand runs as one MPI job: start it with mpirun (or Cluster/launch-local.sh, \
            or srun under Slurm) and every rank runs the same command; rank roles come from the \
            [cluster] config. Started without mpirun, a subcommand runs as a world of one rank.

            Examples:
              Cluster/launch-local.sh -np 2 uso doctor
              Cluster/launch-local.sh -np 3 uso doctor --reward-ranks 1
              Cluster/launch-local.sh -np 2 uso bench allreduce
            """,
        subcommands: [DoctorCommand.self, DataCommand.self, TrainCommand.self, RewardCommand.self, CkptCommand.self, DiagCommand.self, GenerateCommand.self, EvalCommand.self, ModelCommand.self, BenchCommand.self]
    )
}
