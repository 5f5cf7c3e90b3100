/// Encodes points as JSON lines in the same shape the JSON decoder reads:
/// `{"series":"cpu","time":1700000000.123456789,"tags":{...},"fields":{...}}`.
/// `time` is seconds with the nanoseconds as an exact decimal fraction, so decoding gives back
/// the same point, with one exception: JSON numbers carry no signedness, so an unsigned value
/// that fits Int64 comes back as an integer.
public struct JSONPointEncoder: Sendable {
    public init() {}

    public func encode(_ point: Point, into out: inout [UInt8]) {
        out.append(contentsOf: #"{"series":"#.utf8)
        Self.appendString(point.series, to: &out)
        out.append(contentsOf: #","time":"#.utf8)
        Self.appendSeconds(point.time, to: &out)
        out.append(contentsOf: #","tags":{"#.utf8)
        for (i, tag) in point.tags.enumerated() {
            if i > 0 { out.append(ASCII.comma) }
            Self.appendString(tag.key, to: &out)
            out.append(UInt8(ascii: ":"))
            Self.appendString(tag.value, to: &out)
        }
        out.append(contentsOf: #"},"fields":{"#.utf8)
        for (i, field) in point.fields.enumerated() {
            if i > 0 { out.append(ASCII.comma) }
            Self.appendString(field.key, to: &out)
            out.append(UInt8(ascii: ":"))
            switch field.value {
            case .float(let v):
                // description keeps a '.' or exponent for every finite Double, so the type survives.
                out.append(contentsOf: v.description.utf8)
            case .int(let v): out.append(contentsOf: String(v).utf8)
            case .uint(let v): out.append(contentsOf: String(v).utf8)
            case .bool(let v): out.append(contentsOf: (v ? "true" : "false").utf8)
            case .string(let s): Self.appendString(s, to: &out)
            }
        }
        out.append(contentsOf: "}}\n".utf8)
    }

    public func line(_ point: Point) -> String {
        var out: [UInt8] = []
        encode(point, into: &out)
        out.removeLast()
        return String(decoding: out, as: UTF8.self)
    }

    static func appendSeconds(_ nanoseconds: Int64, to out: inout [UInt8]) {
        let negative = nanoseconds < 0
        let magnitude = nanoseconds.magnitude
        if negative { out.append(ASCII.minus) }
        out.append(contentsOf: String(magnitude / 1_000_000_000).utf8)
        let fraction = magnitude % 1_000_000_000
        if fraction != 0 {
            var digits = Array(String(fraction).utf8)
            while digits.count < 9 { digits.insert(ASCII.zero, at: 0) }
            while digits.last == ASCII.zero { digits.removeLast() }
            out.append(ASCII.dot)
            out.append(contentsOf: digits)
        }
    }

    static func appendString(_ string: String, to out: inout [UInt8]) {
        out.append(ASCII.quote)
        for b in string.utf8 {
            switch b {
            case ASCII.quote: out.append(contentsOf: #"\""#.utf8)
            case ASCII.backslash: out.append(contentsOf: #"\\"#.utf8)
            case ASCII.newline: out.append(contentsOf: #"\n"#.utf8)
            case ASCII.carriageReturn: out.append(contentsOf: #"\r"#.utf8)
            case ASCII.tab: out.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xf)])
            default: out.append(b)
            }
        }
        out.append(ASCII.quote)
    }
}

extension JSONPointEncoder {
    /// Appends `string` as a JSON string literal (for other JSON writers of the gateway).
    public static func appendJSONString(_ string: String, to out: inout [UInt8]) {
        appendString(string, to: &out)
    }
}
