/// Decodes JSON points: one object, an array of objects, or newline-delimited objects.
///
///     {"series": "requests", "time": 1700000000.25,
///      "tags": {"service": "luna-tasks", "status_code": 200},
///      "fields": {"request_id": "a1", "execution_time": 0.012}}
///
/// - `time` is a number in `precision` units (seconds unless the point or the caller says otherwise;
///   fractions allowed and kept to the nanosecond); absent means the receive time. A point may carry
///   its own `"precision": "s" | "ms" | "us" | "ns"`.
/// - Tag values may be strings, numbers (kept as written) or booleans; all become strings. Tags with
///   an empty value are left out, as InfluxDB treats an empty tag as absent.
/// - Field values keep their JSON type: an integer stays an integer (`uint` past Int64), a number with
///   a fraction or exponent is a float, strings and booleans as they are.
/// - Names follow ``NameRules``, as in line protocol: no control characters, no series starting with
///   `#` (line protocol would read it as a comment), series keys and field keys within 65,535 bytes.
public struct JSONPointDecoder: Sendable {
    public var precision: Precision
    public var maxStringLength: Int

    public init(precision: Precision = .seconds, maxStringLength: Int = 65_536) {
        self.precision = precision
        self.maxStringLength = maxStringLength
    }

    public func decode(
        _ input: UnsafeRawBufferPointer,
        receiveTime: Int64,
        into points: inout [Point],
        errors: inout [PointError]
    ) {
        guard let base = input.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let bytes = UnsafeBufferPointer(start: base, count: input.count)
        var reader = JSONReader(bytes: bytes)
        var lines = LineIndex(bytes: bytes)
        while true {
            reader.skipWhitespace()
            if reader.atEnd { break }
            let start = reader.position
            reader.elementStarts.removeAll(keepingCapacity: true)
            do {
                let value = try reader.readValue()
                switch value {
                case .array(let elements):
                    // Each point's errors name the line where that point starts, not where the array does.
                    for (element, elementStart) in zip(elements, reader.elementStarts) {
                        append(
                            element, line: lines.line(at: elementStart), receiveTime: receiveTime, to: &points,
                            errors: &errors)
                    }
                default:
                    append(value, line: lines.line(at: start), receiveTime: receiveTime, to: &points, errors: &errors)
                }
            } catch {
                let (line, column) = lines.lineAndColumn(at: error.position)
                errors.append(
                    PointError(
                        line: line, column: column, reason: .invalidJSON, message: error.message,
                        text: lines.text(ofLineAt: error.position)))
                // Resume at the first line after the bad value's own first line that opens a value, so one
                // bad line of NDJSON costs only itself, even when the reader ran on into the lines after it
                // (`{"series":` swallows the next line's object as its value).
                reader.position = lines.nextValueStart(after: start)
            }
        }
    }

    public func decode(_ text: String, receiveTime: Int64 = 0) -> (points: [Point], errors: [PointError]) {
        var points: [Point] = []
        var errors: [PointError] = []
        Array(text.utf8).withUnsafeBytes { decode($0, receiveTime: receiveTime, into: &points, errors: &errors) }
        return (points, errors)
    }

    private func append(
        _ value: JSONValue, line: Int, receiveTime: Int64, to points: inout [Point], errors: inout [PointError]
    ) {
        do {
            points.append(try point(from: value, receiveTime: receiveTime))
        } catch {
            errors.append(PointError(line: line, column: 0, reason: error.reason, message: error.message))
        }
    }

    struct Failure: Error {
        var reason: RejectReason
        var message: String
    }

