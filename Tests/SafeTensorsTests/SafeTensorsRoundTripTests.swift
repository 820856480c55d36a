import Foundation
import SafeTensors
import Testing
import USOTestSupport

/// safetensors written here load in the `safetensors` Python package and back here, and
/// files written by that package (F32, F16, BF16) load here with the values numpy gives.
@Suite(.serialized)
struct SafeTensorsRoundTripTests {
    static var fixture: String {
        Bundle.module.url(forResource: "Fixtures/mixed_dtypes", withExtension: "safetensors")!.path
    }

    @Test func readsWhatThePythonPackageWrote() throws {
        let file = try SafeTensorsFile(path: Self.fixture)
        #expect(file.metadata["made_by"] == "Scripts/make_safetensors_fixture.py")
        #expect(try file.entry("values_f32").shape == [8, 8])
        #expect(try file.entry("values_bf16").dtype == .bf16)
        #expect(try file.entry("scalar_f32").shape == [])
        #expect(try file.read("scalar_f32") == [42.5])
        #expect(try file.read("empty_f32").isEmpty)
        for name in ["values_f16", "values_bf16"] {
            let got = try file.read(name), want = try file.read(name + "_as_f32")
            // Bit-for-bit, so -0, infinities and subnormals count too.
            #expect(got.map(\.bitPattern) == want.map(\.bitPattern), "\(name)")
        }
        #expect(try file.read("values_f32")[2] == 1)
    }

    func sample(_ n: Int, _ k: Float) -> [Float] { (0..<n).map { Float($0) * k - 3 } }

    func write(_ path: String) throws {
        try SafeTensorsWriter.write([
            .init(name: "double_blocks.0.img_attn.qkv.weight", shape: [3, 4], values: sample(12, 0.25)),
            .init(name: "b \"quoted\"", shape: [5], values: sample(5, -1.5)),
            .init(name: "empty", shape: [0, 2], values: []),
        ], metadata: ["format": "pt", "note": "line\nbreak"], to: path)
    }

    @Test func swiftRoundTrip() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.url.appendingPathComponent("t.safetensors").path
        try write(path)
        let file = try SafeTensorsFile(path: path)
        #expect(file.names == ["double_blocks.0.img_attn.qkv.weight", "b \"quoted\"", "empty"])
        #expect(try file.read("double_blocks.0.img_attn.qkv.weight") == sample(12, 0.25))
        #expect(try file.read("b \"quoted\"") == sample(5, -1.5))
        #expect(file.metadata == ["format": "pt", "note": "line\nbreak"])
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        let headerLength = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(headerLength % 8 == 0)
        #expect(size == 8 + Int(headerLength) + (12 + 5) * 4)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("tmp") }
        #expect(leftovers.isEmpty)
    }

    @Test func pythonPackageLoadsWhatSwiftWrote() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.url.appendingPathComponent("t.safetensors").path
        try write(path)
        let outcome = try Python.run("""
            import sys, numpy as np
            from safetensors import safe_open
            with safe_open(sys.argv[1], "np") as f:
                a = f.get_tensor("double_blocks.0.img_attn.qkv.weight")
                b = f.get_tensor('b "quoted"')
                e = f.get_tensor("empty")
                ok = (a.dtype == np.float32 and a.shape == (3, 4)
                      and np.array_equal(a.ravel(), np.arange(12, dtype=np.float32) * 0.25 - 3)
                      and np.array_equal(b, np.arange(5, dtype=np.float32) * -1.5 - 3)
                      and e.shape == (0, 2) and f.metadata() == {"format": "pt", "note": "line\\nbreak"})
                print("OK" if ok else f"MISMATCH {a} {b} {e.shape} {f.metadata()}")
            """, [path])
        #expect(outcome.exitCode == 0 && outcome.stdout == "OK\n", "\(outcome.transcript)")
    }

    @Test func failedWriteLeavesTheOldFileAndNoTemporary() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.url.appendingPathComponent("t.safetensors").path
        try write(path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            try SafeTensorsWriter.write([.init(name: "x", shape: [1], values: [1]), .init(name: "x", shape: [1], values: [1])], to: path)
            Issue.record("a duplicate name was written")
        } catch {
            #expect("\(error)" == "\(path): tensor \"x\": appears twice")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["t.safetensors"])
    }
}
