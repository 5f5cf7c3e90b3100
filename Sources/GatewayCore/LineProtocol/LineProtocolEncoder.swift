/// Encodes points as InfluxDB line protocol, escaping as the reference requires, so that
/// `LineProtocolDecoder().decode(encode(p)) == p` for every valid point.
///
/// Lines are written into memory sized beforehand from the point's worst case (every name byte
/// escaped, every number at its longest), so the hot loop does no capacity checks and no copies of
/// names or values beyond the one into the output.
public struct LineProtocolEncoder: Sendable {
    public var precision: Precision

    public init(precision: Precision = .nanoseconds) {
        self.precision = precision
    }

    /// Appends one line (with its trailing newline) to `out`.
    public func encode(_ point: Point, into out: inout [UInt8]) {
        let worst = Self.maxLength(point)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: worst) { buffer in
            let written = write(point, to: buffer.baseAddress!)
            out.append(contentsOf: UnsafeBufferPointer(start: buffer.baseAddress!, count: written))
        }
    }

    /// Encodes points as one body, one line each.
    public func encode(_ points: [Point]) -> [UInt8] { encodeAll(points) }

    /// Encodes a batch as one body, one line per point.
    public func encode(_ batch: PointBatch) -> [UInt8] { encodeAll(batch) }

    /// `points` is read twice (sizes, then lines): a collection or a batch, not a one-pass sequence.
    ///
    /// Points decoded from the same series share one tag array (the decoder's series cache hands it
    /// out), so the escaped key section written for the first of them is copied for the others: a
    /// small table maps the tag array's storage (alive, so unique, while the points are) and the
    /// series to where that key section was written.
    private func encodeAll(_ points: some Sequence<Point>) -> [UInt8] {
        var worst = 0
        for point in points { worst += Self.maxLength(point) }
        if worst == 0 { return [] }
        var keys = [WrittenKey](repeating: WrittenKey(), count: 64)
        return [UInt8](unsafeUninitializedCapacity: worst) { buffer, count in
            let base = buffer.baseAddress!
            var cursor = base
            for point in points {
                let storage = point.tags.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
                if let storage {
                    let slot = Int(truncatingIfNeeded: UInt(bitPattern: storage) >> 4) & 63
                    if keys[slot].storage == storage, keys[slot].series == point.series {
                        (cursor).update(from: base + keys[slot].offset, count: keys[slot].length)
                        cursor += keys[slot].length
                    } else {
                        let length = writeKey(point, to: cursor)
                        keys[slot] = WrittenKey(
                            storage: storage, series: point.series, offset: base.distance(to: cursor), length: length)
                        cursor += length
                    }
                } else {
                    cursor += writeKey(point, to: cursor)
                }
                cursor += writeFieldsAndTime(point, to: cursor)
            }
            count = base.distance(to: cursor)
        }
    }

    /// Where the key section of a tag array and series was written in the output.
    struct WrittenKey {
        var storage: UnsafeRawPointer? = nil
        var series = ""
        var offset = 0
        var length = 0
    }

    /// One point as a line, without the trailing newline.
    public func line(_ point: Point) -> String {
        var out: [UInt8] = []
        encode(point, into: &out)
        out.removeLast()
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Sizes

    /// Longest text of a float (`-2.2250738585072014e-308` is 24 bytes), an integer with its suffix
    /// (`-9223372036854775808i`), a timestamp.
    static let maxFloatLength = 32
    static let maxIntegerLength = 21

    /// An upper bound of the bytes `write` produces for `point`.
    static func maxLength(_ point: Point) -> Int {
        var length = 2 * point.series.utf8.count + 1 + maxIntegerLength + 2
        for tag in point.tags { length += 2 + 2 * tag.key.utf8.count + 2 * tag.value.utf8.count }
        for field in point.fields {
            length += 2 + 2 * field.key.utf8.count
            switch field.value {
            case .float: length += maxFloatLength
            case .int, .uint: length += maxIntegerLength
            case .bool: length += 5
            case .string(let s): length += 2 + 2 * s.utf8.count
            }
        }
        return length
    }

    // MARK: - Writing

    /// Writes one line with its newline at `out` (room for ``maxLength(_:)`` bytes); returns its length.
    func write(_ point: Point, to out: UnsafeMutablePointer<UInt8>) -> Int {
        let n = writeKey(point, to: out)
        return n + writeFieldsAndTime(point, to: out + n)
    }

    /// The measurement and tags.
    func writeKey(_ point: Point, to out: UnsafeMutablePointer<UInt8>) -> Int {
        var n = Self.writeName(point.series, escapingEquals: false, to: out)
        for tag in point.tags {
            out[n] = ASCII.comma
            n += 1
            n += Self.writeName(tag.key, escapingEquals: true, to: out + n)
            out[n] = ASCII.equals
            n += 1
            n += Self.writeName(tag.value, escapingEquals: true, to: out + n)
        }
        return n
    }

    /// A space, the fields, a space, the timestamp and the newline.
    func writeFieldsAndTime(_ point: Point, to out: UnsafeMutablePointer<UInt8>) -> Int {
        var n = 0
        var separator = ASCII.space
        for field in point.fields {
            out[n] = separator
            n += 1
            separator = ASCII.comma
            n += Self.writeName(field.key, escapingEquals: true, to: out + n)
            out[n] = ASCII.equals
            n += 1
            n += Self.writeValue(field.value, to: out + n)
        }
        out[n] = ASCII.space
        n += 1
        n += Self.writeInteger(point.time / precision.multiplier, to: out + n)
        out[n] = ASCII.newline
        return n + 1
    }

    /// A measurement (`escapingEquals` false) or a key or tag value, escaped; returns its length.
    @inline(__always)
    static func writeName(_ name: String, escapingEquals: Bool, to out: UnsafeMutablePointer<UInt8>) -> Int {
        if let written = name.utf8.withContiguousStorageIfAvailable({
            writeEscaped($0, escapingEquals: escapingEquals, to: out)
        }) {
            return written
        }
        var copy = name
        return copy.withUTF8 { writeEscaped($0, escapingEquals: escapingEquals, to: out) }
    }

    static func writeEscaped(
        _ bytes: UnsafeBufferPointer<UInt8>, escapingEquals: Bool, to out: UnsafeMutablePointer<UInt8>
    )
        -> Int
    {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        var plain = true
        // Backslashes are written as they are: InfluxDB reads `\\` in a name as two backslashes.
        for b in bytes where b == ASCII.comma || b == ASCII.space || (b == ASCII.equals && escapingEquals) {
            plain = false
            break
        }
        if plain {
            out.update(from: base, count: bytes.count)
            return bytes.count
        }
        var n = 0
        for b in bytes {
            if b == ASCII.comma || b == ASCII.space || (b == ASCII.equals && escapingEquals) {
                out[n] = ASCII.backslash
                n += 1
            }
            out[n] = b
            n += 1
        }
        return n
    }

    static func writeValue(_ value: FieldValue, to out: UnsafeMutablePointer<UInt8>) -> Int {
        switch value {
        case .float(let v):
            return writeFloat(v, to: out)
        case .int(let v):
            let n = writeInteger(v, to: out)
            out[n] = UInt8(ascii: "i")
            return n + 1
        case .uint(let v):
            let n = writeUnsigned(v, to: out)
            out[n] = UInt8(ascii: "u")
            return n + 1
        case .bool(let v):
            return writeASCII(v ? "true" : "false", to: out)
        case .string(let s):
            out[0] = ASCII.quote
            var n = 1
            let write = { (bytes: UnsafeBufferPointer<UInt8>) -> Int in
                guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
                if !bytes.contains(where: { $0 == ASCII.quote || $0 == ASCII.backslash }) {
                    (out + 1).update(from: base, count: bytes.count)
                    return bytes.count
                }
                var k = 0
                for b in bytes {
                    if b == ASCII.quote || b == ASCII.backslash {
                        out[1 + k] = ASCII.backslash
                        k += 1
                    }
                    out[1 + k] = b
                    k += 1
                }
                return k
            }
            if let written = s.utf8.withContiguousStorageIfAvailable(write) {
                n += written
            } else {
                var copy = s
                n += copy.withUTF8(write)
            }
            out[n] = ASCII.quote
            return n + 1
        }
    }

    /// Floats as the shortest text that reads back to the same value: integral values under 1e15
    /// without a decimal point or exponent, values with at most three decimals directly, the rest as
    /// Swift prints them (shortest round-trip digits).
    static func writeFloat(_ v: Double, to out: UnsafeMutablePointer<UInt8>) -> Int {
        if v == v.rounded(.towardZero), abs(v) < 1e15 {
            if v == 0 {
                if v.sign == .minus {
                    out[0] = ASCII.minus
                    out[1] = ASCII.zero
                    return 2
                }
                out[0] = ASCII.zero
                return 1
            }
            return writeInteger(Int64(v), to: out)
        }
        // k/1000 exactly: the division of an exact integer is correctly rounded, so the decimal text
        // of k/1000 reads back to v, and no shorter text does (it would have fewer decimals).
        let scaled = (v * 1000).rounded()
        if abs(scaled) < 1e15, scaled / 1000 == v {
            var n = 0
            if v < 0 {
                out[0] = ASCII.minus
                n = 1
            }
            let thousandths = UInt64(abs(scaled))
            n += writeUnsigned(thousandths / 1000, to: out + n)
            var fraction = thousandths % 1000
            var digits = 3
            while fraction % 10 == 0 {
                fraction /= 10
                digits -= 1
            }
            out[n] = ASCII.dot
            n += 1
            var divisor: UInt64 = digits == 3 ? 100 : digits == 2 ? 10 : 1
            while divisor > 0 {
                out[n] = ASCII.zero + UInt8(fraction / divisor % 10)
                n += 1
                divisor /= 10
            }
            return n
        }
        return writeASCII(v.description, to: out)
    }

    static func writeASCII(_ text: String, to out: UnsafeMutablePointer<UInt8>) -> Int {
        var n = 0
        for b in text.utf8 {
            out[n] = b
            n += 1
        }
        return n
    }

    static func writeInteger(_ value: Int64, to out: UnsafeMutablePointer<UInt8>) -> Int {
        if value < 0 {
            out[0] = ASCII.minus
            return 1 + writeUnsigned(value.magnitude, to: out + 1)
        }
        return writeUnsigned(UInt64(value), to: out)
    }

    static func writeUnsigned(_ value: UInt64, to out: UnsafeMutablePointer<UInt8>) -> Int {
        DecimalText.write(value, to: out)
    }
}
