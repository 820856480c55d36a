import TensorCore
import Testing

/// The counter-based generator: Random123's known answers, and the stream properties the
/// trainer relies on (keyed by seed, purpose and id; skippable; well distributed).
struct PhiloxTests {
    @Test("Random123 kat_vectors, philox4x32 10", arguments: [
        ((0, 0, 0, 0), (0, 0), (0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8)),
        ((0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff), (0xffff_ffff, 0xffff_ffff),
         (0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd)),
        ((0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), (0xa409_3822, 0x299f_31d0),
         (0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1)),
    ] as [((UInt32, UInt32, UInt32, UInt32), (UInt32, UInt32), (UInt32, UInt32, UInt32, UInt32))])
    func knownAnswers(counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32), want: (UInt32, UInt32, UInt32, UInt32)) {
        let got = Philox4x32.block(counter, key: key)
        #expect([got.0, got.1, got.2, got.3] == [want.0, want.1, want.2, want.3])
    }

    @Test func sameKeySameNumbersOtherKeysOtherNumbers() {
        func draw(_ seed: UInt64, _ p: RandomPurpose, _ id: UInt64) -> [UInt32] {
            var s = RandomStream(seed: seed, purpose: p, id: id)
            return (0..<16).map { _ in s.nextUInt32() }
        }
        #expect(draw(42, .noise, 7) == draw(42, .noise, 7))
        #expect(draw(42, .noise, 7) != draw(43, .noise, 7))
        #expect(draw(42, .noise, 7) != draw(42, .timestep, 7))
        #expect(draw(42, .noise, 7) != draw(42, .noise, 8))
        #expect(draw(42, .noise, 1 << 40) != draw(42, .noise, 0))
    }

    @Test func streamIsItsBlocksInOrder() {
        var s = RandomStream(seed: 9, purpose: .noise, id: 3)
        let drawn = (0..<12).map { _ in s.nextUInt32() }
        var fromBlocks: [UInt32] = []
        for b in 0..<3 {
            let w = s.words(atBlock: UInt64(b))
            fromBlocks += [w.0, w.1, w.2, w.3]
        }
        #expect(drawn == fromBlocks)
        #expect(s.block == 3)
    }

    @Test func normalsHaveUnitVarianceAndUniformsFillTheInterval() {
        var s = RandomStream(seed: 1, purpose: .noise, id: 0)
        let n = 200_000
        var sum = 0.0, sumSq = 0.0, sum4 = 0.0
        for _ in 0..<n {
            let x = Double(s.nextNormal())
            sum += x; sumSq += x * x; sum4 += x * x * x * x
        }
        let mean = sum / Double(n), variance = sumSq / Double(n) - mean * mean
        #expect(abs(mean) < 0.01, "mean \(mean)")
        #expect(abs(variance - 1) < 0.02, "variance \(variance)")
        #expect(abs(sum4 / Double(n) - 3) < 0.1, "fourth moment \(sum4 / Double(n))")
        var buckets = [Int](repeating: 0, count: 10)
        for _ in 0..<n {
            let u = s.nextUniform()
            #expect(u >= 0 && u < 1)
            buckets[Int(u * 10)] += 1
        }
        #expect(buckets.allSatisfy { abs($0 - n / 10) < n / 100 }, "\(buckets)")
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[s.nextInt(below: 7)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 500 }, "\(counts)")
    }
}
