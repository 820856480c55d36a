import TensorCore
import Testing

/// OpenBLAS is the real library, and its thread count can be set per rank.
struct BLASRuntimeTests {
    @Test func configurationNamesOpenBLAS() {
        #expect(BLASRuntime.configuration.hasPrefix("OpenBLAS 0."), "\(BLASRuntime.configuration)")
        #expect(!BLASRuntime.coreName.isEmpty)
    }

    @Test func threadCountCanBeSet() {
        let before = BLASRuntime.threadCount
        BLASRuntime.setThreadCount(1)
        #expect(BLASRuntime.threadCount == 1)
        BLASRuntime.setThreadCount(before)
        #expect(BLASRuntime.threadCount == before)
    }
}

/// The element-wise kernels against plain per-element arithmetic.
struct ElementwiseKernelTests {
    @Test(arguments: [0, 1, 7, 16, 1000, 4099])
    func addMatchesElementByElement(count: Int) {
        let x = (0..<count).map { Float($0) * 0.5 - 3 }
        var y = (0..<count).map { Float($0 % 11) }
        let want = zip(x, y).map { $0 + $1 }
        x.withUnsafeBufferPointer { xs in
            y.withUnsafeMutableBufferPointer { ys in ElementwiseKernels.add(xs, into: ys) }
        }
        #expect(y == want)
    }

    @Test func fillSetsEveryElement() {
        var y = [Float](repeating: 1, count: 33)
        y.withUnsafeMutableBufferPointer { ElementwiseKernels.fill($0, with: -2) }
        #expect(y.allSatisfy { $0 == -2 })
    }
}
