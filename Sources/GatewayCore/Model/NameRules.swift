/// What the names of a point (series, tag keys and values, field keys) may hold, so that line
/// protocol carries them to InfluxDB and back unchanged. Both decoders apply these rules, and
/// refuse, with a reason naming the name, what would be read differently downstream:
///
/// - A control character (U+0000-U+001F, U+007F-U+009F): a line break ends the line, a leading tab
///   is skipped as white space, and InfluxDB refuses non-printable names where it checks them.
/// - A series starting with `#`: line protocol reads such a line as a comment (there is no escape
///   for it), so the point would vanish.
/// - A series key (the measurement and tags as line protocol writes them, escapes included) over
///   65,535 bytes, or a field key that with the series key and InfluxDB's 4-byte separator exceeds
///   that: InfluxDB refuses such keys ("max key length exceeded").
///
/// Empty names are refused by each decoder as it reads them.
public enum NameRules {
    /// InfluxDB's longest series key, and longest series key + separator + field key.
    public static let maxKeyLength = 65_535
    /// The separator InfluxDB's storage puts between a series key and a field key (`#!~#`).
    public static let fieldKeySeparatorLength = 4

    /// Whether two names are the same name: byte for byte, as InfluxDB compares them. Swift's `==`
    /// on strings compares canonical equivalence ("é" precomposed equals "e" + U+0301), which made
    /// two distinct field keys one (the first value lost). `==` answers first: names that differ
    /// (the usual case) cost what they did; only equal ones are compared again by bytes.
    @inlinable
    public static func same(_ a: String, _ b: String) -> Bool {
        a == b && a.utf8.elementsEqual(b.utf8)
    }

    /// True for U+0000-U+001F and U+007F-U+009F.
    @inlinable
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value < 0xA0)
    }

    /// The first control character in valid UTF-8 `raw`, if any.
    static func firstControlCharacter(_ raw: UnsafeBufferPointer<UInt8>) -> Unicode.Scalar? {
        var i = 0
        while i < raw.count {
            let b = raw[i]
            if b < 0x20 || b == 0x7F { return Unicode.Scalar(b) }
            // U+0080-U+009F are C2 80 to C2 9F in UTF-8.
            if b == 0xC2, i + 1 < raw.count, raw[i + 1] < 0xA0 { return Unicode.Scalar(raw[i + 1]) }
            i += 1
        }
        return nil
    }

    /// The first control character in `name`, if any.
    static func firstControlCharacter(_ name: String) -> Unicode.Scalar? {
        var copy = name
        return copy.withUTF8 { firstControlCharacter($0) }
    }

    /// Why a name holding `scalar` is refused: `what` names it (`series "a b"`, `tag key "k"`).
    static func controlMessage(_ what: String, _ scalar: Unicode.Scalar) -> String {
        if scalar == "\n" || scalar == "\r" {
            return "\(what) contains a line break, which line protocol cannot carry in a name"
        }
        return "\(what) contains the control character \(hex(scalar)): names may not hold control characters"
    }

    static func hex(_ scalar: Unicode.Scalar) -> String {
        let digits = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// Why a series starting with `#` is refused.
    static func commentMessage(_ series: String) -> String {
        "series \(show(series)) starts with '#': line protocol reads such a line as a comment, so the point would vanish downstream"
    }

    /// A name as shown in messages: quoted, its first 40 characters, control characters as `\u{..}`.
    public static func show(_ name: String) -> String {
        var out = "\""
        var shown = 0
        for scalar in name.unicodeScalars {
            if shown == 40 {
                out += "…"
                break
            }
            if isControl(scalar) {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
            shown += 1
        }
        return out + "\""
    }

    // MARK: - Key lengths

    /// The bytes `name` takes in line protocol: escapes for `,` and space (and `=` outside a
    /// measurement), as ``LineProtocolEncoder`` writes them.
    static func escapedLength(_ name: String, escapingEquals: Bool) -> Int {
        var length = 0
        for b in name.utf8 {
            length += b == ASCII.comma || b == ASCII.space || (escapingEquals && b == ASCII.equals) ? 2 : 1
        }
        return length
    }

    /// Why `name` cannot be written in line protocol so that InfluxDB reads it back the same, if it
    /// cannot: InfluxDB takes `\\` in a name as two backslashes and a backslash before a separator as
    /// escaping it, so a name ending in a backslash, or with an odd run of backslashes right before
    /// `,`, a space (or `=`, outside a measurement), has no spelling. Line protocol never decodes to
    /// such a name; JSON can.
    public static func lineProtocolProblem(_ name: String, measurement: Bool) -> String? {
        var run = 0
        for b in name.utf8 {
            if b == ASCII.backslash {
                run += 1
                continue
            }
            if run % 2 == 1, b == ASCII.comma || b == ASCII.space || (!measurement && b == ASCII.equals) {
                return "has a backslash right before \"\(Character(Unicode.Scalar(b)))\": line protocol cannot spell it"
            }
            run = 0
        }
        return run > 0 ? "ends with a backslash: line protocol cannot spell it (InfluxDB refuses such a line)" : nil
    }

    /// The series key's length: the measurement and tags as line protocol writes them.
    public static func seriesKeyLength(series: String, tags: [Tag]) -> Int {
        var length = escapedLength(series, escapingEquals: false)
        for tag in tags {
            length += 2 + escapedLength(tag.key, escapingEquals: true) + escapedLength(tag.value, escapingEquals: true)
        }
        return length
    }

    /// Why the series key of `series` and `tags` is too long, naming its longest part; nil when it
    /// is within ``maxKeyLength``.
    static func seriesKeyProblem(series: String, tags: [Tag], limit: Int = maxKeyLength) -> String? {
        let length = seriesKeyLength(series: series, tags: tags)
        guard length > limit else { return nil }
        var longest = "series \(show(series))"
        var longestLength = series.utf8.count
        for tag in tags {
            if tag.key.utf8.count > longestLength {
                longest = "tag key \(show(tag.key))"
                longestLength = tag.key.utf8.count
            }
            if tag.value.utf8.count > longestLength {
                longest = "value of tag \(show(tag.key))"
                longestLength = tag.value.utf8.count
            }
        }
        return
            "series key of \(show(series)) is \(length) bytes, over InfluxDB's limit of \(limit) (its longest part: \(longest), \(longestLength) bytes)"
    }

    /// Why field key `key` is too long for the series key of `series` and `tags`; nil when it fits.
    static func fieldKeyProblem(_ key: String, series: String, tags: [Tag], limit: Int = maxKeyLength) -> String? {
        let seriesKey = seriesKeyLength(series: series, tags: tags)
        let length = seriesKey + fieldKeySeparatorLength + escapedLength(key, escapingEquals: true)
        guard length > limit else { return nil }
        return
            "field key \(show(key)) (\(key.utf8.count) bytes) with the series key of \(show(series)) (\(seriesKey) bytes) makes a key of \(length) bytes, over InfluxDB's limit of \(limit)"
    }
}
