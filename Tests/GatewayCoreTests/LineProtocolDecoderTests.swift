import Testing

@testable import GatewayCore

/// One line of line protocol and the point it must decode to.
struct DecodeCase: Sendable, CustomTestStringConvertible {
    let input: String
    let expected: Point
    var testDescription: String { input.debugDescription }

    init(_ input: String, _ expected: Point) {
        self.input = input
        self.expected = expected
    }
}

@Suite("Line protocol: names and escaping")
struct LineProtocolEscapingTests {
    static let cases: [DecodeCase] = [
        // Measurement: `\,` and `\ ` are escapes; `=` needs none.
        DecodeCase(#"c\,pu\ x f=1"#, pointF("c,pu x")),
        DecodeCase(#"c\ pu,t=v f=1"#, pointF("c pu", tags: [Tag("t", "v")])),
        DecodeCase(#"a=b f=1"#, pointF("a=b")),
        DecodeCase(#"a\=b f=1"#, pointF(#"a\=b"#)),  // `=` is not escapable in a measurement: literal
        // Tag keys, tag values and field keys: `\,` `\=` `\ `.
        DecodeCase(#"m,k\,\=\ 1=v f=1"#, pointF("m", tags: [Tag("k,= 1", "v")])),
        DecodeCase(#"m,k=v\,\=\ 1 f=1"#, pointF("m", tags: [Tag("k", "v,= 1")])),
        DecodeCase(#"m f\,\=\ 1=1"#, Point(series: "m", time: 0, fields: [Field("f,= 1", .float(1))])),
        // As InfluxDB reads names: `\\` is two backslashes (only `\,`, `\ ` and `\=` are escapes), and
        // a backslash pair keeps the character after it in the name.
        DecodeCase(#"a\\b f=1"#, pointF(#"a\\b"#)),
        DecodeCase(#"a\\\\b f=1"#, pointF(#"a\\\\b"#)),
        DecodeCase(#"m,k=a\\\,b f=1"#, pointF("m", tags: [Tag("k", #"a\\,b"#)])),
        DecodeCase(#"m\\\ x f=1"#, pointF(#"m\\ x"#)),
        // A backslash before any other character is literal.
        DecodeCase(#"c\pu f=1"#, pointF(#"c\pu"#)),
        DecodeCase(#"m,k\t=v\"x f=1"#, pointF("m", tags: [Tag(#"k\t"#, #"v\"x"#)])),
        DecodeCase(#"m f\n=1"#, Point(series: "m", time: 0, fields: [Field(#"f\n"#, .float(1))])),
        DecodeCase(#"m\é f=1"#, pointF(#"m\é"#)),
        // Quotes and other punctuation in names are plain characters.
        DecodeCase(
            #"m"q,t"x="y' f'=1"#,
            Point(series: #"m"q"#, time: 0, tags: [Tag(#"t"x"#, #""y'"#)], fields: [Field("f'", .float(1))])),
        // Unicode names.
        DecodeCase(
            "温度,城市=東京 値=1", Point(series: "温度", time: 0, tags: [Tag("城市", "東京")], fields: [Field("値", .float(1))])),
        DecodeCase("m🙂,ké=vé f=1", pointF("m🙂", tags: [Tag("ké", "vé")])),
    ]

    @Test(arguments: cases)
    func decodesEscapedNames(_ c: DecodeCase) {
        guard let point = onePoint(c.input) else { return }
        #expect(identical(point, c.expected), "got \(point)")
    }

    @Test func tagsAreSortedByByteOrderAfterDecode() {
        guard let point = onePoint("m,z=1,a=2,M=3,é=4,b=5,aa=6 f=1") else { return }
        #expect(point.tags.map(\.key) == ["M", "a", "aa", "b", "z", "é"])
        #expect(point.tag("z") == "1")
        #expect(point.tag("M") == "3")
        #expect(point.tag("aa") == "6")
    }

    @Test func sortedTagsStaySorted() {
        guard let point = onePoint("m,a=1,b=2,c=3 f=1") else { return }
        #expect(point.tags == [Tag("a", "1"), Tag("b", "2"), Tag("c", "3")])
    }

    @Test func fieldsKeepTheirOrder() {
        guard let point = onePoint("m z=1,a=2i,m=\"x\"") else { return }
        #expect(point.fields == [Field("z", .float(1)), Field("a", .int(2)), Field("m", .string("x"))])
    }
}

@Suite("Line protocol: field values")
struct LineProtocolFieldValueTests {
    // MARK: Strings

    static let strings: [(String, String)] = [
        (#"m s="a\"b""#, #"a"b"#),
        (#"m s="a\\b""#, #"a\b"#),
        (#"m s="a\b""#, #"a\b"#),  // other backslashes are literal
        (#"m s="a\nb""#, #"a\nb"#),  // a backslash and an n, not a newline
        (#"m s="a\\""#, #"a\"#),
        (#"m s="\\\"""#, #"\""#),
        (#"m s="""#, ""),
        (#"m s="a,b c=d e""#, "a,b c=d e"),
        (#"m s="héllo 🙂""#, "héllo 🙂"),
        ("m s=\"tab\there\"", "tab\there"),
        (#"m s="'single'""#, "'single'"),
    ]

    @Test(arguments: strings)
    func decodesStringFieldValue(_ input: String, _ expected: String) {
        guard case .string(let s)? = fieldValue(input) else {
            Issue.record("not a string")
            return
        }
        #expect(s.utf8.elementsEqual(expected.utf8), "got \(s.debugDescription)")
    }

    @Test func stringsSpanLines_andLineCountingContinues() {
        let (points, errors) = lp("a s=\"one\ntwo\r\nthree\",n=1i 5\nb f=1\nc\n")
        #expect(points.count == 2)
        #expect(points.first?.field("s") == .string("one\ntwo\r\nthree"))
        #expect(points.first?.field("n") == .int(1))
        #expect(points.first?.time == 5)
        #expect(points.last?.series == "b")
        // "c" is on line 5: the string's two newlines were counted.
        #expect(errors.map(\.line) == [5])
        #expect(errors.first?.reason == .noFields)
    }

    // MARK: Integers

    static let integers: [(String, FieldValue)] = [
        ("1i", .int(1)),
        ("-1i", .int(-1)),
        ("0i", .int(0)),
        ("-0i", .int(0)),
        ("007i", .int(7)),
        ("9223372036854775807i", .int(.max)),
        ("-9223372036854775808i", .int(.min)),
        ("0u", .uint(0)),
        ("42u", .uint(42)),
        ("9223372036854775808u", .uint(9_223_372_036_854_775_808)),
        ("18446744073709551615u", .uint(.max)),
    ]

    @Test(arguments: integers)
    func decodesInteger(_ token: String, _ expected: FieldValue) {
        #expect(fieldValue("m f=\(token)") == expected)
    }

    // MARK: Booleans

    @Test(arguments: ["t", "T", "true", "True", "TRUE"])
    func decodesTrue(_ spelling: String) {
        #expect(fieldValue("m f=\(spelling)") == .bool(true))
    }

    @Test(arguments: ["f", "F", "false", "False", "FALSE"])
    func decodesFalse(_ spelling: String) {
        #expect(fieldValue("m f=\(spelling)") == .bool(false))
    }

    @Test(arguments: ["tru", "truee", "tRUE", "TRue", "fals", "falsE", "FaLsE", "tt", "f0"])
    func rejectsBadBooleanSpelling_asSyntax(_ spelling: String) {
        let error = oneError("m f=\(spelling)")
        #expect(error?.reason == .syntax)
        #expect(error?.column == 5)
        #expect(error?.message.contains("boolean") == true)
    }

    @Test(arguments: ["yes", "no", "on", "Y", "nil", "null"])
    func rejectsWordsThatAreNotBooleans_asInvalidNumber(_ spelling: String) {
        let error = oneError("m f=\(spelling)")
        #expect(error?.reason == .invalidNumber)
        #expect(error?.column == 5)
    }

    // MARK: Floats

    static let floats: [(String, Double)] = [
        ("1", 1),
        ("-1.5", -1.5),
        ("1e3", 1000),
        ("1E3", 1000),
        ("1e+3", 1000),
        ("1.5E-3", 0.0015),
        (".5", 0.5),
        ("-.5", -0.5),
        ("5.", 5),
        ("0", 0),
        ("0.1", 0.1),
        ("007.5", 7.5),
        ("123456789012345", 123_456_789_012_345),
        ("1234567890123456789", 1_234_567_890_123_456_768),  // the nearest Double
        ("9007199254740993", 9_007_199_254_740_992),  // 2^53 + 1: a tie, rounded to even
        ("1.7976931348623157e308", .greatestFiniteMagnitude),
        ("4.9e-324", .leastNonzeroMagnitude),
        ("1e-400", 0),  // underflow to zero is a finite value
    ]

    @Test(arguments: floats)
    func decodesFloat(_ token: String, _ expected: Double) {
        guard case .float(let v)? = fieldValue("m f=\(token)") else {
            Issue.record("not a float")
            return
        }
        #expect(v.bitPattern == expected.bitPattern, "\(token) gave \(v)")
    }

    @Test func negativeZeroKeepsItsSign() {
        guard case .float(let v)? = fieldValue("m f=-0") else {
            Issue.record("not a float")
            return
        }
        #expect(v == 0)
        #expect(v.sign == .minus)
        guard case .float(let w)? = fieldValue("m f=-0.0e5") else { return }
        #expect(w.sign == .minus)
    }

    @Test(arguments: [
        "1.2.3", "+1", "1e", "1e+", "1E-", "NaN", "nan", "inf", "-inf", "Infinity", "1e400", "-1e400",
        "0x10", "1_000", "--1", "-", ".", "-.", ".e1", "e5", "1e5.5", "1.5x", "1 .5",
    ])
    func rejectsInvalidFloat_asInvalidNumber(_ token: String) {
        // "1 .5": the space ends the value, so ".5" is a bad timestamp instead.
        let error = oneError("m f=\(token)")
        if token == "1 .5" {
            #expect(error?.reason == .invalidTimestamp)
            #expect(error?.column == 7)
        } else {
            #expect(error?.reason == .invalidNumber, "\(token): \(String(describing: error))")
            #expect(error?.column == 5)
        }
    }

    @Test(arguments: ["i", "u", "-i", "+1i", "1.5i", "1e3i", "1iu", "-1u", "-0u", "+1u", "1.0u", "0x1i", "1ii"])
    func rejectsInvalidInteger_asInvalidNumber(_ token: String) {
        let error = oneError("m f=\(token)")
        #expect(error?.reason == .invalidNumber, "\(token): \(String(describing: error))")
        #expect(error?.column == 5)
    }
}

@Suite("Line protocol: timestamps")
struct LineProtocolTimestampTests {
    static let scaled: [(Precision, String, Int64)] = [
        (.nanoseconds, "1700000000123456789", 1_700_000_000_123_456_789),
        (.microseconds, "1700000000123456", 1_700_000_000_123_456_000),
        (.milliseconds, "1700000000123", 1_700_000_000_123_000_000),
        (.seconds, "1700000000", 1_700_000_000_000_000_000),
        (.nanoseconds, "0", 0),
        (.seconds, "0", 0),
        (.nanoseconds, "-1", -1),
        (.microseconds, "-1", -1_000),
        (.milliseconds, "-1", -1_000_000),
        (.seconds, "-1", -1_000_000_000),
        (.seconds, "-0", 0),
        (.nanoseconds, "9223372036854775807", .max),
        (.nanoseconds, "-9223372036854775808", .min),
        (.seconds, "9223372036", 9_223_372_036_000_000_000),
        (.seconds, "-9223372036", -9_223_372_036_000_000_000),
        (.milliseconds, "9223372036854", 9_223_372_036_854_000_000),
        (.microseconds, "-9223372036854775", -9_223_372_036_854_775_000),
    ]

    @Test(arguments: scaled)
    func scalesTimestampByPrecision(_ precision: Precision, _ token: String, _ expected: Int64) {
        #expect(onePoint("m f=1 \(token)", precision: precision)?.time == expected)
    }

    static let overflowing: [(Precision, String)] = [
        (.seconds, "9223372037"),
        (.seconds, "-9223372037"),
        (.milliseconds, "9223372036855"),
        (.milliseconds, "-9223372036855"),
        (.microseconds, "9223372036854776"),
        (.nanoseconds, "9223372036854775808"),
        (.nanoseconds, "-9223372036854775809"),
        (.nanoseconds, "99999999999999999999999"),
        (.seconds, "18446744073709551616"),
    ]

    @Test(arguments: overflowing)
    func rejectsTimestampOutOfRangeAfterScaling(_ precision: Precision, _ token: String) {
        let error = oneError("m f=1 \(token)", precision: precision)
        #expect(error?.reason == .invalidTimestamp)
        #expect(error?.line == 1)
        #expect(error?.column == 7)
    }

    @Test(arguments: ["12x", "1.5", "-", "+1", "0x1", "1e9", "abc", "1,2", "--1", "1-"])
    func rejectsNonIntegerTimestamp(_ token: String) {
        let error = oneError("m f=1 \(token)")
        #expect(error?.reason == .invalidTimestamp)
        #expect(error?.column == 7)
    }

    @Test func absentTimestampIsTheReceiveTime() {
        let (points, errors) = lp("a f=1\nb f=2 \nc f=3 7\n", receiveTime: 42)
        #expect(errors.isEmpty)
        #expect(points.map(\.time) == [42, 42, 7])
    }

    @Test func receiveTimeIsNotScaledByPrecision() {
        #expect(onePoint("m f=1", precision: .seconds, receiveTime: 1_234)?.time == 1_234)
    }
}

@Suite("Line protocol: lines and layout")
struct LineProtocolLayoutTests {
    @Test func skipsCommentsAndBlankLines() {
        let input = """
            # a comment
            a f=1

               \t
              # an indented comment with "quote and \\ backslash
            #m f=1
            b f=2
            """
        let (points, errors) = lp(input)
        #expect(errors.isEmpty)
        #expect(points.map(\.series) == ["a", "b"])
    }

    @Test func acceptsCRLFLineEnds_andCountsLinesAcrossThem() {
        let (points, errors) = lp("a f=1\r\nb,t=x f=2i 3\r\n\r\nbad\r\nc s=\"q\"\r\n")
        #expect(points.count == 3)
        #expect(points.map(\.series) == ["a", "b", "c"])
        #expect(points[1].tag("t") == "x")  // not "x\r" or similar
        #expect(points[1].time == 3)
        #expect(points[2].field("s") == .string("q"))
        #expect(errors.count == 1)
        #expect(errors.first?.line == 4)
        #expect(errors.first?.column == 4)
        #expect(errors.first?.text == "bad")  // the CR is not part of the shown text
    }

    @Test func crAtTheEndOfTheInputEndsTheLine() {
        #expect(onePoint("m f=1 5\r")?.time == 5)
        #expect(onePoint("m f=1\r")?.field("f") == .float(1))
    }

    @Test func aCarriageReturnNotBeforeANewlineIsPartOfTheValue() {
        // A lone CR is not a line end: "1\rx" is one (bad) number token.
        let error = oneError("m f=1\rx")
        #expect(error?.reason == .invalidNumber)
    }

    @Test func acceptsLeadingSpaces() {
        guard let point = onePoint("   \t m,t=v f=1 9") else { return }
        #expect(point.series == "m")
        #expect(point.time == 9)
    }

    @Test func acceptsSeveralSpacesBetweenSections_andTrailingSpaces() {
        guard let point = onePoint("m,t=v    f=1,g=2i     123    ") else { return }
        #expect(point.tags == [Tag("t", "v")])
        #expect(point.fields == [Field("f", .float(1)), Field("g", .int(2))])
        #expect(point.time == 123)
    }

    @Test func lastLineNeedsNoNewline() {
        let (points, errors) = lp("a f=1\nb f=2")
        #expect(errors.isEmpty)
        #expect(points.count == 2)
    }

    @Test func emptyInputDecodesToNothing() {
        #expect(lp("").points.isEmpty)
        #expect(lp("").errors.isEmpty)
        #expect(lp("\n\n\r\n  \n# only a comment").errors.isEmpty)
    }

    @Test func decodesAWholeExample() {
        let input = #"""
            weather,location=us-midwest,season=summer temperature=82,humidity=71i,ok=t,note="sunny, \"hot\"" 1465839830100400200
            weather,location=us-east temperature=75u 1465839830100400201
            """#
        let (points, errors) = lp(input)
        #expect(errors.isEmpty)
        #expect(
            points == [
                Point(
                    series: "weather", time: 1_465_839_830_100_400_200,
                    tags: [Tag("location", "us-midwest"), Tag("season", "summer")],
                    fields: [
                        Field("temperature", .float(82)), Field("humidity", .int(71)), Field("ok", .bool(true)),
                        Field("note", .string(#"sunny, "hot""#)),
                    ]),
                Point(
                    series: "weather", time: 1_465_839_830_100_400_201, tags: [Tag("location", "us-east")],
                    fields: [Field("temperature", .uint(75))]),
            ])
    }

    @Test func decodeAppendsToTheCallersArrays() {
        var points = [pointF("existing")]
        var errors = [PointError(line: 9, column: 9, reason: .syntax, message: "old")]
        Array("a f=1\nbad\n".utf8).withUnsafeBytes {
            LineProtocolDecoder().decode($0, receiveTime: 3, into: &points, errors: &errors)
        }
        #expect(points.map(\.series) == ["existing", "a"])
        #expect(points.last?.time == 3)
        #expect(errors.map(\.line) == [9, 2])
    }
}
