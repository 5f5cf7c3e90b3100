import Foundation
import GRDB
import GatewayCore

/// Keys and timestamps as the sources hand them over.
enum DwmonValue {
    /// Epoch seconds from a number, a numeric string, or an ISO 8601 / SQL date-time
    /// (`2026-11-21T10:00:00Z`, `2026-11-21 10:00:00.5+01:00`, `+01`, `+0100`; no zone means UTC).
    static func timestamp(_ text: String) -> Double? {
        let trimmed = text.trimmingWhitespace
        if let number = Double(trimmed) { return number.isFinite ? number : nil }
        return dateTime(Array(trimmed.utf8))
    }

    /// `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH[[:]MM]]`, parsed by hand (a formatter per row is
    /// slow, and this runs for every row of a query).
    static func dateTime(_ b: [UInt8]) -> Double? {
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var value = 0
            for i in from..<(from + count) {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                value = value * 10 + Int(b[i] - 0x30)
            }
            return value
        }
        guard b.count >= 19, let year = number(0, 4), b[4] == 0x2D, let month = number(5, 2), b[7] == 0x2D,
            let day = number(8, 2), b[10] == 0x54 || b[10] == 0x20 || b[10] == 0x74, let hour = number(11, 2),
            b[13] == 0x3A, let minute = number(14, 2), b[16] == 0x3A, let second = number(17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second <= 60
        else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == 0x2E {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                fraction += Double(b[i] - 0x30) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        var offset = 0
        if i < b.count {
            if b[i] == 0x5A || b[i] == 0x7A {
                i += 1
            } else if b[i] == 0x2B || b[i] == 0x2D {
                let sign = b[i] == 0x2D ? -1 : 1
                guard let hours = number(i + 1, 2) else { return nil }
                i += 3
                var minutes = 0
                if i < b.count {
                    if b[i] == 0x3A { i += 1 }
                    guard let m = number(i, 2) else { return nil }
                    minutes = m
                    i += 2
                }
                offset = sign * (hours * 3600 + minutes * 60)
            }
        }
        guard i == b.count else { return nil }
        // Days from 1970-01-01 to the civil date (H. Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return Double(days * 86_400 + hour * 3600 + minute * 60 + second - offset) + fraction
    }

    static func key(_ value: DatabaseValue) -> String? {
        switch value.storage {
        case .null: return nil
        case .int64(let i): return String(i)
        case .double(let d): return d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .string(let s): return s
        case .blob(let data): return String(data: data, encoding: .utf8) ?? data.map { String(format: "%02x", $0) }.joined()
        }
    }

    static func timestamp(_ value: DatabaseValue) -> Double? {
        switch value.storage {
        case .null, .blob: return nil
        case .int64(let i): return Double(i)
        case .double(let d): return d.isFinite ? d : nil
        case .string(let s): return timestamp(s)
        }
    }

    static func key(_ value: JSONValue) -> String? {
        switch value {
        case .string(let s): return s
        case .number(let text): return text
        default: return nil
        }
    }

    static func timestamp(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let text): return Double(text).flatMap { $0.isFinite ? $0 : nil }
        case .string(let s): return timestamp(s)
        default: return nil
        }
    }
}

/// Secrets out of URLs before they reach logs and answers.
enum DwmonRedact {
    /// `scheme://host[:port]/path`: no user, password or query string (tokens live there).
    static func url(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.host != nil else { return userInfo(text) }
        components.user = nil
        components.password = nil
        components.query = nil
        components.fragment = nil
        return components.string ?? userInfo(text)
    }

    /// Whatever sits between `://` and the last `@`, masked (a password may hold `/`, `#` or `?`, so
    /// the last `@` anywhere counts: masking too much is the safe side).
    static func userInfo(_ text: String) -> String {
        guard let scheme = text.range(of: "://") else { return text }
        let rest = text[scheme.upperBound...]
        guard let at = rest.lastIndex(of: "@") else { return text }
        return String(text[..<scheme.upperBound]) + "***" + String(rest[at...])
    }
}
