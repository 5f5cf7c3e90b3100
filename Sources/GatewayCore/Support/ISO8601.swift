/// ISO 8601 dates for the whole gateway (API answers, webhooks, logs, file names), parsed and
/// formatted with integer arithmetic on Unix time: no Foundation formatter, no allocation beyond
/// the text, the same answer in every time zone and locale.
///
/// Parsing takes RFC 3339's profile: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, with `t`, `z`,
/// a space for the `T`, and `±HHMM` or `±HH` offsets also accepted. A missing zone is an error
/// unless the caller says how to read it (``MissingZone``). Fractions keep nanoseconds (digits
/// past the ninth are ignored). Leap seconds (`:60`) are refused: Unix time has none.
public enum ISO8601 {
    /// What a date written without a zone means.
    public enum MissingZone: Sendable {
        /// An error: the text must say `Z` or an offset.
        case refused
        /// UTC (as Python's `datetime.utcnow().isoformat()` writes).
        case utc
    }

    /// `2026-12-07T21:03:50Z` (extended) or `20261207T210350Z` (basic, for file names).
    public enum Style: Sendable {
        case extended, basic
    }

    /// Unix time in nanoseconds of `text`.
    public static func parse(_ text: String, missingZone: MissingZone = .refused) throws(ISO8601Error) -> Int64 {
        let (seconds, nanos) = try read(text, missingZone)
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow, scaled.addingReportingOverflow(nanos).overflow == false else {
            throw ISO8601Error(
                text: text, position: 1, reason: "out of range: Unix nanoseconds reach from 1677 to 2262")
        }
        return scaled + nanos
    }

    /// Unix time in whole seconds of `text` (any year 0000-9999), the fraction dropped.
    public static func parseSeconds(_ text: String, missingZone: MissingZone = .refused) throws(ISO8601Error) -> Int64 {
        try read(text, missingZone).seconds
    }

    /// Unix time of `text` as whole seconds (any year 0000-9999) and the nanoseconds past them.
    public static func parseParts(
        _ text: String, missingZone: MissingZone = .refused
    ) throws(ISO8601Error) -> (seconds: Int64, nanoseconds: Int64) {
        let (seconds, nanos) = try read(text, missingZone)
        return (seconds, nanos)
    }

    /// Reads `text` in place (its UTF-8 storage; nothing is copied).
    static func read(_ text: String, _ missingZone: MissingZone) throws(ISO8601Error) -> (seconds: Int64, nanos: Int64)
    {
        var contiguous = text
        let result = contiguous.withUTF8 { bytes in
            Result { () throws(ISO8601Error) -> (seconds: Int64, nanos: Int64) in
                var reader = Reader(bytes: bytes, text: text)
                return try reader.read(missingZone: missingZone)
            }
        }
        return try result.get()
    }

    /// `seconds` since the epoch in UTC, without a fraction: `2026-12-07T21:03:50Z`.
    public static func format(seconds: Int64, style: Style = .extended) -> String {
        text(seconds: seconds, nanoseconds: 0, fractionDigits: 0, style: style)
    }

    /// `seconds` since the epoch as local time at `offsetSeconds` east of UTC, with the offset:
    /// `2026-12-07T22:03:00+01:00` (`Z` at offset 0).
    public static func format(seconds: Int64, offsetSeconds: Int) -> String {
        var text = format(seconds: seconds + Int64(offsetSeconds))
        guard offsetSeconds != 0 else { return text }
        text.removeLast()  // the Z
        let magnitude = abs(offsetSeconds)
        let hours = magnitude / 3_600
        let minutes = magnitude / 60 % 60
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return text + (offsetSeconds < 0 ? "-" : "+") + two(hours) + ":" + two(minutes)
    }

    /// `nanoseconds` since the epoch in UTC with `fractionDigits` (0 to 9) digits of the second,
    /// truncated: `2026-12-07T21:03:50.123Z` for 3.
    public static func format(nanoseconds: Int64, fractionDigits: Int = 0, style: Style = .extended) -> String {
        text(
            seconds: floorDivide(nanoseconds, 1_000_000_000), nanoseconds: floorModulo(nanoseconds, 1_000_000_000),
            fractionDigits: min(max(fractionDigits, 0), 9), style: style)
    }

    // MARK: Calendar (proleptic Gregorian, days since 1970-01-01)

    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let shiftedMonth = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
    static func floorModulo(_ a: Int64, _ b: Int64) -> Int64 { a - floorDivide(a, b) * b }