    func point(from value: JSONValue, receiveTime: Int64) throws(Failure) -> Point {
        guard case .object(let members) = value else {
            throw Failure(reason: .invalidJSON, message: "expected a point object, got \(value.kindName)")
        }
        var series: String?
        var timeText: String?
        var precision = self.precision
        var tags: [Tag] = []
        var fields: [Field] = []
        var seen = Set<String>()
        for entry in members {
            let key = entry.key, member = entry.value
            guard seen.insert(key).inserted else {
                throw Failure(reason: .duplicateKey, message: "key \"\(key)\" given twice in a point")
            }
            switch key {
            case "series":
                guard case .string(let s) = member else {
                    throw Failure(reason: .invalidJSON, message: "\"series\" must be a string, got \(member.kindName)")
                }
                series = s
            case "time":
                switch member {
                case .number(let text): timeText = text
                case .null: break
                default:
                    throw Failure(
                        reason: .invalidTimestamp,
                        message: "\"time\" must be a number (seconds since the epoch), got \(member.kindName)")
                }
            case "precision":
                guard case .string(let s) = member, let p = Precision(influx: s), !s.isEmpty else {
                    throw Failure(
                        reason: .invalidJSON, message: "\"precision\" must be one of \"s\", \"ms\", \"us\", \"ns\"")
                }
                precision = p
            case "tags":
                tags = try decodeTags(member)
            case "fields":
                fields = try decodeFields(member)
            default:
                throw Failure(
                    reason: .invalidJSON,
                    message: "unknown key \"\(key)\" in a point (expected series, time, precision, tags, fields)")
            }
        }
        guard let series else { throw Failure(reason: .emptyName, message: "point has no \"series\"") }
        guard !series.isEmpty else { throw Failure(reason: .emptyName, message: "\"series\" is empty") }
        try Self.checkName(series, what: "series", measurement: true)
        if series.utf8.first == ASCII.hash {
            throw Failure(reason: .invalidName, message: NameRules.commentMessage(series))
        }
        for tag in tags {
            try Self.checkName(tag.key, what: "tag key")
            try Self.checkName(tag.value, what: "tag value")
        }
        for field in fields { try Self.checkName(field.key, what: "field key") }
        guard !fields.isEmpty else {
            throw Failure(reason: .noFields, message: "point of series \"\(series)\" has no fields")
        }
        try Self.checkKeyLengths(series: series, tags: tags, fields: fields)
        var time = receiveTime
        if let timeText {
            guard let ns = Self.nanoseconds(fromDecimal: timeText, multiplier: precision.multiplier) else {
                throw Failure(reason: .invalidTimestamp, message: "\"time\" \(timeText) is out of range")
            }
            time = ns
        }
        return Point(series: series, time: time, tags: tags, fields: fields)
    }

    func decodeTags(_ value: JSONValue) throws(Failure) -> [Tag] {
        guard case .object(let members) = value else {
            throw Failure(reason: .invalidJSON, message: "\"tags\" must be an object, got \(value.kindName)")
        }
        var tags: [Tag] = []
        tags.reserveCapacity(members.count + 1)
        for entry in members {
            let key = entry.key, member = entry.value
            guard !key.isEmpty else { throw Failure(reason: .emptyName, message: "empty tag key") }
            let text: String
            switch member {
            case .string(let s): text = s
            case .number(let n): text = n
            case .bool(let b): text = b ? "true" : "false"
            default:
                throw Failure(
                    reason: .invalidJSON,
                    message: "tag \"\(key)\" must be a string, number or boolean, got \(member.kindName)")
            }
            if text.isEmpty { continue }
            if tags.contains(where: { NameRules.same($0.key, key) }) {
                throw Failure(reason: .duplicateKey, message: "duplicate tag key \"\(key)\"")
            }
            tags.append(Tag(key, text))
        }
        return tags
    }

    func decodeFields(_ value: JSONValue) throws(Failure) -> [Field] {
        guard case .object(let members) = value else {
            throw Failure(reason: .invalidJSON, message: "\"fields\" must be an object, got \(value.kindName)")
        }
        var fields: [Field] = []
        fields.reserveCapacity(members.count)
        for entry in members {
            let key = entry.key, member = entry.value
            guard !key.isEmpty else { throw Failure(reason: .emptyName, message: "empty field key") }
            if fields.contains(where: { NameRules.same($0.key, key) }) {
                throw Failure(reason: .duplicateKey, message: "duplicate field key \"\(key)\"")
            }
            switch member {
            case .string(let s):
                guard s.utf8.count <= maxStringLength else {
                    throw Failure(
                        reason: .stringTooLong,
                        message:
                            "string for field \"\(key)\" is \(s.utf8.count) bytes, over the limit of \(maxStringLength)"
                    )
                }
                fields.append(Field(key, .string(s)))
            case .bool(let b):
                fields.append(Field(key, .bool(b)))
            case .number(let text):
                fields.append(Field(key, try Self.number(text, key: key)))
            default:
                throw Failure(
                    reason: .invalidJSON,
                    message: "field \"\(key)\" must be a string, number or boolean, got \(member.kindName)")
            }
        }
        return fields
    }

    /// Names and tag values cannot hold control characters (``NameRules``): line protocol has no
    /// escape for a line break, and reads other control characters differently or not at all.
    static func checkName(_ name: String, what: String, measurement: Bool = false) throws(Failure) {
        if let control = NameRules.firstControlCharacter(name) {
            throw Failure(
                reason: .invalidName, message: NameRules.controlMessage("\(what) \(NameRules.show(name))", control))
        }
        if name.utf8.contains(ASCII.backslash),
            let problem = NameRules.lineProtocolProblem(name, measurement: measurement)
        {
            throw Failure(reason: .invalidName, message: "\(what) \(NameRules.show(name)) \(problem)")
        }
    }

