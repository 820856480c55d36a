import Foundation
import HDF5Kit
import Testing

/// The linked HDF5 is the one the headers describe, and the one h5dump reports.
struct HDF5LibraryTests {
    @Test func linkedLibraryMatchesHeaders() {
        #expect(HDF5Library.versionString == HDF5Library.headerVersionString)
        #expect(HDF5Library.version.major == 1)
        #expect(HDF5Library.version.minor >= 10)
    }

    @Test func h5dumpReportsTheSameVersion() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/h5dump")
        process.arguments = ["--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(output.contains("Version \(HDF5Library.versionString)"), "\(output)")
    }
}
