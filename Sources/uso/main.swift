import Foundation
import TensorCore

// Before anything touches BLAS or MPI: run OpenBLAS's best kernels for this CPU (this may
// re-execute the program once with OPENBLAS_CORETYPE set; see BLASCoreSelection).
BLASCoreSelection.settleBeforeUse()

// An OPENBLAS_CORETYPE that OpenBLAS does not know silently selects kernels that may not run
// on this CPU, and a USO_KERNELS it cannot honour is a mistake to stop at: every command but
// `uso doctor` (which reports them) and help refuses to start.
if let problem = BLASCoreSelection.report.unknownRequestError ?? KernelTier.requestProblem {
    let first = CommandLine.arguments.dropFirst().first ?? ""
    if !(first == "doctor" || first == "help" || first.hasPrefix("-")) {
        FileHandle.standardError.write(Data("uso: error: \(problem)\n".utf8))
        exit(2)
    }
}

USO.main()
