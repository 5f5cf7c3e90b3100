import Testing

@testable import GatewayCore

@Suite("Line protocol: encoder")
struct LineProtocolEncoderTests {
    let encoder = LineProtocolEncoder()

    // MARK: Escaping

    static let lines: [(Point, String)] = [
        // Backslashes are written as they are: InfluxDB reads `\\` in a name as two backslashes.
        (pointF(#"a b,c=d\e"#), #"a\ b\,c=d\e f=1 0"#),
        (pointF("m", tags: [Tag(#"k ,=\x"#, #"v ,=\\,y"#)]), #"m,k\ \,\=\x=v\ \,\=\\\,y f=1 0"#),
        (Point(series: "m", time: 0, fields: [Field(#"f ,=\x"#, .float(1))]), #"m f\ \,\=\x=1 0"#),
        (pointF(#"q"uote"#, tags: [Tag("t'", #"x"y"#)]), #"q"uote,t'=x"y f=1 0"#),
        (pointF("温度", tags: [Tag("城市", "東京")]), "温度,城市=東京 f=1 0"),
        (pointF("m", .string(#"say "hi" \ now"# + "\nnext")), #"m f="say \"hi\" \\ now"# + "\n" + #"next" 0"#),
        (pointF("m", .string("")), #"m f="" 0"#),
        (pointF("m", .string(#"a\"#)), #"m f="a\\" 0"#),
        (pointF("m", .int(42)), "m f=42i 0"),
        (pointF("m", .int(-7)), "m f=-7i 0"),
        (pointF("m", .int(.min)), "m f=-9223372036854775808i 0"),
        (pointF("m", .int(.max)), "m f=9223372036854775807i 0"),
        (pointF("m", .uint(0)), "m f=0u 0"),
        (pointF("m", .uint(.max)), "m f=18446744073709551615u 0"),
        (pointF("m", .bool(true)), "m f=true 0"),
        (pointF("m", .bool(false)), "m f=false 0"),
        (pointF("m", time: -5), "m f=1 -5"),
        (pointF("m", time: .min), "m f=1 -9223372036854775808"),
        (pointF("m", time: 1_700_000_000_123_456_789), "m f=1 1700000000123456789"),
        (
            Point(
                series: "m", time: 1, tags: [Tag("b", "2"), Tag("a", "1")],
                fields: [Field("y", .int(1)), Field("x", .float(2.5))]),
            "m,a=1,b=2 y=1i,x=2.5 1"
        ),
    ]

    @Test(arguments: lines)
    func encodesLine(_ point: Point, _ expected: String) {
        let line = encoder.line(point)
        #expect(line == expected)
        let (points, errors) = lp(line)
        #expect(errors.isEmpty)
        #expect(points.count == 1 && identical(points[0], point), "decoded \(points)")
    }

    @Test func encodesABatchAsOneLinePerPoint() {
        let body = encoder.encode([pointF("a", time: 1), pointF("b", time: 2)])
        #expect(String(decoding: body, as: UTF8.self) == "a f=1 1\nb f=1 2\n")
        #expect(encoder.encode([Point]()).isEmpty)
    }

    @Test func encodeIntoAppends() {
        var out = Array("prefix\n".utf8)
        encoder.encode(pointF("a", time: 3), into: &out)
        #expect(String(decoding: out, as: UTF8.self) == "prefix\na f=1 3\n")
    }

    @Test(arguments: [
        (Precision.nanoseconds, Int64(1_700_000_000_123_456_789), "1700000000123456789"),
        (.microseconds, 1_700_000_000_123_456_789, "1700000000123456"),
        (.milliseconds, 1_700_000_000_123_456_789, "1700000000123"),
        (.seconds, 1_700_000_000_123_456_789, "1700000000"),
        (.seconds, -3_000_000_000, "-3"),
    ])
    func encodesTimeInItsPrecision(_ precision: Precision, _ time: Int64, _ text: String) {
        #expect(LineProtocolEncoder(precision: precision).line(pointF("m", time: time)) == "m f=1 \(text)")
    }

    // MARK: Floats

    static let floatTexts: [(Double, String)] = [
        (0, "0"),
        (-0.0, "-0"),
        (3, "3"),
        (-2, "-2"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (1e-5, "1e-05"),
        (1e20, "1e+20"),
        (1e300, "1e+300"),
        (.leastNonzeroMagnitude, "5e-324"),
        (999_999_999_999_999, "999999999999999"),
        (-123.25, "-123.25"),
    ]

    @Test(arguments: floatTexts)
    func encodesFloatText(_ value: Double, _ text: String) {
        #expect(encoder.line(pointF("m", .float(value))) == "m f=\(text) 0")
    }

    static let floats: [Double] = [
        0, -0.0, 0.1, 0.2, 0.30000000000000004, 1e-5, 1e300, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, 3,
        1e20, -1e20, 1e15, 1e15 - 1, -(1e15 - 1), 9_007_199_254_740_994, 123_456.789, 1.0 / 3.0, -2.5e-300,
        .greatestFiniteMagnitude,
        -.greatestFiniteMagnitude, .leastNormalMagnitude, .leastNonzeroMagnitude, .pi, 4.35, 1e-7, 1e16, 12345.0,
    ]

    @Test(arguments: floats)
    func floatRoundTripsBitForBit(_ value: Double) {
        let line = encoder.line(pointF("m", .float(value)))
        guard case .float(let decoded)? = fieldValue(line) else {
            Issue.record("\(line) did not decode to a float")
            return
        }
        #expect(decoded.bitPattern == value.bitPattern, "\(value) -> \(line) -> \(decoded)")
    }

    /// The fast path for values with up to three decimals prints what Swift's shortest round-trip
    /// printer prints, and reads back bit for bit.
    @Test func floatsWithFewDecimalsPrintAsSwiftDoes_andRoundTrip() {
        var rng = SeededGenerator(seed: 0xF10A_7001)
        for _ in 0..<50_000 {
            let magnitude = [10, 1_000, 1_000_000, 1_000_000_000, 999_999_999_999_999].randomElement(using: &rng)!
            var value = Double(Int64.random(in: -Int64(magnitude)...Int64(magnitude), using: &rng)) / 1000
            if Bool.random(using: &rng) { value = Double(Float(value)) }  // not a short decimal: the slow path
            let text = String(decoding: LineProtocolEncoder().encode([pointF("m", .float(value))]), as: UTF8.self)
            let printed = text.dropFirst(4).prefix(while: { $0 != " " })
            let expected =
                value == value.rounded(.towardZero) && abs(value) < 1e15
                ? String(Int64(value)) : value.description
            #expect(printed == expected || (value == 0 && printed == (value.sign == .minus ? "-0" : "0")), "\(value)")
            #expect(Double(String(printed))?.bitPattern == value.bitPattern, "\(value) printed as \(printed)")
        }
    }

    /// A batch copies the key section written for an earlier point with the same tag array and
    /// series; a different series with the same array, or equal tags in another array, are written anew.
    @Test func batchesReuseKeySectionsOnlyForTheSameTagArrayAndSeries() {
        let shared = [Tag("a", "1"), Tag("b", "x y")]
        let points = [
            Point(series: "x", time: 1, tags: shared, fields: [Field("f", .int(1))]),
            Point(series: "y", time: 2, tags: shared, fields: [Field("f", .int(2))]),
            Point(series: "x", time: 3, tags: shared, fields: [Field("f", .int(3))]),
            Point(series: "x", time: 4, tags: [Tag("a", "1"), Tag("b", "x y")], fields: [Field("f", .int(4))]),
            Point(series: "x", time: 5, fields: [Field("f", .int(5))]),
        ]
        #expect(
            String(decoding: encoder.encode(points), as: UTF8.self) == """
                x,a=1,b=x\\ y f=1i 1
                y,a=1,b=x\\ y f=2i 2
                x,a=1,b=x\\ y f=3i 3
                x,a=1,b=x\\ y f=4i 4
                x f=5i 5

                """)
    }

    @Test func batchesOfCachedDecodesEncodeAsPointsOneByOne() {
        var generator = PointGenerator(seed: 0x5EED_0E01)
        let distinct = (0..<200).map { _ in generator.point() }
        let body = encoder.encode((0..<3_000).map { distinct[$0 * 7 % 200] })
        var decoded: [Point] = []
        var errors: [PointError] = []
        body.withUnsafeBytes {
            LineProtocolDecoder().decode(
                $0, receiveTime: 0, into: &decoded, errors: &errors, cache: SeriesCache(slots: 64))
        }
        #expect(errors.isEmpty)
        var oneByOne: [UInt8] = []
        for point in decoded { encoder.encode(point, into: &oneByOne) }
        #expect(encoder.encode(decoded) == oneByOne)
        #expect(encoder.encode(PointBatch(chunks: [Array(decoded[..<1_000]), Array(decoded[1_000...])])) == oneByOne)
        #expect(oneByOne == body)
    }

    // MARK: Property: decode(encode(p)) == p

    @Test func randomPointsRoundTripExactly() {
        var generator = PointGenerator(seed: 0x5EED_0001)
        let points = (0..<3_000).map { _ in generator.point() }
        let body = encoder.encode(points)
        let (decoded, errors) = LineProtocolDecoder().decode(body)
        #expect(errors.isEmpty, "\(errors.prefix(3))")
        #expect(decoded.count == points.count)
        var mismatches = 0
        for (original, copy) in zip(points, decoded) where !identical(original, copy) {
            mismatches += 1
            if mismatches <= 3 {
                Issue.record(
                    "round trip changed\n  \(original)\n  \(copy)\n  line: \(encoder.line(original).debugDescription)")
            }
        }
        #expect(mismatches == 0)
    }

    @Test func randomPointsRoundTripOneLineAtATime() {
        var generator = PointGenerator(seed: 0x5EED_0002)
        for _ in 0..<500 {
            let point = generator.point()
            let (decoded, errors) = lp(encoder.line(point))
            #expect(errors.isEmpty)
            #expect(decoded.count == 1 && identical(decoded[0], point), "\(point)")
        }
    }

    @Test(arguments: Precision.allCases)
    func randomPointsRoundTripInEveryPrecision(_ precision: Precision) {
        var generator = PointGenerator(seed: 0x5EED_0003)
        let points = (0..<300).map { _ in
            var point = generator.point()
            point.time = point.time / precision.multiplier * precision.multiplier
            return point
        }
        let body = LineProtocolEncoder(precision: precision).encode(points)
        let (decoded, errors) = LineProtocolDecoder(precision: precision).decode(body)
        #expect(errors.isEmpty)
        #expect(decoded.count == points.count)
        #expect(zip(points, decoded).allSatisfy { identical($0, $1) })
    }

    @Test func generatorCoversTheHardCases() {
        // Guards the property test against a generator that silently stops producing hard input.
        var generator = PointGenerator(seed: 0x5EED_0001)
        let bytes = encoder.encode((0..<3_000).map { _ in generator.point() })
        // Byte search: String.contains matches whole characters, and "\r\n" is one character.
        let body = ByteString(bytes)
        for needle in [#"\ "#, #"\,"#, #"\="#, #"\\"#, #"\""#, "é", "🙂", "\n", "\r\n", "i ", "u,", "e-3", "e+"] {
            #expect(body.contains(needle), "no \(needle.debugDescription) in the generated body")
        }
        #expect(body.contains("=-0,") || body.contains("=-0 "), "no negative zero")
    }
}

/// Random valid points: names with spaces, commas, equals, backslashes, quotes and unicode; every field
/// type with its edge values; times across the whole range.
struct PointGenerator {
    var rng: SeededGenerator

    init(seed: UInt64) { rng = SeededGenerator(seed: seed) }

    static let nameCharacters: [String] = [
        "a", "b", "c", "x", "Z", "0", "7", "_", "-", ".", "/", ":", " ", " ", ",", ",", "=", "=", #"\"#, #"\"#,
        #"""#, "'", "#", "é", "ß", "Ω", "温", "度", "🙂", "{", "[",
    ]
    static let stringCharacters: [String] =
        nameCharacters + ["\t", "\n", "\r\n", "\r", #"\\"#, #"\""#, #"\n"#, "\u{0}", "\u{7F}", "\u{FFFD}", "\u{85}"]

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }

    mutating func text(from alphabet: [String], length: ClosedRange<Int>) -> String {
        var s = ""
        for _ in 0..<int(length) { s += alphabet.randomElement(using: &rng)! }
        return s
    }

    /// A non-empty name the decoders accept (``NameRules``): no control characters, no series that
    /// begins with `#` (line protocol would read a comment), and a spelling in line protocol (no
    /// trailing backslash, no odd run of them before a separator).
    mutating func name(series: Bool = false) -> String {
        var s = text(from: Self.nameCharacters, length: 1...10)
        while NameRules.lineProtocolProblem(s, measurement: series) != nil {
            s = text(from: Self.nameCharacters, length: 1...10)
        }
        if series, s.hasPrefix("#") { s = "s" + s }
        return s
    }

    mutating func double() -> Double {
        switch int(0...5) {
        case 0:
            while true {
                let d = Double(bitPattern: rng.next())
                if d.isFinite { return d }
            }
        case 1: return Double(int(-1_000_000...1_000_000))
        case 2: return Double.random(in: -1...1, using: &rng)
        case 3:
            return [
                0, -0.0, 0.1, 1e-5, 1e300, .leastNonzeroMagnitude, 1e20, 1e15, -1e15, 3, .greatestFiniteMagnitude,
                -.leastNormalMagnitude,
            ]
            .randomElement(using: &rng)!
        case 4:
            var d = Double(int(-99_999...99_999))
            for _ in 0..<int(0...30) { d *= 10 }
            for _ in 0..<int(0...30) { d /= 10 }
            return d
        default: return Double(Int64.random(in: .min ... .max, using: &rng))
        }
    }

    mutating func fieldValue() -> FieldValue {
        switch int(0...4) {
        case 0: return .float(double())
        case 1:
            switch int(0...2) {
            case 0: return .int([.min, .max, 0, -1].randomElement(using: &rng)!)
            case 1: return .int(Int64(int(-1000...1000)))
            default: return .int(Int64.random(in: .min ... .max, using: &rng))
            }
        case 2:
            switch int(0...2) {
            case 0: return .uint([.max, 0, 1].randomElement(using: &rng)!)
            case 1: return .uint(UInt64(int(0...1000)))
            default: return .uint(rng.next())
            }
        case 3: return .string(text(from: Self.stringCharacters, length: 0...20))
        default: return .bool(rng.next() & 1 == 0)
        }
    }

    mutating func time() -> Int64 {
        switch int(0...3) {
        case 0: return Int64.random(in: .min ... .max, using: &rng)
        case 1: return [.min, .max, 0, -1].randomElement(using: &rng)!
        default: return 1_700_000_000_000_000_000 + Int64(int(-1_000_000_000_000...1_000_000_000_000))
        }
    }

    mutating func point() -> Point {
        var tags: [Tag] = []
        for _ in 0..<int(0...4) {
            let key = name()
            if !tags.contains(where: { $0.key == key }) { tags.append(Tag(key, name())) }
        }
        var fields: [Field] = []
        for _ in 0..<int(1...5) {
            let key = name()
            if !fields.contains(where: { $0.key == key }) { fields.append(Field(key, fieldValue())) }
        }
        return Point(series: name(series: true), time: time(), tags: tags, fields: fields)
    }
}

/// Substring search over bytes.
struct ByteString {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func contains(_ needle: String) -> Bool {
        let n = Array(needle.utf8)
        guard !n.isEmpty, n.count <= bytes.count else { return n.isEmpty }
        for i in 0...(bytes.count - n.count) where bytes[i] == n[0] && bytes[i..<(i + n.count)].elementsEqual(n) {
            return true
        }
        return false
    }
}
