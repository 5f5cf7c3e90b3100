// Line protocol decoding, part of the hot path (see LineParser.swift): field values (booleans,
// integers, unsigned, quoted strings); floats are in LineParser+Float.swift.

extension LineParser {
    // MARK: - Field values

    mutating func readFieldValue(key: String) throws(Failure) -> FieldValue {
        guard position < bytes.count else {
            throw Failure(position: position, reason: .syntax, message: "missing value for field \"\(key)\"")
        }
        let first = bytes[position]
        if first == ASCII.quote { return .string(try readString(key: key)) }
        let start = position
        while position < bytes.count {
            let b = bytes[position]
            if b == ASCII.comma || b == ASCII.space || b == ASCII.newline { break }
            if b == ASCII.carriageReturn, position + 1 >= bytes.count || bytes[position + 1] == ASCII.newline { break }
            position += 1
        }
        let token = UnsafeBufferPointer(rebasing: bytes[start..<position])
        if token.isEmpty {
            throw Failure(position: start, reason: .syntax, message: "missing value for field \"\(key)\"")
        }
        switch first {
        case UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "f"), UInt8(ascii: "F"):
            if let value = Self.parseBool(token) { return .bool(value) }
            throw Failure(
                position: start, reason: .syntax,
                message:
                    "invalid boolean for field \"\(key)\": expected t, T, true, True, TRUE, f, F, false, False or FALSE"
            )
        default:
            return try parseNumber(token, at: start, key: key)
        }
    }

    static func parseBool(_ token: UnsafeBufferPointer<UInt8>) -> Bool? {
        switch token.count {
        case 1:
            switch token[0] {
            case UInt8(ascii: "t"), UInt8(ascii: "T"): return true
            case UInt8(ascii: "f"), UInt8(ascii: "F"): return false
            default: return nil
            }
        case 4:
            return matchesWord(token, lower: "true", upper: "TRUE") ? true : nil
        case 5:
            return matchesWord(token, lower: "false", upper: "FALSE") ? false : nil
        default:
            return nil
        }
    }

    /// True for the all-lower, all-upper or capitalised spelling of a word (InfluxDB's booleans).
    static func matchesWord(_ token: UnsafeBufferPointer<UInt8>, lower: StaticString, upper: StaticString) -> Bool {
        let l = UnsafeBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount)
        let u = UnsafeBufferPointer(start: upper.utf8Start, count: upper.utf8CodeUnitCount)
        guard token.count == l.count else { return false }
        let capitalised = token[0] == u[0]
        var allUpper = capitalised
        var rest = true
        for i in 1..<token.count {
            if token[i] != l[i] { rest = false }
            if token[i] != u[i] { allUpper = false }
        }
        return (token[0] == l[0] || capitalised) && rest || allUpper
    }

    func parseNumber(_ token: UnsafeBufferPointer<UInt8>, at start: Int, key: String) throws(Failure) -> FieldValue {
        let last = token[token.count - 1]
        if last == UInt8(ascii: "i") || last == UInt8(ascii: "u") {
            let digits = UnsafeBufferPointer(rebasing: token[0..<(token.count - 1)])
            let negative = digits.first == ASCII.minus
            let body = negative ? UnsafeBufferPointer(rebasing: digits[1...]) : digits
            guard !body.isEmpty, body.allSatisfy({ $0 >= ASCII.zero && $0 <= ASCII.nine }) else {
                throw Failure(
                    position: start, reason: .invalidNumber,
                    message:
                        "invalid \(last == UInt8(ascii: "i") ? "integer" : "unsigned integer") for field \"\(key)\"")
            }
            if last == UInt8(ascii: "u") {
                guard !negative else {
                    throw Failure(
                        position: start, reason: .invalidNumber,
                        message: "unsigned integer for field \"\(key)\" is negative")
                }
                guard let value = Self.accumulate(body, limit: UInt64.max) else {
                    throw Failure(
                        position: start, reason: .integerOverflow,
                        message: "unsigned integer for field \"\(key)\" is larger than 18446744073709551615")
                }
                return .uint(value)
            }
            let limit: UInt64 = negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)
            guard let magnitude = Self.accumulate(body, limit: limit) else {
                throw Failure(
                    position: start, reason: .integerOverflow,
                    message: "integer for field \"\(key)\" is outside the 64-bit signed range")
            }
            return .int(negative ? Int64(truncatingIfNeeded: 0 &- magnitude) : Int64(magnitude))
        }
        guard let value = Self.parseFloat(token) else {
            throw Failure(
                position: start, reason: .invalidNumber,
                message:
                    "invalid number for field \"\(key)\": expected a float, an integer with i or an unsigned with u")
        }
        return .float(value)
    }

    /// Decimal digits to an unsigned value, nil past `limit`.
    static func accumulate(_ digits: UnsafeBufferPointer<UInt8>, limit: UInt64) -> UInt64? {
        var value: UInt64 = 0
        for d in digits {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(d &- ASCII.zero))
            if o1 || o2 || sum > limit { return nil }
            value = sum
        }
        return value
    }

    /// Reads a quoted string; `\"` and `\\` are escapes, other backslashes are literal.
    mutating func readString(key: String) throws(Failure) -> String {
        let open = position
        let openLine = lineNumber
        position += 1
        let start = position
        let count = bytes.count
        var escaped = false
        var ascii = true
        var firstNewline: Int? = nil
        while position < count {
            let b = bytes[position]
            if b == ASCII.quote { break }
            if b == ASCII.backslash, position + 1 < count,
                bytes[position + 1] == ASCII.quote || bytes[position + 1] == ASCII.backslash
            {
                escaped = true
                position += 2
                continue
            }
            if b == ASCII.newline {
                if firstNewline == nil { firstNewline = position }
                lineNumber += 1
            }
            if b >= 0x80 { ascii = false }
            position += 1
        }
        guard position < count else {
            throw Failure(
                position: open, reason: .unterminatedString,
                message: "unterminated string for field \"\(key)\": no closing quote",
                resumeAt: firstNewline.map { $0 + 1 } ?? count, resumeLine: openLine + 1)
        }
        let raw = UnsafeBufferPointer(rebasing: bytes[start..<position])
        position += 1  // closing quote
        var value: String
        if escaped {
            scratch.removeAll(keepingCapacity: true)
            var i = 0
            while i < raw.count {
                if raw[i] == ASCII.backslash, i + 1 < raw.count,
                    raw[i + 1] == ASCII.quote || raw[i + 1] == ASCII.backslash
                {
                    scratch.append(raw[i + 1])
                    i += 2
                } else {
                    scratch.append(raw[i])
                    i += 1
                }
            }
            guard let s = scratch.withUnsafeBufferPointer({ String(validating: $0, as: UTF8.self) }) else {
                throw Failure(
                    position: start, reason: .invalidUTF8, message: "string for field \"\(key)\" is not valid UTF-8")
            }
            value = s
        } else if ascii {
            value = String(decoding: raw, as: UTF8.self)
        } else {
            guard let s = String(validating: raw, as: UTF8.self) else {
                throw Failure(
                    position: start, reason: .invalidUTF8, message: "string for field \"\(key)\" is not valid UTF-8")
            }
            value = s
        }
        if value.utf8.count > maxStringLength {
            throw Failure(
                position: start, reason: .stringTooLong,
                message:
                    "string for field \"\(key)\" is \(value.utf8.count) bytes, over the limit of \(maxStringLength)")
        }
        return value
    }
}
