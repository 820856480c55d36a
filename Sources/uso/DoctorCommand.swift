import ArgumentParser
import Comm
import Diagnostics
import TensorCore

/// `uso doctor`: shows how the job came up, rank by rank.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Show every rank's role, host, pid, MPI thread level and BLAS threads, and the library versions.",
        discussion: """
            Run it under mpirun exactly as you would run training, with the same config: it \
            computes the same rank layout and prints, from rank 0, one row per rank. Use it to \
            check a new cluster, a hostfile or a Slurm allocation before a long job.

            BLAS kernels: each rank shows the OpenBLAS core it runs and who chose it: "uso" \
            (OpenBLAS picked an older core than the CPU's features allow, so uso set \
            OPENBLAS_CORETYPE and restarted itself), "user" (OPENBLAS_CORETYPE was set before \
            uso started; it always wins) or "OpenBLAS" (its own pick is the best). Warnings \
            name ranks that run different cores or stay on an older one; an OPENBLAS_CORETYPE \
            OpenBLAS does not know is an error (exit status 1), because OpenBLAS 0.3.21 then \
            silently runs kernels this CPU may not have.

            Examples:
              Cluster/launch-local.sh -np 2 uso doctor
              Cluster/launch-local.sh -np 4 uso doctor --reward-ranks 1 --placement spread
              mpirun -np 8 --hostfile hosts uso doctor --config run.toml
              .build/release/uso doctor --blas-core
            """
    )

    @OptionGroup var cluster: ClusterOptions

    @Flag(help: ArgumentHelp("Print only the OpenBLAS core this process runs (after uso's choice) and exit, without MPI.",
                             discussion: "For scripts that start uso where it cannot re-execute itself (under valgrind, say): "
                                 + "OPENBLAS_CORETYPE=$(uso doctor --blas-core) fixes the same kernels."))
    var blasCore = false

    func run() throws {
        if blasCore {
            print(BLASCoreSelection.report.core)
            return
        }
        var failed = false
        try MPIJob.run("doctor") { runtime in
            let roles = try cluster.roles(world: runtime.world)
            if let report = try DoctorReport.collect(runtime: runtime, roles: roles) {
                print(report.rendered())
                failed = !report.errors.isEmpty
            }
        }
        // After MPI has finalised on every rank: the job is unsafe to run as configured.
        if failed { throw ExitCode(1) }
    }
}