    static func text(seconds: Int64, nanoseconds: Int64, fractionDigits: Int, style: Style) -> String {
        let date = civil(days: floorDivide(seconds, 86_400))
        let second = floorModulo(seconds, 86_400)
        var out: [UInt8] = []
        out.reserveCapacity(32)
        func digits(_ value: Int64, _ count: Int) {
            var divisor: Int64 = 1
            for _ in 1..<count { divisor *= 10 }
            var v = value
            if v < 0 {
                out.append(UInt8(ascii: "-"))
                v = -v
            }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8((v / divisor) % 10))
                divisor /= 10
            }
        }
        let dateSeparator: UInt8? = style == .extended ? UInt8(ascii: "-") : nil
        let timeSeparator: UInt8? = style == .extended ? UInt8(ascii: ":") : nil
        digits(date.year, 4)
        if let dateSeparator { out.append(dateSeparator) }
        digits(date.month, 2)
        if let dateSeparator { out.append(dateSeparator) }
        digits(date.day, 2)
        out.append(UInt8(ascii: "T"))
        digits(second / 3_600, 2)
        if let timeSeparator { out.append(timeSeparator) }
        digits(second / 60 % 60, 2)
        if let timeSeparator { out.append(timeSeparator) }
        digits(second % 60, 2)
        if fractionDigits > 0 {
            out.append(UInt8(ascii: "."))
            var value = nanoseconds
            for _ in fractionDigits..<9 { value /= 10 }
            digits(value, fractionDigits)
        }
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}

/// Why a date did not parse: the text, where (a 1-based character position) and what was expected.
public struct ISO8601Error: Error, Equatable, CustomStringConvertible {
    public let text: String
    public let position: Int
    public let reason: String

    public init(text: String, position: Int, reason: String) {
        self.text = text
        self.position = position
        self.reason = reason
    }

    public var description: String {
        "invalid ISO 8601 date \"\(text)\" at character \(position): \(reason)"
    }
}

extension ISO8601 {
    struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        let text: String
        var index = 0

        func fail(_ reason: String, at position: Int? = nil) -> ISO8601Error {
            ISO8601Error(text: text, position: (position ?? index) + 1, reason: reason)
        }

        mutating func number(_ count: Int, _ what: String) throws(ISO8601Error) -> Int64 {
            var value: Int64 = 0
            for _ in 0..<count {
                guard index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") else {
                    throw fail("expected \(count) digits of the \(what)")
                }
                value = value * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            return value
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws(ISO8601Error) {
            guard index < bytes.count, bytes[index] == byte else { throw fail("expected \(what)") }
            index += 1
        }

        mutating func ranged(
            _ count: Int, _ what: String, _ range: ClosedRange<Int64>
        ) throws(ISO8601Error) -> Int64 {
            let start = index
            let value = try number(count, what)
            guard range.contains(value) else {
                throw fail("\(what) \(value) is out of range \(range.lowerBound)-\(range.upperBound)", at: start)
            }
            return value
        }

        mutating func read(missingZone: MissingZone) throws(ISO8601Error) -> (seconds: Int64, nanos: Int64) {
            let year = try number(4, "year")
            try expect(UInt8(ascii: "-"), "'-' after the year")
            let month = try ranged(2, "month", 1...12)
            try expect(UInt8(ascii: "-"), "'-' after the month")
            let dayStart = index
            let day = try number(2, "day")
            guard day >= 1, day <= ISO8601.daysInMonth(year: year, month: month) else {
                throw fail("day \(day) does not exist in \(year)-\(month < 10 ? "0" : "")\(month)", at: dayStart)
            }
            guard index < bytes.count,
                bytes[index] == UInt8(ascii: "T") || bytes[index] == UInt8(ascii: "t")
                    || bytes[index] == UInt8(ascii: " ")
            else { throw fail("expected 'T' between the date and the time") }
            index += 1
            let hour = try ranged(2, "hour", 0...23)
            try expect(UInt8(ascii: ":"), "':' after the hour")
            let minute = try ranged(2, "minute", 0...59)
            try expect(UInt8(ascii: ":"), "':' after the minute")
            let second = try ranged(2, "second", 0...59)
            var nanos: Int64 = 0
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: ",") {
                index += 1
                var digits = 0
                while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                    if digits < 9 { nanos = nanos * 10 + Int64(bytes[index] - UInt8(ascii: "0")) }
                    digits += 1
                    index += 1
                }
                if digits == 0 { throw fail("expected digits of the fraction after '.'") }
                for _ in min(digits, 9)..<9 { nanos *= 10 }
            }
            var offset: Int64 = 0
            if index == bytes.count {
                if missingZone == .refused { throw fail("expected a zone: 'Z' or an offset such as +02:00") }
            } else if bytes[index] == UInt8(ascii: "Z") || bytes[index] == UInt8(ascii: "z") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                let sign: Int64 = bytes[index] == UInt8(ascii: "-") ? -1 : 1
                index += 1
                let hours = try ranged(2, "offset hours", 0...23)
                var minutes: Int64 = 0
                if index < bytes.count {
                    if bytes[index] == UInt8(ascii: ":") { index += 1 }
                    minutes = try ranged(2, "offset minutes", 0...59)
                }
                offset = sign * (hours * 3_600 + minutes * 60)
            } else {
                throw fail("expected a fraction, 'Z' or an offset such as +02:00")
            }
            guard index == bytes.count else { throw fail("unexpected text after the date") }
            let days = ISO8601.days(year: year, month: month, day: day)
            let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset
            return (seconds, nanos)
        }
    }
}
