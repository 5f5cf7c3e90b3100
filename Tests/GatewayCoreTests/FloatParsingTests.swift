import Testing

@testable import GatewayCore

/// The decoder's own float parser (an exact fast path, strtod otherwise) must agree bit for bit with
/// Swift's correctly rounded `Double(String)` on every spelling line protocol allows.
@Suite("Line protocol: float parsing") struct FloatParsingTests {
    func parse(_ text: String) -> Double? {
        Array(text.utf8).withUnsafeBufferPointer { LineParser.parseFloat($0) }
    }

    @Test func randomDecimals_matchSwiftsCorrectlyRoundedParser() {
        var random = SeededGenerator(seed: 0xF10A7)
        for _ in 0..<50_000 {
            let intDigits = Int(random.next() % 12)
            let fracDigits = Int(random.next() % 12)
            var text = random.next() % 4 == 0 ? "-" : ""
            text += intDigits == 0 ? "0" : String((0..<intDigits).map { _ in Character(String(random.next() % 10)) })
            if fracDigits > 0 {
                text += "." + String((0..<fracDigits).map { _ in Character(String(random.next() % 10)) })
            }
            if random.next() % 3 == 0 {
                let exponent = Int(random.next() % 60) - 30
                text += "e\(exponent)"
            }
            let expected = Double(text)!
            let parsed = parse(text)
            #expect(parsed?.bitPattern == expected.bitPattern, "\(text): \(String(describing: parsed)) vs \(expected)")
            if parsed?.bitPattern != expected.bitPattern { return }
        }
    }

    @Test(arguments: [
        "0.1", "0.2", "0.3", "1e22", "1e23", "9007199254740993", "9007199254740992.5", "123456789012345678901234",
        "1.7976931348623157e308", "4.9e-324", "2.2250738585072014e-308", "-0.0", "0.000000000000000000000000001",
        "3.14159265358979323846264338327950288",
    ])
    func hardCases_matchSwiftsParser(text: String) {
        #expect(parse(text)?.bitPattern == Double(text)!.bitPattern)
    }

    @Test(arguments: ["1e309", "-1e309", "1e", ".", "-", "1..2", "1e+", "+1", "0x10", "1_000"])
    func invalidOrInfinite_isRejected(text: String) {
        #expect(parse(text) == nil)
    }
}
