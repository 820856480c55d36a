import Foundation
import SafeTensors
import Testing
import USOTestSupport

/// Bad files are rejected at open, before tensor memory is allocated, with the file, the
/// tensor and what is wrong.
struct SafeTensorsValidationTests {
    /// A file with `header` as its JSON and `dataBytes` zero bytes of data; `claimedLength`
    /// overrides the length field.
    func file(_ header: String, dataBytes: Int, claimedLength: UInt64? = nil) throws -> (TemporaryDirectory, String) {
        let dir = try TemporaryDirectory()
        let path = dir.url.appendingPathComponent("bad.safetensors").path
        var bytes = Data()
        var length = (claimedLength ?? UInt64(header.utf8.count)).littleEndian
        withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: Array(header.utf8))
        bytes.append(Data(count: dataBytes))
        try bytes.write(to: URL(fileURLWithPath: path))
        return (dir, path)
    }

    func openError(_ header: String, dataBytes: Int, claimedLength: UInt64? = nil) throws -> (String, String) {
        let (dir, path) = try file(header, dataBytes: dataBytes, claimedLength: claimedLength)
        defer { dir.remove() }
        do {
            _ = try SafeTensorsFile(path: path)
            return (path, "opened")
        } catch {
            return (path, "\(error)")
        }
    }

    @Test func headerLongerThanTheFile() throws {
        let (path, e) = try openError("{}", dataBytes: 0, claimedLength: 1 << 40)
        #expect(e == "\(path): header claims 1099511627776 bytes but the file holds only 2 after the length")
    }

    @Test func offsetsPastTheData() throws {
        let (path, e) = try openError(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 8)
        #expect(e == "\(path): tensor \"w\": data_offsets [0, 16] extend past the 8 bytes of data in the file")
    }

    @Test func hugeShapeIsRejectedBeforeAllocation() throws {
        let (path, e) = try openError(#"{"w":{"dtype":"F32","shape":[100000,100000],"data_offsets":[0,8]}}"#, dataBytes: 8)
        #expect(e == "\(path): tensor \"w\": shape [100000, 100000] holds more elements than the file")
    }

    @Test func overlappingRanges() throws {
        let (path, e) = try openError(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, dataBytes: 12)
        #expect(e == "\(path): tensor \"b\": data_offsets [4, 12] overlap the previous tensor's bytes")
    }

    @Test func gapBetweenTensors() throws {
        let (path, e) = try openError(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, dataBytes: 12)
        #expect(e == "\(path): tensor \"b\": data_offsets start at 8, leaving a gap after byte 4")
    }

    @Test func unknownAndUnsupportedDtypes() throws {
        let (p1, e1) = try openError(#"{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4)
        #expect(e1 == "\(p1): tensor \"w\": unknown dtype \"Q4\"")
        let (p2, e2) = try openError(#"{"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, dataBytes: 8)
        #expect(e2 == "\(p2): tensor \"w\": dtype I64 is not supported here (F32, F16 and BF16 are)")
    }

    @Test func sizeDisagreesWithShape() throws {
        let (path, e) = try openError(#"{"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,4]}}"#, dataBytes: 4)
        #expect(e == "\(path): tensor \"w\": shape [3] of BF16 needs 6 bytes but data_offsets give 4")
    }

    @Test func truncatedData() throws {
        let (path, e) = try openError(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, dataBytes: 9)
        #expect(e == "\(path): tensor \"v\": data_offsets [8, 12] extend past the 9 bytes of data in the file")
    }

    @Test func trailingBytes() throws {
        let (path, e) = try openError(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 6)
        #expect(e == "\(path): the tensors cover 4 bytes of data but the file holds 6")
    }

    @Test func notJSON() throws {
        let (path, e) = try openError("{not json", dataBytes: 0)
        #expect(e == "\(path): the header is not a JSON object")
    }

    @Test func missingFileAndMissingTensor() throws {
        do {
            _ = try SafeTensorsFile(path: "/nonexistent/w.safetensors")
            Issue.record("opened a missing file")
        } catch {
            #expect("\(error)" == "/nonexistent/w.safetensors: cannot open the file")
        }
        let (dir, path) = try file(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4)
        defer { dir.remove() }
        let f = try SafeTensorsFile(path: path)
        #expect(throws: SafeTensorsError(path: path, tensor: "x", "not in the file")) { try f.read("x") }
        var small = [Float](repeating: 0, count: 2)
        #expect(throws: SafeTensorsError(path: path, tensor: "w", "holds 1 elements (shape [1]), expected 2")) {
            try small.withUnsafeMutableBufferPointer { try f.read("w", into: $0) }
        }
    }
}
