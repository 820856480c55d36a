import Foundation
import HDF5Kit
import Testing
import USOTestSupport

/// Datasets, strings and attributes round trip; partial row reads land at the right offsets;
/// h5py reads what this writes; bad files fail with the file and the object named.
@Suite(.serialized)
struct HDF5FileTests {
    func withFile<R>(_ body: (String) throws -> R) throws -> R {
        let dir = try TemporaryDirectory(prefix: "uso-h5")
        defer { dir.remove() }
        return try body(dir.url.appendingPathComponent("t.h5").path)
    }

    @Test func consecutiveIntegersReadBackAtEveryOffset() throws {
        try withFile { path in
            // 10 rows of 3 x 4: element k holds k, so a read at a wrong offset shows.
            let values = (0..<120).map { Int32($0) }
            let f = try HDF5File.create(path)
            let d = try f.createDataset("ints", kind: .int32, shape: [10, 3, 4], chunk: [1, 3, 4])
            try values.withUnsafeBufferPointer { try d.write($0) }
            try f.close()
            let g = try HDF5File.open(path)
            let r = try g.dataset("ints")
            #expect(r.shape == [10, 3, 4] && r.kind == .int32 && r.rowSize == 12)
            #expect(try r.read(Int32.self) == values)
            for start in 0..<10 {
                for end in start...10 {
                    #expect(try r.read(Int32.self, rows: start..<end) == Array(values[(start * 12)..<(end * 12)]))
                }
            }
        }
    }

    @Test func everyKindStringsAndAttributesRoundTrip() throws {
        try withFile { path in
            let f = try HDF5File.create(path)
            let bytes: [UInt8] = [0, 1, 255, 128]
            let longs: [Int64] = [-1, Int64.max, 0]
            let floats: [Float] = [1.5, -0.0, .infinity]
            let doubles: [Double] = [1e300, -2]
            try bytes.withUnsafeBufferPointer { try f.createDataset("u8", kind: .uint8, shape: [4]).write($0) }
            try longs.withUnsafeBufferPointer { try f.createDataset("i64", kind: .int64, shape: [3]).write($0) }
            try floats.withUnsafeBufferPointer { try f.createDataset("f32", kind: .float32, shape: [3]).write($0) }
            try doubles.withUnsafeBufferPointer { try f.createDataset("f64", kind: .float64, shape: [2]).write($0) }
            let strings = ["a red robot", "", "ünïcödé ✓", String(repeating: "x", count: 500)]
            let s = try f.writeStrings("prompts", strings)
            try s.setAttribute("checksum", "abc123")
            try f.setAttribute("format", "uso-triplets")
            try f.setAttribute("format_version", 3)
            try f.close()
            let g = try HDF5File.open(path)
            #expect(g.names == ["f32", "f64", "i64", "prompts", "u8"])
            #expect(try g.dataset("u8").read(UInt8.self) == bytes)
            #expect(try g.dataset("i64").read(Int64.self) == longs)
            #expect(try g.dataset("f32").read(Float.self).map(\.bitPattern) == floats.map(\.bitPattern))
            #expect(try g.dataset("f64").read(Double.self) == doubles)
            #expect(try g.dataset("prompts").readStrings() == strings)
            #expect(try g.dataset("prompts").stringAttribute("checksum") == "abc123")
            #expect(try g.stringAttribute("format") == "uso-triplets")
            #expect(try g.intAttribute("format_version") == 3)
            #expect(try g.stringAttribute("missing") == nil)
        }
    }

    @Test func h5pyReadsWhatThisWrites() throws {
        try withFile { path in
            let f = try HDF5File.create(path)
            let values = (0..<24).map { UInt8($0) }
            let d = try f.createDataset("images", kind: .uint8, shape: [2, 2, 2, 3], chunk: [1, 2, 2, 3])
            try values.withUnsafeBufferPointer { try d.write($0) }
            try d.setAttribute("checksum", "deadbeef")
            _ = try f.writeStrings("prompt", ["one", "two ✓"])
            try f.setAttribute("format_version", 1)
            try f.close()
            let out = try Python.run("""
                import sys, h5py, numpy as np
                with h5py.File(sys.argv[1], "r") as f:
                    img = f["images"][...]
                    ok = (img.dtype == np.uint8 and img.shape == (2, 2, 2, 3)
                          and np.array_equal(img.ravel(), np.arange(24, dtype=np.uint8))
                          and f["images"].attrs["checksum"] == "deadbeef"
                          and [p.decode() if isinstance(p, bytes) else p for p in f["prompt"][...]] == ["one", "two ✓"]
                          and int(f.attrs["format_version"]) == 1)
                    print("OK" if ok else "BAD")
                """, [path])
            #expect(out.exitCode == 0 && out.stdout == "OK\n", "\(out.transcript)")
        }
    }

    @Test func badFilesAndMisusesNameTheFileAndObject() throws {
        try withFile { path in
            #expect(throws: HDF5Error(path: path, "no such file")) { try HDF5File.open(path) }
            try Data("not hdf5 at all".utf8).write(to: URL(fileURLWithPath: path))
            do {
                _ = try HDF5File.open(path)
                Issue.record("opened a text file as HDF5")
            } catch {
                #expect("\(error)".hasPrefix("\(path): not a readable HDF5 file (truncated or corrupted?)"), "\(error)")
            }
            let f = try HDF5File.create(path)
            let d = try f.createDataset("x", kind: .int32, shape: [2, 2])
            #expect(throws: HDF5Error(path: path, object: "x", "holds int32, not uint8")) { try d.read(UInt8.self) }
            #expect(throws: HDF5Error(path: path, object: "x", "rows 1..<3 are outside its 2 rows")) { try d.read(Int32.self, rows: 1..<3) }
            #expect(throws: HDF5Error(path: path, object: "nope", "no such dataset")) { try f.dataset("nope") }
            try f.close()
        }
    }

    @Test func truncatedFileIsRejected() throws {
        try withFile { path in
            let f = try HDF5File.create(path)
            let values = [UInt8](repeating: 7, count: 100_000)
            try values.withUnsafeBufferPointer { try f.createDataset("big", kind: .uint8, shape: [100, 1000], chunk: [1, 1000]).write($0) }
            try f.close()
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
            do {
                let g = try HDF5File.open(path)
                _ = try g.dataset("big").read(UInt8.self)
                Issue.record("read a truncated file")
            } catch {
                #expect("\(error)".hasPrefix(path), "\(error)")
            }
        }
    }
}
