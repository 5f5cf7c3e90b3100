import Testing

@testable import GatewayCore

/// A bad line, why it is bad and where (1-based column on that line).
struct ErrorCase: Sendable, CustomTestStringConvertible {
    let name: String
    let line: [UInt8]
    let reason: RejectReason
    let column: Int

    init(_ name: String, _ line: String, _ reason: RejectReason, column: Int) {
        self.init(name, Array(line.utf8), reason, column: column)
    }

    init(_ name: String, _ line: [UInt8], _ reason: RejectReason, column: Int) {
        self.name = name
        self.line = line
        self.reason = reason
        self.column = column
    }

    var testDescription: String { name }
}

@Suite("Line protocol: errors")
struct LineProtocolErrorTests {
    static let cases: [ErrorCase] = [
        // Unterminated string: the column of the opening quote.
        ErrorCase("unterminated string", #"m s="abc"#, .unterminatedString, column: 5),
        ErrorCase(
            "unterminated string ending in an escaped quote", #"m,t=v a=1,s="abc\""#, .unterminatedString, column: 13),
        // Bad escape: a backslash at the end of a line, at its column.
        ErrorCase("backslash ending the measurement", #"m\"#, .badEscape, column: 2),
        ErrorCase("backslash ending a tag key", #"m,t\"#, .badEscape, column: 4),
        ErrorCase("backslash ending a tag value", #"m,t=v\"#, .badEscape, column: 6),
        // InfluxDB reads a backslash right before a separator as escaping it and refuses these lines.
        ErrorCase("a measurement ending in a backslash pair", #"m\\ f=1"#, .badEscape, column: 3),
        ErrorCase("a tag value ending in a backslash pair", #"m,k=v\\ f=1"#, .badEscape, column: 7),
        ErrorCase("backslash ending a field key", #"m f\"#, .badEscape, column: 4),
        ErrorCase("backslash before CRLF", "m\\\r", .badEscape, column: 2),
        // No fields.
        ErrorCase("measurement only", "m", .noFields, column: 2),
        ErrorCase("measurement and a space", "m ", .noFields, column: 3),
        ErrorCase("measurement and spaces", "m    ", .noFields, column: 6),
        ErrorCase("tags only", "m,t=v", .noFields, column: 6),
        ErrorCase("tags and spaces", "m,t=v   ", .noFields, column: 9),
        // Duplicate keys: the column of the second key.
        ErrorCase("adjacent duplicate tag key", "m,a=1,a=2 f=1", .duplicateKey, column: 7),
        ErrorCase("duplicate tag key out of order", "m,b=1,a=1,b=2 f=1", .duplicateKey, column: 11),
        ErrorCase("duplicate tag key among sorted ones", "m,a=1,c=1,a=2 f=1", .duplicateKey, column: 11),
        ErrorCase("duplicate field key of another type", #"m f=1,f="x""#, .duplicateKey, column: 7),
        ErrorCase("duplicate field key int then uint", "m f=1i,g=2,f=1u", .duplicateKey, column: 12),
        ErrorCase("duplicate field key float then int", "m f=1,f=1i", .duplicateKey, column: 7),
        ErrorCase("duplicate field key bool then string", #"m f=t,f="t""#, .duplicateKey, column: 7),
        // Integer overflow: the column of the value.
        ErrorCase("int past Int64.max", "m f=9223372036854775808i", .integerOverflow, column: 5),
        ErrorCase("int before Int64.min", "m f=-9223372036854775809i", .integerOverflow, column: 5),
        ErrorCase("int with many digits", "m f=123456789012345678901234567890i", .integerOverflow, column: 5),
        ErrorCase("uint past UInt64.max", "m f=18446744073709551616u", .integerOverflow, column: 5),
        ErrorCase("uint far past UInt64.max", "m,t=v f=99999999999999999999u", .integerOverflow, column: 9),
        // Invalid UTF-8: the column where the name or the string's content starts.
        ErrorCase("invalid UTF-8 in the measurement", [0x6D, 0xFF] + Array(" f=1".utf8), .invalidUTF8, column: 1),
        ErrorCase(
            "invalid UTF-8 in an escaped measurement", Array(#"m\ "#.utf8) + [0xC3] + Array(" f=1".utf8), .invalidUTF8,
            column: 1),
        ErrorCase(
            "invalid UTF-8 in a tag key", Array("m,".utf8) + [0xE2, 0x82] + Array("=v f=1".utf8), .invalidUTF8,
            column: 3),
        ErrorCase(
            "invalid UTF-8 in a tag value", Array("m,t=".utf8) + [0xC3] + Array(" f=1".utf8), .invalidUTF8, column: 5),
        ErrorCase(
            "overlong encoding in a tag value", Array("m,t=".utf8) + [0xC0, 0xAF] + Array(" f=1".utf8), .invalidUTF8,
            column: 5),
        ErrorCase(
            "invalid UTF-8 in a field key", Array("m ".utf8) + [0xFE] + Array("=1".utf8), .invalidUTF8, column: 3),
        ErrorCase(
            "invalid UTF-8 in a string field", Array(#"m s=""#.utf8) + [0x61, 0xFF, 0x22], .invalidUTF8, column: 6),
        ErrorCase(
            "invalid UTF-8 in an escaped string field", Array(#"m s="\\"#.utf8) + [0xED, 0xA0, 0x80, 0x22],
            .invalidUTF8, column: 6),
        // Empty names.
        ErrorCase("empty measurement", ",t=v f=1", .emptyName, column: 1),
        ErrorCase("empty tag key", "m,=v f=1", .emptyName, column: 3),
        ErrorCase("empty tag key before a space", "m, f=1", .emptyName, column: 3),
        ErrorCase("empty tag value", "m,t= f=1", .emptyName, column: 5),
        ErrorCase("empty tag value before a comma", "m,t=,u=1 f=1", .emptyName, column: 5),
        ErrorCase("empty field key", "m =1", .emptyName, column: 3),
        ErrorCase("empty second field key", "m f=1,=2", .emptyName, column: 7),
        ErrorCase("trailing comma after fields", "m f=1,", .emptyName, column: 7),
        // Missing '='.
        ErrorCase("field key without '='", "m f", .syntax, column: 4),
        ErrorCase("field key and value without '='", "m f 1", .syntax, column: 4),
        ErrorCase("field key followed by a comma", "m f,g=1", .syntax, column: 4),
        ErrorCase("tag key without '='", "m,t f=1", .syntax, column: 4),
        ErrorCase("unescaped '=' in a tag value", "m,t=a=b f=1", .syntax, column: 6),
        // Missing values.
        ErrorCase("field without value at the end", "m f=", .syntax, column: 5),
        ErrorCase("field without value before a space", "m f= 1", .syntax, column: 5),
        ErrorCase("field without value before a comma", "m f=,g=1", .syntax, column: 5),
        // Timestamps.
        ErrorCase("non-numeric timestamp", "m f=1 abc", .invalidTimestamp, column: 7),
        ErrorCase("fractional timestamp", "m f=1 1.5", .invalidTimestamp, column: 7),
        ErrorCase("timestamp out of range", "m f=1   99999999999999999999", .invalidTimestamp, column: 9),
        // Trailing garbage.
        ErrorCase("a second timestamp", "m f=1 123 456", .syntax, column: 11),
        ErrorCase("garbage after a string", #"m s="x"y"#, .syntax, column: 8),
        ErrorCase("garbage after a string and a space", #"m s="x" 1 y"#, .syntax, column: 11),
        ErrorCase("bad boolean", "m f=tru", .syntax, column: 5),
        ErrorCase("bad number", "m f=1.2.3", .invalidNumber, column: 5),
    ]

    /// Every bad line sits between two good ones: the error names line 2 and both good lines decode.
    @Test(arguments: cases)
    func rejectsBadLine_namingLineAndColumn_andKeepsTheOtherLines(_ c: ErrorCase) {
        let input = Array("before f=1\n".utf8) + c.line + Array("\nafter f=2i\n".utf8)
        let (points, errors) = lp(bytes: input)
        #expect(points.map(\.series) == ["before", "after"])
        #expect(points.last?.field("f") == .int(2))
        #expect(errors.count == 1)
        guard let error = errors.first else { return }
        #expect(error.reason == c.reason, "\(error)")
        #expect(error.line == 2, "\(error)")
        #expect(error.column == c.column, "\(error)")
        #expect(!error.message.isEmpty)
    }

    /// The same bad lines alone, without a newline after them.
    @Test(arguments: cases)
    func rejectsBadLineAtTheEndOfTheInput(_ c: ErrorCase) {
        let error = oneError(bytes: c.line)
        #expect(error?.reason == c.reason)
        #expect(error?.line == 1)
        #expect(error?.column == c.column)
    }

    // MARK: Unterminated strings

    @Test func rejectsUnterminatedString_andResumesOnTheNextLine() {
        let (points, errors) = lp("a f=1\nm s=\"abc\nb f=2\nc f=3\nbad\n")
        #expect(points.map(\.series) == ["a", "b", "c"])
        #expect(errors.count == 2)
        #expect(errors.first?.reason == .unterminatedString)
        #expect(errors.first?.line == 2)
        #expect(errors.first?.column == 5)
        #expect(errors.first?.text == "m s=\"abc")
        // Line numbers after the resumption are right.
        #expect(errors.last?.reason == .noFields)
        #expect(errors.last?.line == 5)
    }

    @Test func rejectsUnterminatedStringOpenedOnALaterLineOfTheSamePoint() {
        // The first string spans lines 1-2 and closes; the second opens on line 2 and never closes.
        let (points, errors) = lp("m a=\"x\ny\",b=\"open\nnext f=1\n")
        #expect(points.map(\.series) == ["next"])
        #expect(errors.count == 1)
        #expect(errors.first?.reason == .unterminatedString)
        #expect(errors.first?.line == 2)
        #expect(errors.first?.column == 6)
    }

    @Test func rejectsUnterminatedStringOnTheLastLine() {
        let (points, errors) = lp("a f=1\nm s=\"abc")
        #expect(points.map(\.series) == ["a"])
        #expect(errors.map(\.reason) == [.unterminatedString])
        #expect(errors.map(\.line) == [2])
    }

    // MARK: Duplicate fields

    @Test func duplicateFieldOfTheSameType_lastValueWins_keepingFirstPosition() {
        guard let point = onePoint(#"m f=1i,g=2,f=3i,s="a",s="b""#) else { return }
        #expect(point.fields == [Field("f", .int(3)), Field("g", .float(2)), Field("s", .string("b"))])
    }

    // MARK: String length

    @Test func acceptsStringOfExactly64KiB() {
        let value = String(repeating: "x", count: 65_536)
        #expect(fieldValue("m s=\"\(value)\"") == .string(value))
    }

    @Test func rejectsStringOver64KiB() {
        let value = String(repeating: "x", count: 65_537)
        let (points, errors) = lp("a f=1\nm s=\"\(value)\"\nb f=2\n")
        #expect(points.map(\.series) == ["a", "b"])
        #expect(errors.count == 1)
        #expect(errors.first?.reason == .stringTooLong)
        #expect(errors.first?.line == 2)
        #expect(errors.first?.column == 6)
        #expect(errors.first?.text.utf8.count == 200)  // the line is shown cut to 200 bytes
    }

    @Test func stringLimitCountsBytesAfterUnescaping() {
        // 32,768 two-byte characters are 65,536 bytes: allowed. One more byte is not.
        let accented = String(repeating: "é", count: 32_768)
        #expect(fieldValue("m s=\"\(accented)\"") == .string(accented))
        #expect(oneError("m s=\"\(accented)x\"")?.reason == .stringTooLong)
        // 65,536 escaped backslashes are 131,072 bytes of input but 65,536 bytes of value.
        let escaped = String(repeating: #"\\"#, count: 65_536)
        #expect(fieldValue("m s=\"\(escaped)\"") == .string(String(repeating: #"\"#, count: 65_536)))
    }

    @Test func honoursAConfiguredStringLimit() {
        #expect(oneError(#"m s="abcd""#, maxStringLength: 3)?.reason == .stringTooLong)
        let (points, errors) = LineProtocolDecoder(maxStringLength: 3).decode(#"m s="abc""#)
        #expect(errors.isEmpty)
        #expect(points.first?.field("s") == .string("abc"))
    }

    // MARK: Positions

    @Test func columnsCountBytes_andLeadingSpaces() {
        // "é" is two bytes; leading spaces count toward the column.
        let error = oneError("  é f=1.2.3")
        #expect(error?.column == 8)
        #expect(error?.text == "  é f=1.2.3")
    }

    @Test func errorTextIsCutTo200BytesOnACharacterBoundary() {
        // "é" would occupy bytes 200 and 201: it is left out rather than cut in half.
        let line = String(repeating: "x", count: 199) + "é" + String(repeating: "y", count: 50)
        #expect(oneError(line)?.text == String(repeating: "x", count: 199))
        let short = String(repeating: "x", count: 198) + "é" + " bad"
        #expect(oneError(short)?.text == String(repeating: "x", count: 198) + "é")
    }

    @Test func errorTextShowsInvalidBytesAsReplacementCharacters_within200Bytes() {
        let error = oneError(bytes: [UInt8](repeating: 0xFF, count: 300) + Array(" f=1".utf8))
        #expect(error?.reason == .invalidUTF8)
        #expect(error?.text == String(repeating: "\u{FFFD}", count: 66))
    }

    @Test func errorAfterAMultiLineStringNamesTheLineItIsOn() {
        let (points, errors) = lp("ok f=1\nm s=\"a\nb\" bad\nok2 f=1\n")
        #expect(points.map(\.series) == ["ok", "ok2"])
        #expect(errors.count == 1)
        #expect(errors.first?.reason == .invalidTimestamp)
        #expect(errors.first?.line == 3)
        #expect(errors.first?.column == 4)
        #expect(errors.first?.text == "m s=\"a")  // the text is the line where the point starts
    }

    @Test func oneErrorPerBadLine_inOrder() {
        let (points, errors) = lp("a\nb f=\nc f=1\nd,=1 f=1\ne f=1 x\n")
        #expect(points.map(\.series) == ["c"])
        #expect(errors.map(\.line) == [1, 2, 4, 5])
        #expect(errors.map(\.reason) == [.noFields, .syntax, .emptyName, .invalidTimestamp])
    }

    @Test func errorDescriptionNamesLineAndColumn() {
        let error = oneError("m f=x")
        #expect(error?.description.hasPrefix("line 1, column 5: ") == true)
    }
}
