import Config
import Foundation
import Testing

/// Every numeric key's documented range is the one the parser checks: each bound is
/// accepted, a value just beyond it is refused naming the key and the range, for every key
/// of every section (read from the declarations, so a new key is tested as it is added).
struct ConfigRangeTests {
    static func document(_ key: String, _ value: String) -> String {
        let parts = key.split(separator: ".")
        return "[\(parts[0])]\n\(parts[1]) = \(value)\n"
    }

    /// A TOML float literal (always with a point or an exponent).
    static func float(_ v: Double) -> String {
        let s = String(format: "%.17g", v)
        return s.contains(".") || s.contains("e") ? s : s + ".0"
    }

    @Test func everyBoundIsAcceptedAndEveryValueBeyondItRefused() {
        var checked = 0
        for spec in RunConfig.keys where spec.type == "integer" || spec.type == "float" {
            let integer = spec.type == "integer"
            // Integers in Int arithmetic (2^62 + 1 is not a Double).
            var cases: [(String, Bool)] = []
            if let lo = spec.lowerBound {
                cases += integer ? [(String(Int(lo)), true), (String(Int(lo) - 1), false)]
                    : [(Self.float(lo), true), (Self.float(lo - max(abs(lo) * 0.5, 1e-3)), false)]
            }
            if let hi = spec.upperBound {
                cases += integer ? [(String(Int(hi)), true), (String(Int(hi) + 1), false)]
                    : [(Self.float(hi), true), (Self.float(hi + max(abs(hi) * 0.5, 1e-3)), false)]
            }
            for (text, ok) in cases {
                do {
                    _ = try RunConfig.parse(Self.document(spec.key, text), source: "r.toml")
                    #expect(ok, "\(spec.key) = \(text) accepted; documented range \(spec.allowed)")
                } catch {
                    #expect(!ok, "\(spec.key) = \(text) refused: \(error); documented range \(spec.allowed)")
                    #expect(error.key == spec.key && error.message.contains("out of range"), "\(error)")
                }
                checked += 1
            }
        }
        #expect(checked >= 40, "bounds checked: \(checked)")
    }

    @Test func documentedRangesSayWhatIsChecked() {
        let seed = RunConfig.keys.first { $0.key == "run.seed" }
        #expect(seed?.allowed == "0 ... 2^62" && seed?.upperBound == Double(1 << 62))
        let steps = RunConfig.keys.first { $0.key == "run.steps" }
        #expect(steps?.allowed == "1 ..." && steps?.upperBound == nil)
        let lr = RunConfig.keys.first { $0.key == "optim.lr" }
        #expect(lr?.allowed == "1e-12 ... 10")
    }
}
