import ArgumentParser
import Comm
import Diagnostics

/// `uso doctor`: shows how the job came up, rank by rank.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Show every rank's role, host, pid, MPI thread level and BLAS threads, and the library versions.",
        discussion: """
            Run it under mpirun exactly as you would run training, with the same config: it \
            computes the same rank layout and prints, from rank 0, one row per rank. Use it to \
            check a new cluster, a hostfile or a Slurm allocation before a long job.

            Examples:
              Cluster/launch-local.sh -np 2 uso doctor
              Cluster/launch-local.sh -np 4 uso doctor --reward-ranks 1 --placement spread
              mpirun -np 8 --hostfile hosts uso doctor --config run.toml
            """
    )

    @OptionGroup var cluster: ClusterOptions

    func run() throws {
        try MPIJob.run("doctor") { runtime in
            let roles = try cluster.roles(world: runtime.world)
            if let report = try DoctorReport.collect(runtime: runtime, roles: roles) {
                print(report.rendered())
            }
        }
    }
}
