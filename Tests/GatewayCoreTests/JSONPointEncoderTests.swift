import Testing

@testable import GatewayCore

@Suite("JSON points: encoder")
struct JSONPointEncoderTests {
    let encoder = JSONPointEncoder()

    @Test func encodesEveryFieldTypeAndEscapesStrings() {
        let point = Point(
            series: "c\"pu", time: 1_700_000_000_123_456_789, tags: [Tag("host", "a\\b")],
            fields: [
                Field("v", .float(1)), Field("n", .int(-2)), Field("u", .uint(.max)), Field("b", .bool(true)),
                Field("s", .string("q\"\\\n\r\t\u{1}\u{1F}é")),
            ])
        #expect(
            encoder.line(point)
                == #"{"series":"c\"pu","time":1700000000.123456789,"tags":{"host":"a\\b"},"fields":{"v":1.0,"n":-2,"u":18446744073709551615,"b":true,"s":"q\"\\\n\r\t\u0001\u001fé"}}"#
        )
    }

    @Test func encodesAPointWithoutTags() {
        #expect(encoder.line(pointF("m", time: 0)) == #"{"series":"m","time":0,"tags":{},"fields":{"f":1.0}}"#)
    }

    @Test(arguments: [
        (Int64(0), "0"),
        (1, "0.000000001"),
        (-1, "-0.000000001"),
        (1_500_000_000, "1.5"),
        (-1_500_000_000, "-1.5"),
        (1_000_000_000, "1"),
        (1_700_000_000_000_000_100, "1700000000.0000001"),
        (.max, "9223372036.854775807"),
        (.min, "-9223372036.854775808"),
    ])
    func encodesTimeAsExactDecimalSeconds(_ time: Int64, _ text: String) {
        #expect(encoder.line(pointF("m", time: time)).contains(#""time":\#(text),"#))
        #expect(oneJSONPoint(encoder.line(pointF("m", time: time)))?.time == time)
    }

    @Test func encodeIntoAppendsOneLinePerPoint() {
        var out: [UInt8] = []
        encoder.encode(pointF("a"), into: &out)
        encoder.encode(pointF("b"), into: &out)
        let (points, errors) = json(bytes: out)
        #expect(errors.isEmpty)
        #expect(points.map(\.series) == ["a", "b"])
        #expect(out.filter { $0 == UInt8(ascii: "\n") }.count == 2)
    }

    @Test func randomPointsRoundTripThroughJSONExactly() {
        var generator = PointGenerator(seed: 0x150E_0001)
        var body: [UInt8] = []
        let points = (0..<2_000).map { _ in generator.point() }
        for point in points { encoder.encode(point, into: &body) }
        let (decoded, errors) = json(bytes: body)
        #expect(errors.isEmpty, "\(errors.prefix(3))")
        #expect(decoded.count == points.count)
        var mismatches = 0
        for (original, copy) in zip(points, decoded) where !identical(Self.asJSONSeesIt(original), copy) {
            mismatches += 1
            if mismatches <= 3 { Issue.record("round trip changed\n  \(original)\n  \(copy)") }
        }
        #expect(mismatches == 0)
    }

    /// JSON numbers carry no signedness: an unsigned value that fits Int64 comes back as an int.
    static func asJSONSeesIt(_ point: Point) -> Point {
        var point = point
        for i in point.fields.indices {
            if case .uint(let v) = point.fields[i].value, v <= UInt64(Int64.max) {
                point.fields[i].value = .int(Int64(v))
            }
        }
        return point
    }

    @Test func unsignedValuesThatFitInt64ComeBackAsInt() {
        let point = Point(series: "m", time: 0, fields: [Field("small", .uint(5)), Field("big", .uint(.max))])
        let decoded = oneJSONPoint(encoder.line(point))
        #expect(decoded?.field("small") == .int(5))
        #expect(decoded?.field("big") == .uint(.max))
    }

    @Test func appendJSONStringEscapesControlCharacters() {
        var out: [UInt8] = []
        JSONPointEncoder.appendJSONString("a\u{0}\u{8}\u{C}\u{7F}", to: &out)
        #expect(String(decoding: out, as: UTF8.self) == #""a\u0000\u0008\u000c\#u{7F}""#)
    }
}

@Suite("Glob")
struct GlobTests {
    static let cases: [(String, String, Bool)] = [
        ("*", "", true),
        ("*", "anything at all", true),
        ("cpu", "cpu", true),
        ("cpu", "cpu2", false),
        ("cpu", "cp", false),
        ("", "", true),
        ("", "a", false),
        ("cpu*", "cpu", true),
        ("cpu*", "cpu_load", true),
        ("cpu*", "xcpu", false),
        ("*_time", "execution_time", true),
        ("*_time", "execution_times", false),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "abc", true),
        ("a*b*c", "acb", false),
        ("a*b", "aaabbb", true),
        ("**", "x", true),
        ("?", "a", true),
        ("?", "", false),
        ("?", "ab", false),
        ("?", "é", false),  // one byte, and "é" is two
        ("??", "é", true),
        ("[abc]x", "bx", true),
        ("[abc]x", "dx", false),
        ("[a-c]", "b", true),
        ("[a-c]", "d", false),
        ("[!a-c]", "d", true),
        ("[!a-c]", "a", false),
        ("[^x]", "y", true),
        ("[]]", "]", true),
        ("[!]]", "]", false),
        ("[a-]", "-", true),
        ("[ab", "[ab", true),  // no closing ']': a literal '['
        ("[ab", "a", false),
        (#"\*"#, "*", true),
        (#"\*"#, "x", false),
        (#"a\?"#, "a?", true),
        (#"a\?"#, "ab", false),
        (#"a\"#, #"a\"#, true),  // a trailing backslash is literal
        ("service.*.requests", "service.luna.requests", true),
        ("service.*.requests", "service.luna.errors", false),
    ]

    @Test(arguments: cases)
    func matches(_ pattern: String, _ text: String, _ expected: Bool) {
        #expect(Glob(pattern).matches(text) == expected)
    }

    @Test func onlyTheLoneStarMatchesEverything() {
        #expect(Glob("*").matchesEverything)
        #expect(!Glob("**").matchesEverything)
        #expect(!Glob("cpu").matchesEverything)
        #expect(Glob("a*").description == "a*")
    }

    @Test func starBacktrackingStaysFastOnAdversarialInput() {
        let text = String(repeating: "a", count: 5_000)
        #expect(!Glob("*a*a*a*a*a*b").matches(text))
        #expect(Glob("*a*a*a*a*a*").matches(text))
    }
}
