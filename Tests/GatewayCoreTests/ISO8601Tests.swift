import Foundation
import GatewayCore
import Testing

@Suite struct ISO8601Tests {
    // 2024-05-01T10:00:00Z
    static let may1 = Int64(1_714_557_600)

    static let valid: [(String, Int64)] = [
        ("2024-05-01T10:00:00Z", may1 * 1_000_000_000),
        ("2024-05-01t10:00:00z", may1 * 1_000_000_000),
        ("2024-05-01 10:00:00Z", may1 * 1_000_000_000),
        ("2024-05-01T12:00:00+02:00", may1 * 1_000_000_000),
        ("2024-05-01T12:00:00+0200", may1 * 1_000_000_000),
        ("2024-05-01T12:00:00+02", may1 * 1_000_000_000),
        ("2024-05-01T05:30:00-04:30", may1 * 1_000_000_000),
        ("2024-05-01T10:00:00.5Z", may1 * 1_000_000_000 + 500_000_000),
        ("2024-05-01T10:00:00,25Z", may1 * 1_000_000_000 + 250_000_000),
        ("2024-05-01T10:00:00.123456789Z", may1 * 1_000_000_000 + 123_456_789),
        // Digits past nanoseconds are dropped, not rounded.
        ("2024-05-01T10:00:00.1234567899Z", may1 * 1_000_000_000 + 123_456_789),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.5Z", -500_000_000),
        ("2000-02-29T00:00:00Z", 951_782_400 * 1_000_000_000),
        ("2262-04-11T23:47:16.854775807Z", Int64.max),
    ]

    @Test(arguments: valid)
    func parse_readsRFC3339AndItsCommonVariants(text: String, nanoseconds: Int64) throws {
        #expect(try ISO8601.parse(text) == nanoseconds)
    }