    /// The series key and each field key within InfluxDB's limit (``NameRules``). The sum of the
    /// names' lengths bounds the written key, so only long points are measured exactly.
    static func checkKeyLengths(series: String, tags: [Tag], fields: [Field]) throws(Failure) {
        var names = series.utf8.count
        for tag in tags { names += 2 + tag.key.utf8.count + tag.value.utf8.count }
        var longestField = 0
        for field in fields { longestField = max(longestField, field.key.utf8.count) }
        guard 2 * (names + longestField) + NameRules.fieldKeySeparatorLength > NameRules.maxKeyLength else { return }
        if let problem = NameRules.seriesKeyProblem(series: series, tags: tags) {
            throw Failure(reason: .keyTooLong, message: problem)
        }
        for field in fields {
            if let problem = NameRules.fieldKeyProblem(field.key, series: series, tags: tags) {
                throw Failure(reason: .keyTooLong, message: problem)
            }
        }
    }

    static func number(_ text: String, key: String) throws(Failure) -> FieldValue {
        let isInteger = !text.utf8.contains(where: {
            $0 == ASCII.dot || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E")
        })
        if isInteger {
            if let v = Int64(text) { return .int(v) }
            if let v = UInt64(text) { return .uint(v) }
            throw Failure(reason: .integerOverflow, message: "integer for field \"\(key)\" does not fit 64 bits")
        }
        guard let v = Double(text), v.isFinite else {
            throw Failure(reason: .invalidNumber, message: "number for field \"\(key)\" is out of range")
        }
        return .float(v)
    }

    /// Converts a JSON number in units of `multiplier` nanoseconds to whole nanoseconds, exactly
    /// (no binary floating point: `1700000000.123456789` keeps its last digit). Digits below one
    /// nanosecond are truncated. Nil when the result does not fit Int64.
    static func nanoseconds(fromDecimal text: String, multiplier: Int64) -> Int64? {
        var digits: [UInt8] = []
        var exponent = 0
        var negative = false
        var seenDot = false
        var utf8 = text.utf8[...]
        if utf8.first == ASCII.minus {
            negative = true
            utf8 = utf8.dropFirst()
        }
        while let b = utf8.first, b != UInt8(ascii: "e"), b != UInt8(ascii: "E") {
            utf8 = utf8.dropFirst()
            if b == ASCII.dot {
                seenDot = true
                continue
            }
            digits.append(b - ASCII.zero)
            if seenDot { exponent -= 1 }
        }
        if !utf8.isEmpty {
            guard let e = Int(String(decoding: utf8.dropFirst(), as: UTF8.self)), e.magnitude < 400 else { return nil }
            exponent += e
        }
        var scale = multiplier
        while scale > 1 {
            exponent += 1
            scale /= 10
        }
        // value = digits × 10^exponent
        if exponent < 0 {
            let keep = digits.count + exponent
            digits = keep > 0 ? Array(digits[0..<keep]) : []
            exponent = 0
        }
        // The magnitude, up to 2^63 when negative so that Int64.min is reachable.
        let limit: UInt64 = negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)
        var value: UInt64 = 0
        for d in digits {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 || s > limit { return nil }
            value = s
        }
        for _ in 0..<exponent where value != 0 {
            let (m, o) = value.multipliedReportingOverflow(by: 10)
            if o || m > limit { return nil }
            value = m
        }
        return negative ? Int64(truncatingIfNeeded: 0 &- value) : Int64(value)
    }
}

/// Maps byte offsets to lines and columns, lazily.
struct LineIndex {
    let bytes: UnsafeBufferPointer<UInt8>
    private var lastOffset = 0
    private var lastLine = 1

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func line(at offset: Int) -> Int {
        if offset < lastOffset {
            lastOffset = 0
            lastLine = 1
        }
        var i = lastOffset
        while i < offset, i < bytes.count {
            if bytes[i] == ASCII.newline { lastLine += 1 }
            i += 1
        }
        lastOffset = offset
        return lastLine
    }

    mutating func lineAndColumn(at offset: Int) -> (Int, Int) {
        let line = line(at: offset)
        var start = min(offset, bytes.count)
        while start > 0, bytes[start - 1] != ASCII.newline { start -= 1 }
        return (line, offset - start + 1)
    }

    func text(ofLineAt offset: Int) -> String {
        var start = min(offset, bytes.count)
        while start > 0, bytes[start - 1] != ASCII.newline { start -= 1 }
        var end = start
        while end < bytes.count, bytes[end] != ASCII.newline, end - start < PointError.maxTextLength + 3 { end += 1 }
        return PointError.excerpt(UnsafeBufferPointer(rebasing: bytes[start..<end]))
    }

    /// The first offset after `offset` that begins a line whose first non-blank byte opens a value.
    func nextValueStart(after offset: Int) -> Int {
        var i = offset
        while i < bytes.count {
            while i < bytes.count, bytes[i] != ASCII.newline { i += 1 }
            i += 1
            var j = i
            while j < bytes.count, bytes[j] == ASCII.space || bytes[j] == ASCII.tab { j += 1 }
            if j < bytes.count, bytes[j] == UInt8(ascii: "{") || bytes[j] == UInt8(ascii: "[") { return j }
        }
        return bytes.count
    }
}
