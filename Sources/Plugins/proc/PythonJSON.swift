/// JSON text as Python's `json.dumps` writes it with its defaults (`", "` and `": "` separators,
/// non-ASCII as `\uXXXX`, floats as `repr`), for the original resource server's answers that its
/// clients decode twice (`json.loads(response.json())`).
enum PythonJSON {
    /// `{"name": [1.5, 0.0], ...}` in the order given.
    static func dumps(_ entries: [(key: String, values: [Double])]) -> String {
        var out = "{"
        for (index, entry) in entries.enumerated() {
            if index > 0 { out += ", " }
            out += string(entry.key, asciiOnly: true)
            out += ": ["
            out += entry.values.map(float).joined(separator: ", ")
            out += "]"
        }
        return out + "}"
    }

    /// A float as Python's `repr`: shortest round-trip digits, `1e-05` and `1e+16` past its
    /// thresholds, `.0` on integral values. Non-finite values are not valid JSON and never reach here.
    static func float(_ value: Double) -> String {
        // Swift's description is the same shortest round-trip form and switches to exponents at the
        // same places (below 1e-4, from 1e16).
        value.description
    }

    /// A JSON string literal; with `asciiOnly`, every non-ASCII scalar as `\uXXXX` (surrogate pairs
    /// above the BMP), as `json.dumps(..., ensure_ascii=True)`.
    static func string(_ text: String, asciiOnly: Bool) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || (asciiOnly && scalar.value > 0x7E) {
                    if scalar.value > 0xFFFF {
                        let v = scalar.value - 0x10000
                        out += hex(0xD800 + (v >> 10)) + hex(0xDC00 + (v & 0x3FF))
                    } else {
                        out += hex(scalar.value)
                    }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
    }
}