    @Test func parse_missingZone_isAnErrorUnlessReadAsUTC() throws {
        #expect(throws: ISO8601Error.self) { try ISO8601.parse("2024-05-01T10:00:00") }
        #expect(try ISO8601.parse("2024-05-01T10:00:00", missingZone: .utc) == Self.may1 * 1_000_000_000)
        #expect(
            try ISO8601.parse("2024-05-01 10:00:00.25", missingZone: .utc) == Self.may1 * 1_000_000_000 + 250_000_000)
    }

    @Test(arguments: [
        ("", 1, "expected 4 digits of the year"),
        ("2024-13-01T00:00:00Z", 6, "month 13 is out of range 1-12"),
        ("2023-02-29T00:00:00Z", 9, "day 29 does not exist in 2023-02"),
        ("2024-04-31T00:00:00Z", 9, "day 31 does not exist in 2024-04"),
        ("2024-05-01T24:00:00Z", 12, "hour 24 is out of range 0-23"),
        ("2024-05-01T10:60:00Z", 15, "minute 60 is out of range 0-59"),
        ("2024-05-01T23:59:60Z", 18, "second 60 is out of range 0-59"),
        ("2024-05-01T10:00Z", 17, "expected ':' after the minute"),
        ("2024-05-01X10:00:00Z", 11, "expected 'T' between the date and the time"),
        ("2024-05-01T10:00:00.Z", 21, "expected digits of the fraction after '.'"),
        ("2024-05-01T10:00:00+25:00", 21, "offset hours 25 is out of range 0-23"),
        ("2024-05-01T10:00:00+02:0", 25, "expected 2 digits of the offset minutes"),
        ("2024-05-01T10:00:00Zjunk", 21, "unexpected text after the date"),
        ("2024-05-01T10:00:00 UTC", 20, "expected a fraction, 'Z' or an offset such as +02:00"),
        ("1714557600", 5, "expected '-' after the year"),
        ("9999-12-31T23:59:59Z", 1, "out of range: Unix nanoseconds reach from 1677 to 2262"),
    ])
    func parse_badInput_namesWhereAndWhy(text: String, position: Int, reason: String) {
        #expect(throws: ISO8601Error(text: text, position: position, reason: reason)) { try ISO8601.parse(text) }
    }

    @Test func parseSeconds_coversEveryFourDigitYear() throws {
        #expect(try ISO8601.parseSeconds("9999-12-31T23:59:59Z") == 253_402_300_799)
        #expect(try ISO8601.parseSeconds("0001-01-01T00:00:00Z") == -62_135_596_800)
        #expect(try ISO8601.parseSeconds("1969-12-31T23:59:59.9Z") == -1)
    }

    @Test func errorText_saysWhatWhereAndWhy() {
        let error = ISO8601Error(text: "2024-13-01T00:00:00Z", position: 6, reason: "month 13 is out of range 1-12")
        #expect(
            "\(error)" == "invalid ISO 8601 date \"2024-13-01T00:00:00Z\" at character 6: month 13 is out of range 1-12"
        )
    }

    @Test func format_writesUTCWithTheFractionAsked() {
        #expect(ISO8601.format(seconds: Self.may1) == "2024-05-01T10:00:00Z")
        #expect(ISO8601.format(seconds: 0) == "1970-01-01T00:00:00Z")
        #expect(ISO8601.format(seconds: -1) == "1969-12-31T23:59:59Z")
        #expect(ISO8601.format(seconds: Self.may1, style: .basic) == "20240501T100000Z")
        let nanos = Self.may1 * 1_000_000_000 + 123_456_789
        #expect(ISO8601.format(nanoseconds: nanos, fractionDigits: 3) == "2024-05-01T10:00:00.123Z")
        #expect(ISO8601.format(nanoseconds: nanos, fractionDigits: 9) == "2024-05-01T10:00:00.123456789Z")
        #expect(ISO8601.format(nanoseconds: nanos) == "2024-05-01T10:00:00Z")
        #expect(ISO8601.format(nanoseconds: -1, fractionDigits: 3) == "1969-12-31T23:59:59.999Z")
    }

    /// Foundation's formatter as an independent reference, over four centuries of instants.
    @Test func format_agreesWithFoundation_andParsesBack() throws {
        let reference = ISO8601DateFormatter()
        var generator = SystemRandomNumberGenerator()
        let edges: [Int64] = [0, -1, 951_782_400, 951_868_799, 4_107_542_400, -2_208_988_800, 253_402_300_799]
        let instants =
            edges + (0..<2_000).map { _ in Int64.random(in: -6_000_000_000...9_000_000_000, using: &generator) }
        for seconds in instants {
            let text = ISO8601.format(seconds: seconds)
            #expect(text == reference.string(from: Date(timeIntervalSince1970: TimeInterval(seconds))), "\(seconds)")
            #expect(try ISO8601.parseSeconds(text) == seconds)
        }
    }
}

@Suite struct ISO8601OffsetTests {
    /// Local time with its offset (dwmon's `minute_local_time`), `Z` at offset 0.
    @Test func format_withAnOffset_writesLocalTimeAndTheOffset() throws {
        let t: Int64 = 1_765_144_980  // 2025-12-07T22:03:00Z
        #expect(ISO8601.format(seconds: t, offsetSeconds: 0) == "2025-12-07T22:03:00Z")
        #expect(ISO8601.format(seconds: t, offsetSeconds: 3_600) == "2025-12-07T23:03:00+01:00")
        #expect(ISO8601.format(seconds: t, offsetSeconds: -(5 * 3_600 + 30 * 60)) == "2025-12-07T16:33:00-05:30")
        #expect(ISO8601.format(seconds: t, offsetSeconds: 14 * 3_600) == "2025-12-08T12:03:00+14:00")
        // Read back, each names the same instant.
        for offset in [0, 3_600, -(5 * 3_600 + 30 * 60), 14 * 3_600] {
            #expect(try ISO8601.parseSeconds(ISO8601.format(seconds: t, offsetSeconds: offset)) == t)
        }
    }
}
