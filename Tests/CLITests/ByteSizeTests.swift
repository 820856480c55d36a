import Diagnostics
import Testing

struct ByteSizeTests {
    @Test func parsesBinarySuffixes() {
        #expect(ByteSize.parse("4KiB") == 4096)
        #expect(ByteSize.parse("256MiB") == 256 << 20)
        #expect(ByteSize.parse("1G") == 1 << 30)
        #expect(ByteSize.parse("4096") == 4096)
        #expect(ByteSize.parse("12 kb") == 12 << 10)
        #expect(ByteSize.parse("lots") == nil)
        #expect(ByteSize.parse("4XB") == nil)
    }

    @Test func formatsForPeople() {
        #expect(ByteSize.format(4096) == "4 KiB")
        #expect(ByteSize.format(256 << 20) == "256 MiB")
        #expect(ByteSize.format(1536 << 10) == "1.5 MiB")
        #expect(ByteSize.format(100) == "100 B")
    }
}
