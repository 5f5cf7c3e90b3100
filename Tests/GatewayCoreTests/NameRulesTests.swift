import Testing

@testable import GatewayCore

/// Names that line protocol would carry differently (control characters, a series starting with
/// `#`) and keys over InfluxDB's 65,535 bytes are refused by both decoders alike, with a reason
/// naming the name, what is wrong and the limit.
@Suite struct NameRulesTests {
    // MARK: - A series starting with '#'

    @Test func jsonSeriesStartingWithHash_isRefused_becauseLineProtocolReadsItAsAComment() {
        let error = oneJSONError(##"{"series":"#x","fields":{"v":1}}"##)
        #expect(error?.reason == .invalidName)
        #expect(
            error?.message
                == ##"series "#x" starts with '#': line protocol reads such a line as a comment, so the point would vanish downstream"##
        )
        // What the refusal prevents: the encoded line is a comment to every line-protocol reader.
        let line = LineProtocolEncoder().line(pointF("#x"))
        #expect(lp(line).points.isEmpty && lp(line).errors.isEmpty)
    }

    @Test(arguments: [" #x", "x#", "a#b", "\\#x"])
    func aHashElsewhereInTheSeries_roundTrips(_ series: String) throws {
        var json = Array(#"{"series":"#.utf8)
        JSONPointEncoder.appendJSONString(series, to: &json)
        json += Array(#","fields":{"v":1}}"#.utf8)
        let point = try #require(oneJSONPoint(String(decoding: json, as: UTF8.self)))
        #expect(point.series == series)
        #expect(onePoint(LineProtocolEncoder().line(point)).map { identical($0, point) } == true)
    }

    @Test func tagAndFieldNamesStartingWithHash_areAccepted() {
        let point = oneJSONPoint(##"{"series":"m","tags":{"#t":"#v"},"fields":{"#f":1}}"##)
        #expect(point?.tag("#t") == "#v")
        #expect(onePoint("m,#t=#v #f=1i")?.field("#f") == .int(1))
    }

    // MARK: - Control characters

    struct NameCase: CustomTestStringConvertible, Sendable {
        var what: String
        var line: String
        var json: String
        var message: String
        var testDescription: String { what }
    }

    static let controlCharacters: [NameCase] = [
        NameCase(
            what: "tab in the series", line: "a\tb v=1", json: #"{"series":"a\tb","fields":{"v":1}}"#,
            message: #""a\u{9}b" contains the control character U+0009: names may not hold control characters"#),
        NameCase(
            what: "NUL in a tag key", line: "m,a\u{0}=x v=1",
            json: #"{"series":"m","tags":{"a\u0000":"x"},"fields":{"v":1}}"#,
            message: #"tag key "a\u{0}" contains the control character U+0000"#),
        NameCase(
            what: "escape in a tag value", line: "m,t=\u{1B}[31m v=1",
            json: #"{"series":"m","tags":{"t":"\u001b[31m"},"fields":{"v":1}}"#,
            message: #""\u{1b}[31m" contains the control character U+001B"#),
        NameCase(
            what: "DEL in a field key", line: "m v\u{7F}=1", json: #"{"series":"m","fields":{"v\u007f":1}}"#,
            message: #"field key "v\u{7f}" contains the control character U+007F"#),
        NameCase(
            what: "C1 next line in a tag value", line: "m,t=a\u{85}b v=1",
            json: #"{"series":"m","tags":{"t":"a\u0085b"},"fields":{"v":1}}"#,
            message: "contains the control character U+0085"),
        NameCase(
            what: "carriage return inside a series", line: "a\rb v=1", json: #"{"series":"a\rb","fields":{"v":1}}"#,
            message: "contains a line break, which line protocol cannot carry in a name"),
        NameCase(
            what: "escaped tab in a tag value", line: "m,t=a\\\tb v=1",
            json: #"{"series":"m","tags":{"t":"a\\\tb"},"fields":{"v":1}}"#,
            message: "contains the control character U+0009"),
    ]

    /// Both decoders refuse the same names, with the same reason and words.
    @Test(arguments: controlCharacters)
    func controlCharactersInNames_areRefusedByBothDecoders(_ c: NameCase) {
        let line = oneError(c.line)
        #expect(line?.reason == .invalidName)
        #expect(line?.message.contains(c.message) == true, "\(line?.message ?? "")")
        let json = oneJSONError(c.json)
        #expect(json?.reason == .invalidName)
        #expect(json?.message.contains(c.message) == true, "\(json?.message ?? "")")
    }

    @Test(arguments: controlCharacters)
    func controlCharactersInNames_areRefusedThroughASeriesCache(_ c: NameCase) {
        let cache = SeriesCache(slots: 64, defaultTags: [])
        for _ in 0..<2 {
            var points: [Point] = [], errors: [PointError] = []
            Array((c.line + "\n").utf8).withUnsafeBytes {
                LineProtocolDecoder().decode($0, receiveTime: 0, into: &points, errors: &errors, cache: cache)
            }
            #expect(points.isEmpty)
            #expect(errors.map(\.reason) == [.invalidName])
        }
    }

    @Test func controlCharactersInStringValues_areKept() {
        #expect(fieldValue("m s=\"a\tb\u{1}\r\nc\"") == .string("a\tb\u{1}\r\nc"))
        #expect(
            oneJSONPoint(#"{"series":"m","fields":{"s":"a\tb\u0001\r\nc"}}"#)?.field("s") == .string("a\tb\u{1}\r\nc"))
    }

    @Test func theGatewaysOwnStoredLineProtocolIsReadBackWithoutTheRules() {
        let long = String(repeating: "x", count: 70_000)
        let stored = LineProtocolDecoder.storedData(precision: .nanoseconds).decode("a\tb,t=\(long) v=1 1\n")
        #expect(stored.errors.isEmpty)
        #expect(stored.points.first?.series == "a\tb")
    }

    // MARK: - Names are bytes

    /// "é" precomposed and "e" + U+0301 are equal to Swift's `==` but distinct names to InfluxDB: a line
    /// holding both as field keys lost the first value (taken as a repeated key), and a JSON point
    /// holding both was refused as a duplicate.
    @Test func canonicallyEquivalentNamesAreDistinct() throws {
        let composed = "\u{E9}", decomposed = "e\u{301}"
        let point = try #require(onePoint("m,\(composed)=1,\(decomposed)=2 \(composed)=1,\(decomposed)=2i"))
        #expect(point.fields.map { Array($0.key.utf8) } == [Array(composed.utf8), Array(decomposed.utf8)])
        #expect(point.fields.map(\.value) == [.float(1), .int(2)])
        #expect(point.tags.count == 2)
        let json = try #require(
            oneJSONPoint(
                #"{"series":"m","tags":{"\#(composed)":"1","\#(decomposed)":"2"},"fields":{"\#(composed)":1,"\#(decomposed)":2}}"#
            ))
        #expect(json.fields.count == 2 && json.tags.count == 2)
        // A key given twice byte for byte is still one key.
        #expect(onePoint("m \(decomposed)=1,\(decomposed)=2")?.fields == [Field(decomposed, .float(2))])
    }

    // MARK: - Key lengths

    @Test func aOneMegabyteName_isRefusedInEveryPlace_namingTheKeyAndTheLimit() {
        let huge = String(repeating: "n", count: 1 << 20)
        for (line, json, part) in [
            ("\(huge) v=1", #"{"series":"\#(huge)","fields":{"v":1}}"#, "its longest part: series"),
            (
                "m,\(huge)=x v=1", #"{"series":"m","tags":{"\#(huge)":"x"},"fields":{"v":1}}"#,
                "its longest part: tag key"
            ),
            (
                "m,t=\(huge) v=1", #"{"series":"m","tags":{"t":"\#(huge)"},"fields":{"v":1}}"#,
                #"its longest part: value of tag "t""#
            ),
        ] {
            for error in [oneError(line), oneJSONError(json)] {
                #expect(error?.reason == .keyTooLong)
                #expect(error?.message.contains("over InfluxDB's limit of 65535") == true)
                #expect(error?.message.contains("\(part)") == true, "\(error?.message ?? "")")
                #expect((error?.message.utf8.count ?? .max) < 400)
            }
        }
        for error in [oneError("m \(huge)=1"), oneJSONError(#"{"series":"m","fields":{"\#(huge)":1}}"#)] {
            #expect(error?.reason == .keyTooLong)
            #expect(error?.message.hasPrefix(#"field key "nnnn"#) == true)
            #expect(error?.message.contains("(1048576 bytes) with the series key of \"m\" (1 bytes)") == true)
            #expect(error?.message.contains("over InfluxDB's limit of 65535") == true)
        }
    }

    /// The limit is exact, on the key as line protocol writes it (escapes count), in both decoders.
    /// Every field's key is the series key, 4 bytes and the field key, so with a field `f` the series
    /// key may take 65,530 bytes.
    @Test func theKeyLimitIsExact_escapesIncluded() {
        // m,t=<value>: 4 bytes + the value.
        let fits = String(repeating: "v", count: 65_530 - 4)
        #expect(onePoint("m,t=\(fits) f=1") != nil)
        #expect(oneJSONPoint(#"{"series":"m","tags":{"t":"\#(fits)"},"fields":{"f":1}}"#) != nil)
        #expect(oneError("m,t=\(fits)v f=1")?.reason == .keyTooLong)
        #expect(oneJSONError(#"{"series":"m","tags":{"t":"\#(fits)v"},"fields":{"f":1}}"#)?.reason == .keyTooLong)
        // Commas take two bytes each once escaped: 32,765 fit, 32,766 do not.
        let commas = String(repeating: ",", count: 32_766)
        let escaped = String(repeating: "\\,", count: 32_766)
        #expect(oneError("\(escaped) f=1")?.reason == .keyTooLong)
        #expect(oneJSONError(#"{"series":"\#(commas)","fields":{"f":1}}"#)?.reason == .keyTooLong)
        #expect(onePoint("\(escaped.dropFirst(2)) f=1") != nil)
        #expect(oneJSONPoint(#"{"series":"\#(commas.dropFirst())","fields":{"f":1}}"#) != nil)
    }

    @Test func aSeriesKeyOverTheLimitIsNamedAsSuch() {
        let over = String(repeating: "v", count: 65_536 - 4)
        #expect(oneError("m,t=\(over) f=1")?.message.hasPrefix(#"series key of "m" is 65536 bytes"#) == true)
        #expect(
            oneJSONError(#"{"series":"m","tags":{"t":"\#(over)"},"fields":{"f":1}}"#)?.message.hasPrefix(
                #"series key of "m" is 65536 bytes"#) == true)
    }

    @Test func theFieldKeyLimitCountsTheSeriesKeyAndTheSeparator() {
        // "m" + "#!~#" + the field key.
        let fits = String(repeating: "f", count: 65_535 - 5)
        #expect(onePoint("m \(fits)=1") != nil)
        #expect(oneJSONPoint(#"{"series":"m","fields":{"\#(fits)":1}}"#) != nil)
        #expect(oneError("m \(fits)f=1")?.reason == .keyTooLong)
        #expect(oneJSONError(#"{"series":"m","fields":{"\#(fits)f":1}}"#)?.reason == .keyTooLong)
        // The second field is the one too long: the error points at it.
        let error = oneError("m a=1,\(fits)ff=1")
        #expect(error?.column == 7)
    }

    @Test func defaultTagsCountInTheSeriesKeyOfLineProtocol() {
        let decoder = LineProtocolDecoder(defaultTags: [Tag("host", "h")])
        let fits = String(repeating: "v", count: 65_530 - 4 - 7)  // ",host=h" is 7 bytes
        #expect(decoder.decode("m,t=\(fits) f=1").errors.isEmpty)
        #expect(decoder.decode("m,t=\(fits)v f=1").errors.map(\.reason) == [.keyTooLong])
    }
}
