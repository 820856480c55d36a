import ArgumentParser
import Comm
import Config
import Foundation

/// Runs a subcommand's body as an MPI job and applies the error policy:
///
/// - errors every rank raises identically (a bad config, an impossible rank layout) are
///   printed once, by world rank 0, and every rank exits with status 2 after finalising;
/// - any other error is printed with the failing rank and host, and the whole job is
///   aborted (MPI_Abort), so that no other rank waits forever for the failed one.
enum MPIJob {
    static func run(_ command: String, _ body: (MPIRuntime) throws -> Void) throws {
        let runtime: MPIRuntime
        do {
            runtime = try MPIRuntime.initialize()
        } catch {
            printError("uso \(command): error: \(error)")
            throw ExitCode(1)
        }
        let world = runtime.world
        do {
            try body(runtime)
            fflush(nil)
            try runtime.finalize()
        } catch let error where isConsistent(error) {
            if world.rank == 0 { printError("uso \(command): error: \(error)") }
            try? runtime.finalize()
            throw ExitCode(2)
        } catch {
            printError("uso \(command): error on rank \(world.rank) of \(world.size) (host \(world.hostName)): \(error)")
            if world.size > 1 { world.abort(code: 1) }
            try? runtime.finalize()
            throw ExitCode(1)
        }
    }

    /// Errors that every rank computes the same way from the same inputs.
    private static func isConsistent(_ error: Error) -> Bool {
        error is ConfigError || error is RankLayoutError
    }

    static func printError(_ message: String) {
        fflush(nil)
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
