import Comm
import Diagnostics
import Foundation
import TensorCore

/// `uso bench allreduce`: in-place float-sum allreduce over a range of sizes, each beside
/// the local reduction rate of the same bytes, measured interleaved in the same run.
///
/// Per size: after warm-up, each iteration times one allreduce (from a barrier; the
/// iteration's time is the slowest rank's) and then one local `y += x` over the same
/// number of bytes. The row gives the median of each. algbw = bytes / time;
/// busbw = algbw * 2(n-1)/n (the bytes each rank's link must carry in a ring); the local
/// rate is bytes / time of the local sum, the ceiling a reduction of these bytes meets
/// on one core.
public struct AllreduceBenchmark {
    /// What to measure.
    public struct Options: Sendable {
        /// Message sizes in bytes, ascending.
        public var sizes: [Int]
        /// Time to spend per size (sets the iteration count from a probe).
        public var secondsPerSize: Double = 0.3
        public var minIterations: Int = 5
        public var maxIterations: Int = 2000
        public var warmupIterations: Int = 2

        public init(sizes: [Int]) { self.sizes = sizes }

        /// Powers of `factor` from `minBytes` to `maxBytes` (both rounded to whole floats).
        public static func sizes(from minBytes: Int, to maxBytes: Int, factor: Int) -> [Int] {
            precondition(factor >= 2 && minBytes >= 4 && maxBytes >= minBytes)
            var result: [Int] = []
            var s = minBytes
            while s <= maxBytes {
                result.append(s / 4 * 4)
                s *= factor
            }
            return result
        }
    }

    /// One size's result.
    public struct Row: Codable, Sendable {
        public var bytes: Int
        public var iterations: Int
        public var seconds: Double
        public var algbwGBs: Double
        public var busbwGBs: Double
        public var localSeconds: Double
        public var localGBs: Double
    }

    public let communicator: Communicator
    public let options: Options

    public init(communicator: Communicator, options: Options) {
        self.communicator = communicator
        self.options = options
    }

    /// Runs every size. Collective over the communicator; every rank returns the same rows.
    public func run(progress: (Row) -> Void = { _ in }) throws -> [Row] {
        let maxCount = (options.sizes.max() ?? 0) / 4
        // Buffers allocated and touched once, reused for every size (never allocate per step).
        let message = SharedBuffer<Float>(count: maxCount, repeating: 0)
        let x = SharedBuffer<Float>(count: maxCount, repeating: 0)
        let y = SharedBuffer<Float>(count: maxCount, repeating: 0)
        var rows: [Row] = []
        for bytes in options.sizes {
            let row = try measure(count: bytes / 4, message: message, x: x, y: y)
            rows.append(row)
            progress(row)
        }
        return rows
    }

    private func measure(count: Int, message: SharedBuffer<Float>, x: SharedBuffer<Float>, y: SharedBuffer<Float>) throws -> Row {
        let comm = communicator
        let msg = UnsafeMutableBufferPointer(rebasing: message.unsafeMutableBufferPointer[0..<count])
        let xs = UnsafeBufferPointer(rebasing: x.unsafeMutableBufferPointer[0..<count])
        let ys = UnsafeMutableBufferPointer(rebasing: y.unsafeMutableBufferPointer[0..<count])

        func timedAllreduce() throws -> Double {
            try comm.barrier()
            let t0 = MPIRuntime.wallTime()
            try comm.allreduce(inPlace: msg, op: .sum)
            return MPIRuntime.wallTime() - t0
        }
        func timedLocalSum() -> Double {
            let t0 = MPIRuntime.wallTime()
            ElementwiseKernels.add(xs, into: ys)
            return MPIRuntime.wallTime() - t0
        }

        for _ in 0..<options.warmupIterations {
            _ = try timedAllreduce()
            _ = timedLocalSum()
        }
        // Probe one iteration of each; every rank must agree on the iteration count.
        let probe = try comm.allreduce(try timedAllreduce() + timedLocalSum(), op: .max)
        let wanted = Int(options.secondsPerSize / max(probe, 1e-7))
        let iterations = min(options.maxIterations, max(options.minIterations, wanted))

        var allreduceTimes = [Double](repeating: 0, count: iterations)
        var localTimes = [Double](repeating: 0, count: iterations)
        for i in 0..<iterations {
            allreduceTimes[i] = try timedAllreduce()
            localTimes[i] = timedLocalSum()
        }
        // An iteration lasts as long as its slowest rank.
        try comm.allreduce(inPlace: &allreduceTimes, op: .max)
        try comm.allreduce(inPlace: &localTimes, op: .max)
        let seconds = median(allreduceTimes)
        let localSeconds = median(localTimes)
        let bytes = Double(count * 4)
        let n = Double(comm.size)
        let algbw = bytes / seconds / 1e9
        return Row(bytes: count * 4, iterations: iterations, seconds: seconds, algbwGBs: algbw,
                   busbwGBs: algbw * 2 * (n - 1) / n, localSeconds: localSeconds,
                   localGBs: bytes / localSeconds / 1e9)
    }

    /// The results as a terminal table.
    public static func render(_ rows: [Row], ranks: Int) -> String {
        let header = ["size", "iters", "time (us)", "algbw GB/s", "busbw GB/s", "local sum GB/s", "busbw / local"]
        let cells = rows.map { r in
            [ByteSize.format(r.bytes), String(r.iterations), String(format: "%.1f", r.seconds * 1e6),
             String(format: "%.2f", r.algbwGBs), String(format: "%.2f", r.busbwGBs),
             String(format: "%.2f", r.localGBs),
             ranks > 1 ? String(format: "%.2f", r.busbwGBs / r.localGBs) : "n/a"]
        }
        return TextTable(header: header, rows: cells).lines().joined(separator: "\n")
    }
}
