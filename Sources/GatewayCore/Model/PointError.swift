/// Why a point was rejected: a short, stable word used as the `reason` label of
/// `gateway_points_rejected_total`. A struct over a string so the set can grow.
public struct RejectReason: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let syntax = RejectReason("syntax")
    public static let unterminatedString = RejectReason("unterminated_string")
    public static let badEscape = RejectReason("bad_escape")
    public static let noFields = RejectReason("no_fields")
    public static let duplicateKey = RejectReason("duplicate_key")
    public static let integerOverflow = RejectReason("integer_overflow")
    public static let invalidNumber = RejectReason("invalid_number")
    public static let invalidTimestamp = RejectReason("invalid_timestamp")
    public static let invalidUTF8 = RejectReason("invalid_utf8")
    public static let emptyName = RejectReason("empty_name")
    /// A name line protocol would read differently: a control character, a series starting with `#`.
    public static let invalidName = RejectReason("invalid_name")
    /// A series key or field key over InfluxDB's 65,535 bytes.
    public static let keyTooLong = RejectReason("key_too_long")
    public static let stringTooLong = RejectReason("string_too_long")
    public static let invalidJSON = RejectReason("invalid_json")
    public static let schema = RejectReason("schema")
}

/// A point that could not be decoded or failed validation: what, where and why.
public struct PointError: Error, Sendable, Hashable, CustomStringConvertible {
    /// 1-based line of the input (for JSON: the line where the point starts).
    public var line: Int
    /// 1-based byte column within that line; 0 when not meaningful (schema errors).
    public var column: Int
    public var reason: RejectReason
    /// What was expected, in words: "expected '=' after field key \"usage\"".
    public var message: String
    /// The offending line, cut to 200 bytes, for error bodies and logs.
    public var text: String

    public init(line: Int, column: Int, reason: RejectReason, message: String, text: String = "") {
        self.line = line
        self.column = column
        self.reason = reason
        self.message = message
        self.text = text
    }

    public var description: String {
        column > 0 ? "line \(line), column \(column): \(message)" : "line \(line): \(message)"
    }
}

extension PointError {
    /// The longest ``text`` shown, in bytes.
    static let maxTextLength = 200

    /// `line` as ``text``: at most 200 bytes, cut on a character boundary, bytes that are not
    /// UTF-8 shown as U+FFFD. U+FFFD takes three bytes, so the cut is made after decoding; the
    /// three bytes read past the limit complete a character that straddles it.
    static func excerpt(_ line: UnsafeBufferPointer<UInt8>) -> String {
        var text = String(decoding: UnsafeBufferPointer(rebasing: line.prefix(maxTextLength + 3)), as: UTF8.self)
        while text.utf8.count > maxTextLength { text.removeLast() }
        return text
    }
}
