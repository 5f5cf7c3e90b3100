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
        return dateTime(trimmed)
    }

    /// `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH[[:]MM]]` in epoch seconds (the gateway's one
    /// ISO 8601 parser, ``ISO8601``: no formatter per row; this runs for every row of a query).
    static func dateTime(_ text: String) -> Double? {
        guard let parts = try? ISO8601.parseParts(text, missingZone: .utc) else { return nil }
        return Double(parts.seconds) + Double(parts.nanoseconds) / 1e9
    }

    static func key(_ value: DatabaseValue) -> String? {
        switch value.storage {
        case .null: return nil
        case .int64(let i): return String(i)
        case .double(let d): return d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .string(let s): return s
        case .blob(let data):
            return String(data: data, encoding: .utf8) ?? data.map { String(format: "%02x", $0) }.joined()
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
