import Foundation
import Testing
import USOTestSupport

/// `uso bench allreduce` produces the table and JSON its documentation promises.
/// (A functional check at small sizes; the figures themselves come from release runs.)
@Suite(.serialized)
struct BenchAllreduceCommandTests {
    struct Report: Decodable {
        struct Row: Decodable {
            let bytes: Int
            let iterations: Int
            let seconds: Double
            let algbwGBs: Double
            let busbwGBs: Double
            let localSeconds: Double
            let localGBs: Double
        }
        let ranks: Int
        let rows: [Row]
    }

    @Test(arguments: [2, 3])
    func reportsEverySizeWithConsistentBandwidths(ranks n: Int) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let json = dir.url.appendingPathComponent("ar.json").path
        let job = try MPIRun.run(np: n, MPIRun.executable("uso"),
                                 ["bench", "allreduce", "--max-size", "64KiB", "--seconds-per-size", "0.01",
                                  "--min-iterations", "3", "--json", json], timeout: 120)
        #expect(job.exitCode == 0, "\(job.transcript)")
        let report = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(report.ranks == n)
        #expect(report.rows.map(\.bytes) == [4096, 8192, 16384, 32768, 65536])
        for row in report.rows {
            #expect(row.iterations >= 3)
            #expect(row.seconds > 0 && row.localSeconds > 0)
            #expect(abs(row.algbwGBs - Double(row.bytes) / row.seconds / 1e9) <= 1e-9 * row.algbwGBs)
            let factor = 2 * Double(n - 1) / Double(n)
            #expect(abs(row.busbwGBs - row.algbwGBs * factor) <= 1e-9 * row.busbwGBs)
            #expect(abs(row.localGBs - Double(row.bytes) / row.localSeconds / 1e9) <= 1e-9 * row.localGBs)
        }
        let lines = job.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        for size in ["4 KiB", "8 KiB", "16 KiB", "32 KiB", "64 KiB"] {
            #expect(lines.filter { $0.hasPrefix(size + " ") }.count == 1, "no row for \(size)\n\(job.stdout)")
        }
        #expect(job.stdout.contains("busbw / local"))
    }

    @Test func rejectsBadSizes() throws {
        let job = try MPIRun.runWithoutMPI(MPIRun.executable("uso"), ["bench", "allreduce", "--max-size", "lots"])
        #expect(job.exitCode != 0)
        #expect(job.stderr.contains("--max-size \"lots\" is not a byte count"), "\(job.transcript)")
    }
}
