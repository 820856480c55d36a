@testable import Comm
import Testing

/// Error texts: they are what a user reads when a job stops.
struct CommErrorTests {
    @Test func deadlineNamesOperationPeerAndTime() {
        let e = CommError.deadlineExceeded(operation: "MPI_Irecv(world, from 3, tag 7, up to 8 x float32)", peer: 3, seconds: 0.25)
        #expect("\(e)" == "MPI_Irecv(world, from 3, tag 7, up to 8 x float32) with rank 3 did not complete within its deadline of 250 ms")
        let long = CommError.deadlineExceeded(operation: "MPI_Ibarrier(world)", peer: nil, seconds: 61.5)
        #expect("\(long)" == "MPI_Ibarrier(world) did not complete within its deadline of 61.50 s")
    }

    @Test func threadLevelsAreOrderedAsInMPI() {
        #expect(ThreadLevel.single < .funneled)
        #expect(ThreadLevel.funneled < .serialized)
        #expect(ThreadLevel.serialized < .multiple)
        #expect(MPIRuntime.designThreadLevel == .funneled)
        let e = CommError.threadLevelTooLow(required: .funneled, provided: .single)
        #expect("\(e)".contains("MPI_THREAD_SINGLE but this program needs MPI_THREAD_FUNNELED"))
    }

    @Test func countsBeyondInt32AreRejectedBeforeMPI() throws {
        #expect(throws: CommError.self) { try mpiCount(Int(Int32.max) + 1, "MPI_Send") }
        #expect(try mpiCount(12, "MPI_Send") == 12)
    }

    @Test func sharedBufferHoldsItsValues() {
        let b = SharedBuffer([Float(1), 2, 3])
        #expect(b.count == 3)
        #expect(b.toArray() == [1, 2, 3])
        b.assign([9, 8], at: 1)
        #expect(b.toArray() == [1, 9, 8])
        #expect(b.toArray(1..<2) == [9])
        #expect(Int(bitPattern: b.unsafeMutableBufferPointer.baseAddress) % 64 == 0)
        #expect(SharedBuffer<Int64>(count: 0).toArray().isEmpty)
    }
}
