/// Encodes points as InfluxDB line protocol, escaping as the reference requires, so that
/// `LineProtocolDecoder().decode(encode(p)) == p` for every valid point.
public struct LineProtocolEncoder: Sendable {
    public var precision: Precision

    public init(precision: Precision = .nanoseconds) {
        self.precision = precision
    }

    /// Appends one line (with its trailing newline) to `out`.
    public func encode(_ point: Point, into out: inout [UInt8]) {
        Self.appendEscaped(point.series, kind: .measurement, to: &out)
        for tag in point.tags {
            out.append(ASCII.comma)
            Self.appendEscaped(tag.key, kind: .key, to: &out)
            out.append(ASCII.equals)
            Self.appendEscaped(tag.value, kind: .key, to: &out)
        }
        out.append(ASCII.space)
        var first = true
        for field in point.fields {
            if !first { out.append(ASCII.comma) }
            first = false
            Self.appendEscaped(field.key, kind: .key, to: &out)
            out.append(ASCII.equals)
            Self.appendValue(field.value, to: &out)
        }
        out.append(ASCII.space)
        Self.appendInteger(point.time / precision.multiplier, to: &out)
        out.append(ASCII.newline)
    }

    /// Encodes a batch as one body.
    public func encode(_ points: some Sequence<Point>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(points.underestimatedCount * 96)
        for point in points { encode(point, into: &out) }
        return out
    }

    /// One point as a line, without the trailing newline.
    public func line(_ point: Point) -> String {
        var out: [UInt8] = []
        encode(point, into: &out)
        out.removeLast()
        return String(decoding: out, as: UTF8.self)
    }

    enum EscapeKind { case measurement, key }

    static func appendEscaped(_ text: String, kind: EscapeKind, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes in
            // Most names need no escaping: copy them whole.
            var plain = true
            for b in bytes where b == ASCII.comma || b == ASCII.space || b == ASCII.backslash || (b == ASCII.equals && kind == .key) {
                plain = false
                break
            }
            if plain {
                out.append(contentsOf: bytes)
                return
            }
            for b in bytes {
                switch b {
                case ASCII.comma, ASCII.space, ASCII.backslash:
                    out.append(ASCII.backslash)
                case ASCII.equals where kind == .key:
                    out.append(ASCII.backslash)
                default:
                    break
                }
                out.append(b)
            }
        }
    }

    static func appendValue(_ value: FieldValue, to out: inout [UInt8]) {
        switch value {
        case .float(let v):
            if v == v.rounded(.towardZero), abs(v) < 1e15 {
                // Integral floats print without an exponent; keep a visible float form.
                appendInteger(Int64(v), to: &out)
                if v == 0, v.sign == .minus { out.insert(ASCII.minus, at: out.count - 1) }
            } else {
                out.append(contentsOf: v.description.utf8)
            }
        case .int(let v):
            appendInteger(v, to: &out)
            out.append(UInt8(ascii: "i"))
        case .uint(let v):
            out.append(contentsOf: String(v).utf8)
            out.append(UInt8(ascii: "u"))
        case .bool(let v):
            out.append(contentsOf: (v ? "true" : "false").utf8)
        case .string(let s):
            out.append(ASCII.quote)
            var s = s
            s.withUTF8 { bytes in
                if !bytes.contains(where: { $0 == ASCII.quote || $0 == ASCII.backslash }) {
                    out.append(contentsOf: bytes)
                    return
                }
                for b in bytes {
                    if b == ASCII.quote || b == ASCII.backslash { out.append(ASCII.backslash) }
                    out.append(b)
                }
            }
            out.append(ASCII.quote)
        }
    }

    static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        if value == 0 {
            out.append(ASCII.zero)
            return
        }
        var magnitude = value.magnitude
        if value < 0 { out.append(ASCII.minus) }
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes of stack
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            while magnitude > 0 {
                buffer[31 - count] = UInt8(magnitude % 10) + ASCII.zero
                magnitude /= 10
                count += 1
            }
            out.append(contentsOf: buffer[(32 - count)...])
        }
    }
}
