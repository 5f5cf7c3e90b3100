import Testing

@testable import GatewayCore

@Suite("JSON points: shapes")
struct JSONShapeTests {
    @Test func decodesSingleObject() {
        let point = oneJSONPoint(
            #"{"series": "requests", "time": 1700000000.25, "tags": {"service": "luna-tasks", "status_code": 200}, "fields": {"request_id": "a1", "execution_time": 0.012}}"#
        )
        #expect(
            point
                == Point(
                    series: "requests", time: 1_700_000_000_250_000_000,
                    tags: [Tag("service", "luna-tasks"), Tag("status_code", "200")],
                    fields: [Field("request_id", .string("a1")), Field("execution_time", .float(0.012))]))
    }

    @Test func decodesArrayOfObjects() {
        let (points, errors) = json(
            """
            [
              {"series": "a", "time": 1, "fields": {"v": 1}},
              {"series": "b", "time": 2, "fields": {"v": 2}}
            ]
            """)
        #expect(errors.isEmpty)
        #expect(points.map(\.series) == ["a", "b"])
        #expect(points.map(\.time) == [1_000_000_000, 2_000_000_000])
    }

    @Test func decodesNDJSON() {
        let (points, errors) = json(
            "{\"series\": \"a\", \"fields\": {\"v\": 1}}\n{\"series\": \"b\", \"fields\": {\"v\": 2}}\r\n\n  {\"series\": \"c\", \"fields\": {\"v\": 3}}"
        )
        #expect(errors.isEmpty)
        #expect(points.map(\.series) == ["a", "b", "c"])
    }

    @Test func decodesValuesSideBySide_andEmptyArrays() {
        let (points, errors) = json(
            #"{"series":"a","fields":{"v":1}} [] {"series":"b","fields":{"v":1}}[{"series":"c","fields":{"v":1}}]"#)
        #expect(errors.isEmpty)
        #expect(points.map(\.series) == ["a", "b", "c"])
    }

    @Test(arguments: ["", "   ", "\n\r\n\t", "[]", "[ ]\n[]"])
    func decodesNothingFromEmptyInput(_ input: String) {
        let (points, errors) = json(input)
        #expect(points.isEmpty)
        #expect(errors.isEmpty)
    }

    @Test func fieldsKeepTheirOrder_tagsAreSorted() {
        let point = oneJSONPoint(
            #"{"series":"m","tags":{"z":"1","a":"2","é":"3","B":"4"},"fields":{"z":1,"a":2,"m":3}}"#)
        #expect(point?.tags.map(\.key) == ["B", "a", "z", "é"])
        #expect(point?.fields.map(\.key) == ["z", "a", "m"])
    }

    @Test func keysMayComeInAnyOrder() {
        let point = oneJSONPoint(#"{"fields":{"v":1},"time":5,"tags":{"t":"x"},"precision":"ms","series":"m"}"#)
        #expect(point == Point(series: "m", time: 5_000_000, tags: [Tag("t", "x")], fields: [Field("v", .int(1))]))
    }

    @Test func decodeAppendsToTheCallersArrays() {
        var points = [pointF("existing")]
        var errors: [PointError] = []
        Array(#"{"series":"a","fields":{"v":1}}"#.utf8).withUnsafeBytes {
            JSONPointDecoder().decode($0, receiveTime: 9, into: &points, errors: &errors)
        }
        #expect(points.map(\.series) == ["existing", "a"])
        #expect(points.last?.time == 9)
    }
}

@Suite("JSON points: time")
struct JSONTimeTests {
    static let times: [(String, String?, Int64)] = [
        ("1700000000", nil, 1_700_000_000_000_000_000),
        ("1700000000.123456789", nil, 1_700_000_000_123_456_789),
        ("1700000000.1234567899", nil, 1_700_000_000_123_456_789),  // below a nanosecond: truncated
        ("1700000000.5", nil, 1_700_000_000_500_000_000),
        ("1.7e9", nil, 1_700_000_000_000_000_000),
        ("1.7E+9", nil, 1_700_000_000_000_000_000),
        ("17e8", nil, 1_700_000_000_000_000_000),
        ("170000000000e-2", nil, 1_700_000_000_000_000_000),
        ("1.700000000123456789e9", nil, 1_700_000_000_123_456_789),
        ("0", nil, 0),
        ("0.000000001", nil, 1),
        ("1e-10", nil, 0),
        ("-1.5", nil, -1_500_000_000),
        ("-0", nil, 0),
        ("9223372036.854775807", nil, .max),
        ("-9223372036.854775807", nil, -.max),
        ("-9223372036.854775808", nil, .min),
        ("-9223372036854775808", "ns", .min),
        ("1700000000123", "ms", 1_700_000_000_123_000_000),
        ("1700000000123.456789", "ms", 1_700_000_000_123_456_789),
        ("1700000000123456", "us", 1_700_000_000_123_456_000),
        ("1700000000123456", "µs", 1_700_000_000_123_456_000),
        ("1700000000123456789", "ns", 1_700_000_000_123_456_789),
        ("1.9", "ns", 1),
        ("1700000000", "s", 1_700_000_000_000_000_000),
        ("5", "u", 5_000),
        ("5", "n", 5),
    ]

    @Test(arguments: times)
    func convertsTimeExactly(_ time: String, _ precision: String?, _ expected: Int64) {
        let precisionMember = precision.map { #","precision":"\#($0)""# } ?? ""
        let point = oneJSONPoint(#"{"series":"m","time":\#(time)\#(precisionMember),"fields":{"v":1}}"#)
        #expect(point?.time == expected)
    }

    @Test func timeAbsentOrNullIsTheReceiveTime() {
        let (points, errors) = json(
            """
            {"series":"a","fields":{"v":1}}
            {"series":"b","time":null,"fields":{"v":1}}
            {"series":"c","time":3,"fields":{"v":1}}
            """, receiveTime: 77)
        #expect(errors.isEmpty)
        #expect(points.map(\.time) == [77, 77, 3_000_000_000])
    }

    @Test func decoderPrecisionIsTheDefaultForPoints() {
        let (points, _) = json(
            #"{"series":"a","time":5,"fields":{"v":1}} {"series":"b","time":5,"precision":"s","fields":{"v":1}}"#,
            precision: .milliseconds)
        #expect(points.map(\.time) == [5_000_000, 5_000_000_000])
    }

    @Test(arguments: [
        "9223372037", "-9223372037", "9223372036.854775808", "-9223372036.854775809", "1e19", "1e400",
        "1e9223372036854775808", "1e-9223372036854775808", "-1e-9223372036854775808",
    ])
    func rejectsTimeOutOfRange_withoutTrapping(_ time: String) {
        let error = oneJSONError(#"{"series":"m","time":\#(time),"fields":{"v":1}}"#)
        #expect(error?.reason == .invalidTimestamp)
        #expect(error?.line == 1)
        #expect(error?.column == 0)
    }

    @Test func rejectsTimeOutOfRangeAfterPrecision() {
        #expect(
            oneJSONError(#"{"series":"m","time":9223372036855,"precision":"ms","fields":{"v":1}}"#)?.reason
                == .invalidTimestamp)
        #expect(
            oneJSONPoint(#"{"series":"m","time":9223372036854,"precision":"ms","fields":{"v":1}}"#)?.time
                == 9_223_372_036_854_000_000)
    }

    @Test(arguments: [#""1700000000""#, "true", "[1]", "{}"])
    func rejectsTimeThatIsNotANumber(_ time: String) {
        #expect(oneJSONError(#"{"series":"m","time":\#(time),"fields":{"v":1}}"#)?.reason == .invalidTimestamp)
    }

    @Test(arguments: [#""m""#, #""""#, #""sec""#, "5", "null", #""MS""#])
    func rejectsUnknownPrecision(_ precision: String) {
        let error = oneJSONError(#"{"series":"m","time":1,"precision":\#(precision),"fields":{"v":1}}"#)
        #expect(error?.reason == .invalidJSON)
        #expect(error?.message.contains("precision") == true)
    }
}

@Suite("JSON points: tags and fields")
struct JSONValueTests {
    static let tagValues: [(String, String?)] = [
        (#""text""#, "text"),
        ("200", "200"),
        ("1.50", "1.50"),
        ("-0", "-0"),
        ("1e3", "1e3"),
        ("-2.5E-3", "-2.5E-3"),
        ("18446744073709551616", "18446744073709551616"),  // too big for a field, fine as a tag
        ("true", "true"),
        ("false", "false"),
        (#""""#, nil),  // empty: left out
        (#""a b,c=d\\e""#, #"a b,c=d\e"#),
        (#""\u00e9\ud83d\ude00""#, "é😀"),
    ]

    @Test(arguments: tagValues)
    func tagValueBecomesStringAsWritten(_ value: String, _ expected: String?) {
        let point = oneJSONPoint(#"{"series":"m","tags":{"t":\#(value),"other":"x"},"fields":{"v":1}}"#)
        #expect(point?.tag("t") == expected)
        #expect(point?.tag("other") == "x")
        #expect(point?.tags.count == (expected == nil ? 1 : 2))
    }

    @Test(arguments: ["null", "[]", "{}", #"["a"]"#])
    func rejectsTagValueOfOtherKinds(_ value: String) {
        let error = oneJSONError(#"{"series":"m","tags":{"t":\#(value)},"fields":{"v":1}}"#)
        #expect(error?.reason == .invalidJSON)
        #expect(error?.message.contains("\"t\"") == true)
    }

    @Test func rejectsTagsThatAreNotAnObject() {
        #expect(oneJSONError(#"{"series":"m","tags":["t"],"fields":{"v":1}}"#)?.reason == .invalidJSON)
    }

    @Test func rejectsEmptyTagKey() {
        #expect(oneJSONError(#"{"series":"m","tags":{"":"x"},"fields":{"v":1}}"#)?.reason == .emptyName)
    }

    @Test func rejectsDuplicateTagKey() {
        #expect(oneJSONError(#"{"series":"m","tags":{"t":"x","t":"y"},"fields":{"v":1}}"#)?.reason == .duplicateKey)
    }

    static let fieldValues: [(String, FieldValue)] = [
        ("1", .int(1)),
        ("0", .int(0)),
        ("-0", .int(0)),
        ("-1", .int(-1)),
        ("1.0", .float(1)),
        ("1.5", .float(1.5)),
        ("-0.0", .float(-0.0)),
        ("1e2", .float(100)),
        ("1E2", .float(100)),
        ("1.5e-3", .float(0.0015)),
        ("0.1", .float(0.1)),
        ("9223372036854775807", .int(.max)),
        ("-9223372036854775808", .int(.min)),
        ("9223372036854775808", .uint(9_223_372_036_854_775_808)),
        ("18446744073709551615", .uint(.max)),
        ("1e-400", .float(0)),
        ("true", .bool(true)),
        ("false", .bool(false)),
        (#""text""#, .string("text")),
        (#""""#, .string("")),
        (#""line\nbreak \"q\" \\ \/ \t\b\f\r""#, .string("line\nbreak \"q\" \\ / \t\u{8}\u{C}\r")),
        (#""\u00e9\u0041\u20AC""#, .string("éA€")),
        (#""\ud83d\ude00 \uD83D\uDE00""#, .string("😀 😀")),
        (#""\u0000""#, .string("\u{0}")),
        (#""温度 🙂""#, .string("温度 🙂")),
    ]

    @Test(arguments: fieldValues)
    func fieldValueKeepsItsJSONType(_ value: String, _ expected: FieldValue) {
        let point = oneJSONPoint(#"{"series":"m","fields":{"v":\#(value)}}"#)
        guard let actual = point?.field("v") else { return }
        #expect(actual == expected)
        if case .float(let a) = actual, case .float(let e) = expected {
            #expect(a.bitPattern == e.bitPattern)
        }
    }

    @Test(arguments: [
        ("18446744073709551616", RejectReason.integerOverflow),
        ("-9223372036854775809", .integerOverflow),
        ("100000000000000000000000", .integerOverflow),
        ("1e400", .invalidNumber),
        ("-1e400", .invalidNumber),
    ])
    func rejectsNumberThatDoesNotFit(_ value: String, _ reason: RejectReason) {
        let error = oneJSONError(#"{"series":"m","fields":{"v":\#(value)}}"#)
        #expect(error?.reason == reason)
        #expect(error?.message.contains("\"v\"") == true)
    }

    @Test(arguments: ["null", "{}", #"{"a":1}"#, "[]", "[1]"])
    func rejectsFieldValueThatIsNullOrNested(_ value: String) {
        let error = oneJSONError(#"{"series":"m","fields":{"v":\#(value)}}"#)
        #expect(error?.reason == .invalidJSON)
        #expect(error?.message.contains("\"v\"") == true)
    }

    @Test func rejectsFieldsThatAreNotAnObject() {
        #expect(oneJSONError(#"{"series":"m","fields":[1]}"#)?.reason == .invalidJSON)
    }

    @Test func rejectsEmptyOrDuplicateFieldKey() {
        #expect(oneJSONError(#"{"series":"m","fields":{"":1}}"#)?.reason == .emptyName)
        #expect(oneJSONError(#"{"series":"m","fields":{"v":1,"v":2}}"#)?.reason == .duplicateKey)
    }

    @Test func rejectsStringOverTheLimit() {
        #expect(oneJSONError(#"{"series":"m","fields":{"s":"abcd"}}"#, maxStringLength: 3)?.reason == .stringTooLong)
        let (points, _) = json(#"{"series":"m","fields":{"s":"abc"}}"#, maxStringLength: 3)
        #expect(points.first?.field("s") == .string("abc"))
        let limit = String(repeating: "x", count: 65_536)
        #expect(oneJSONPoint(#"{"series":"m","fields":{"s":"\#(limit)"}}"#)?.field("s") == .string(limit))
        #expect(oneJSONError(#"{"series":"m","fields":{"s":"\#(limit)x"}}"#)?.reason == .stringTooLong)
    }

    static let badStrings: [String] = [
        #""\ud83d""#,  // lone high surrogate
        #""\ud83dx""#,
        #""\ude00""#,  // lone low surrogate
        #""\ud83d\u0041""#,  // high surrogate and not a low one
        #""\u12G4""#,
        #""\u12""#,
        #""\x""#,
        #""\'""#,
        "\"tab\there\"",  // raw control character
        "\"new\nline\"",
    ]

    @Test(arguments: badStrings)
    func rejectsBadStringInJSON(_ value: String) {
        let error = oneJSONError(#"{"series":"m","fields":{"v":\#(value)}}"#)
        #expect(error?.reason == .invalidJSON)
        #expect((error?.column ?? 0) >= 1)
    }

    @Test func rejectsInvalidUTF8InAString() {
        let bytes = Array(#"{"series":"m","fields":{"v":""#.utf8) + [0xFF, 0x22] + Array("}}".utf8)
        let (points, errors) = json(bytes: bytes)
        #expect(points.isEmpty)
        #expect(errors.map(\.reason) == [.invalidJSON])
        #expect(errors.first?.column == 29)
    }
}

@Suite("JSON points: errors")
struct JSONErrorTests {
    @Test(arguments: ["42", #""x""#, "true", "null", "[1]", "[[]]"])
    func rejectsValueThatIsNotAnObject(_ input: String) {
        let error = oneJSONError(input)
        #expect(error?.reason == .invalidJSON)
        #expect(error?.message.contains("expected a point object") == true)
    }

    @Test func badArrayElementDoesNotStopTheOthers() {
        let (points, errors) = json(#"[{"series":"a","fields":{"v":1}}, 7, {"series":"b","fields":{"v":1}}]"#)
        #expect(points.map(\.series) == ["a", "b"])
        #expect(errors.map(\.reason) == [.invalidJSON])
    }

    @Test func rejectsMissingSeries() {
        let error = oneJSONError(#"{"fields":{"v":1}}"#)
        #expect(error?.reason == .emptyName)
        #expect(error?.message.contains("series") == true)
    }

    @Test func rejectsEmptySeries() {
        #expect(oneJSONError(#"{"series":"","fields":{"v":1}}"#)?.reason == .emptyName)
    }

    @Test(arguments: ["1", "null", "[\"a\"]", "{}"])
    func rejectsSeriesThatIsNotAString(_ series: String) {
        #expect(oneJSONError(#"{"series":\#(series),"fields":{"v":1}}"#)?.reason == .invalidJSON)
    }

    @Test(arguments: [#"{"series":"m"}"#, #"{"series":"m","fields":{}}"#, #"{"series":"m","tags":{"t":"x"}}"#])
    func rejectsPointWithoutFields(_ input: String) {
        let error = oneJSONError(input)
        #expect(error?.reason == .noFields)
        #expect(error?.message.contains("\"m\"") == true)
    }

    @Test func rejectsUnknownKey_namingIt() {
        let error = oneJSONError(#"{"series":"m","fields":{"v":1},"timestamp":1}"#)
        #expect(error?.reason == .invalidJSON)
        #expect(error?.message.contains("\"timestamp\"") == true)
    }

    @Test func rejectsKeyGivenTwice() {
        #expect(oneJSONError(#"{"series":"m","series":"n","fields":{"v":1}}"#)?.reason == .duplicateKey)
    }

    struct NameCase: Sendable, CustomTestStringConvertible {
        let what: String
        let json: String
        var testDescription: String { what }
    }

    static let namesWithLineBreaks: [NameCase] = [
        NameCase(what: "series with a newline", json: #"{"series":"a\nb","fields":{"v":1}}"#),
        NameCase(what: "series with a carriage return", json: #"{"series":"a\rb","fields":{"v":1}}"#),
        NameCase(what: "tag key with a newline", json: #"{"series":"m","tags":{"a\nb":"x"},"fields":{"v":1}}"#),
        NameCase(what: "tag value with a newline", json: #"{"series":"m","tags":{"t":"x\n"},"fields":{"v":1}}"#),
        NameCase(what: "field key with a newline", json: #"{"series":"m","fields":{"\nv":1}}"#),
        NameCase(what: "field key with a carriage return", json: #"{"series":"m","fields":{"v\r":1}}"#),
    ]

    @Test(arguments: namesWithLineBreaks)
    func rejectsNameContainingALineBreak(_ c: NameCase) {
        let error = oneJSONError(c.json)
        #expect(error?.reason == .invalidName)
        #expect(error?.message.contains("line break") == true)
    }

    @Test func acceptsStringFieldValueContainingALineBreak() {
        #expect(oneJSONPoint(#"{"series":"m","fields":{"s":"a\nb\r\n"}}"#)?.field("s") == .string("a\nb\r\n"))
    }

    @Test func rejectsBadSyntax_namingLineAndColumn() {
        let input = """
            {
              "series": "a",
              "fields": {"v": 1,}
            }
            """
        let error = oneJSONError(input)
        #expect(error?.reason == .invalidJSON)
        #expect(error?.line == 3)
        #expect(error?.column == 21)
        #expect(error?.text == #"  "fields": {"v": 1,}"#)
    }

    static let syntaxErrors: [(String, Int)] = [
        (#"{"series": "a" "fields": {}}"#, 16),  // missing comma
        (#"{"series" "a"}"#, 11),  // missing colon
        (#"{series: "a"}"#, 2),  // unquoted key
        (#"{"series": 'a'}"#, 12),
        (#"{"series": "a", "fields": {"v": tru}}"#, 33),
        (#"{"series": "a", "fields": {"v": 01}}"#, 33),
        (#"{"series": "a", "fields": {"v": 1.}}"#, 33),
        (#"{"series": "a", "fields": {"v": -}}"#, 33),
        (#"{"series": "a", "fields": {"v": 1e}}"#, 33),
        (#"{"series": "a", "fields": {"v": +1}}"#, 33),
        (#"{"series": "a", "fields": {"v": .5}}"#, 33),
        (#"{"series": "a", "fields": {"v": NaN}}"#, 33),
        (#"{"series": "a"]"#, 15),
        (#"[{"series": "a"}}"#, 17),
        (#"{"series": "abc"#, 12),  // unterminated string: at its opening quote
        (#"{"series": "a""#, 15),  // unterminated object: at the end
        ("}", 1),
    ]

    @Test(arguments: syntaxErrors)
    func rejectsBadSyntaxAtItsColumn(_ input: String, _ column: Int) {
        let error = oneJSONError(input)
        #expect(error?.reason == .invalidJSON)
        #expect(error?.line == 1)
        #expect(error?.column == column, "\(String(describing: error))")
    }

    @Test func badNDJSONLineDoesNotStopTheFollowingLines() {
        let (points, errors) = json(
            """
            {"series":"a","fields":{"v":1}}
            {"series":"b",oops}
            {"series":"c","fields":{"v":1}}
            not json at all
            {"series":"d","fields":{"v":1}}
            """)
        #expect(points.map(\.series) == ["a", "c", "d"])
        #expect(errors.map(\.line) == [2, 4])
        #expect(errors.map(\.column) == [15, 1])
        #expect(errors.allSatisfy { $0.reason == .invalidJSON })
    }

    @Test func truncatedNDJSONLineCostsOnlyItself() {
        // Line 2 lacks its closing brace; the reader only notices at the start of line 3.
        let (points, errors) = json(
            """
            {"series":"a","fields":{"v":1}}
            {"series":"b","fields":{"v":1}
            {"series":"c","fields":{"v":1}}
            {"series":"d","fields":{"v":1
            [{"series":"e","fields":{"v":1}}]
            """)
        #expect(points.map(\.series) == ["a", "c", "e"])
        #expect(errors.count == 2)
        #expect(errors.map(\.line) == [3, 5])
        #expect(errors.map(\.column) == [1, 1])
    }

    @Test func pointErrorsInNDJSONNameTheirLine() {
        let (points, errors) = json(
            """
            {"series":"a","fields":{"v":1}}
            {"series":"b"}

            {"fields":{"v":1}}
            """)
        #expect(points.map(\.series) == ["a"])
        #expect(errors.map(\.line) == [2, 4])
        #expect(errors.map(\.column) == [0, 0])
        #expect(errors.map(\.reason) == [.noFields, .emptyName])
    }

    @Test func pointErrorsInAnArrayNameTheLineOfTheirElement() {
        let (points, errors) = json(
            """
            [
              {"series":"a","fields":{"v":1}},
              {"series":"b"},

              {"fields":{"v":1}}, {"series":"c","fields":{"v":1}}, 5
            ]
            """)
        #expect(points.map(\.series) == ["a", "c"])
        #expect(errors.map(\.line) == [3, 5, 5])
        #expect(errors.map(\.reason) == [.noFields, .emptyName, .invalidJSON])
    }

    @Test func errorTextIsTheLineCutTo200Bytes() {
        let padding = String(repeating: "é", count: 150)
        let error = oneJSONError(#"{"series":"m","fields":{"v":1}, "\#(padding)"#)
        #expect(error?.reason == .invalidJSON)
        // 33 + 166 bytes
        #expect(error?.text == #"{"series":"m","fields":{"v":1}, ""# + String(repeating: "é", count: 83))
        let invalid = json(bytes: Array(#"{"x":"#.utf8) + [UInt8](repeating: 0xFF, count: 300))
        #expect(invalid.errors.first?.text == #"{"x":"# + String(repeating: "\u{FFFD}", count: 65))  // 5 + 195 bytes
    }

    @Test func errorDescriptionWithoutColumnNamesOnlyTheLine() {
        let error = oneJSONError(#"{"series":"m"}"#)
        #expect(error?.description == #"line 1: point of series "m" has no fields"#)
    }
}
