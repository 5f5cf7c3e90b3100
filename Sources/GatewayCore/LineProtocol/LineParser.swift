// The decoder is split by section, all on one `LineParser` (this file: the parse loop, one point,
// line ends; `LineParser+Names`: measurement, tags, names; `LineParser+Fields`: field values and
// strings; `LineParser+Float`: floats; `LineParser+Timestamp`: timestamps). This is the gateway's
// hot path. Release builds compile a module as a whole (SwiftPM's default whole-module
// optimisation), so calls between these files inline as they did within one file: the UDP and HTTP
// benchmarks measured the same points/s and CPU-µs per point before and after the split (the figures are
// in the commit that made it). Keep the parser in this module for that reason.

/// The state of one decode pass. Works on raw bytes; builds `String`s only for finished names.
struct LineParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let precision: Precision
    let maxStringLength: Int
    let maxKeyLength: Int
    let refusesControlCharacters: Bool
    /// Lines whose key section and field key together take at most this many bytes as received
    /// cannot exceed ``maxKeyLength`` once written (escaping at most doubles a name, default tags
    /// included), so only longer ones have their key lengths computed.
    let quickKeyLimit: Int
    let receiveTime: Int64
    let defaultTags: [Tag]
    /// Borrowed for the parse (the caller holds the cache): a counted reference would cost a retain
    /// and a release for every line and field that consults it.
    let cache: Unmanaged<SeriesCache>?

    /// Read position.
    var position = 0
    /// 1-based number of the line being parsed, and where it starts.
    var lineNumber = 1
    var lineStart = 0
    /// Scratch space for unescaping.
    var scratch: [UInt8] = []
    /// The previous line's tag and field counts: a point's arrays are made that size, as lines of
    /// one payload mostly share their shape (a queued point then holds no unused room).
    var tagCapacity = 8
    var fieldCapacity = 4
    /// The names read at each position of the previous line (series, tag keys and values, field keys),
    /// by their raw bytes. Lines of one payload mostly repeat them, so a byte comparison replaces
    /// building and validating the same `String` again.
    /// Left empty when a ``SeriesCache`` is used: it answers for repeated key sections, and a short
    /// input (a datagram) should not pay for the table.
    var recentNames: [RecentName] = []

    struct RecentName {
        var start: Int
        var length: Int
        var string: String
    }

    /// Cache slots: the series, then tag key/value pairs, then field keys.
    static let seriesSlot = 0
    static func tagKeySlot(_ index: Int) -> Int { index < 8 ? 1 + 2 * index : .max }
    static func tagValueSlot(_ index: Int) -> Int { index < 8 ? 2 + 2 * index : .max }
    static func fieldKeySlot(_ index: Int) -> Int { 17 + index }

    init(
        bytes: UnsafeBufferPointer<UInt8>, precision: Precision, maxStringLength: Int,
        maxKeyLength: Int = NameRules.maxKeyLength, refusesControlCharacters: Bool = true, receiveTime: Int64,
        defaultTags: [Tag] = [], cache: SeriesCache? = nil
    ) {
        self.bytes = bytes
        self.precision = precision
        self.maxStringLength = maxStringLength
        self.maxKeyLength = maxKeyLength
        self.refusesControlCharacters = refusesControlCharacters
        var defaultTagsBound = 0
        for tag in defaultTags { defaultTagsBound += 2 + 2 * tag.key.utf8.count + 2 * tag.value.utf8.count }
        let room = maxKeyLength.subtractingReportingOverflow(NameRules.fieldKeySeparatorLength + defaultTagsBound)
        self.quickKeyLimit = room.overflow ? 0 : max(0, room.partialValue / 2)
        self.receiveTime = receiveTime
        self.defaultTags = defaultTags
        self.cache = cache.map { Unmanaged.passUnretained($0) }
        if cache == nil {
            recentNames = [RecentName](repeating: RecentName(start: 0, length: -1, string: ""), count: 32)
        }
    }

    struct Failure: Error {
        var position: Int
        var reason: RejectReason
        var message: String
        /// Where to resume after the error; nil means "the end of the line the error is on".
        var resumeAt: Int? = nil
        /// The line number at `resumeAt`.
        var resumeLine = 0
    }

    mutating func run(points: inout [Point], errors: inout [PointError]) {
        let count = bytes.count
        while position < count {
            lineStart = position
            // Leading white space, blank lines, comments.
            while position < count, bytes[position] == ASCII.space || bytes[position] == ASCII.tab {
                position += 1
            }
            if position >= count { break }
            let first = bytes[position]
            if first == ASCII.newline {
                position += 1
                lineNumber += 1
                continue
            }
            if first == ASCII.carriageReturn, position + 1 < count, bytes[position + 1] == ASCII.newline {
                position += 2
                lineNumber += 1
                continue
            }
            if first == ASCII.hash {
                skipToNextLine()
                continue
            }
            let startLine = lineNumber
            let startOfLine = lineStart
            do throws(Failure) {
                let point = try parsePoint()
                points.append(point)
            } catch {
                let failure = error
                errors.append(makeError(failure, line: startLine, lineStart: startOfLine))
                if let resume = failure.resumeAt {
                    position = resume
                    lineNumber = failure.resumeLine
                } else {
                    skipToNextLine()
                }
            }
        }
    }

    /// Moves past the next newline (or to the end), counting the line.
    mutating func skipToNextLine() {
        let count = bytes.count
        while position < count, bytes[position] != ASCII.newline { position += 1 }
        if position < count {
            position += 1
            lineNumber += 1
        }
    }

    func makeError(_ failure: Failure, line: Int, lineStart: Int) -> PointError {
        var end = lineStart
        while end < bytes.count, bytes[end] != ASCII.newline { end += 1 }
        if end > lineStart, bytes[end - 1] == ASCII.carriageReturn { end -= 1 }
        let text = PointError.excerpt(UnsafeBufferPointer(rebasing: bytes[lineStart..<end]))
        // The column is counted on the error's own line (a string may have spanned lines).
        var columnStart = lineStart
        var errorLine = line
        var i = lineStart
        while i < failure.position, i < bytes.count {
            if bytes[i] == ASCII.newline {
                errorLine += 1
                columnStart = i + 1
            }
            i += 1
        }
        return PointError(
            line: errorLine,
            column: failure.position - columnStart + 1,
            reason: failure.reason,
            message: failure.message,
            text: text
        )
    }

    // MARK: - One point

    mutating func parsePoint() throws(Failure) -> Point {
        let keySectionStart = position
        let (series, tags) = try readKeySection()
        let keySectionLength = position - keySectionStart
        // Fields follow one or more spaces.
        guard position < bytes.count, bytes[position] == ASCII.space else {
            if position < bytes.count, bytes[position] == ASCII.equals {
                throw Failure(position: position, reason: .syntax, message: "unescaped '=' in tag value (write \\=)")
            }
            throw Failure(
                position: position, reason: .noFields, message: "expected a space and fields after \"\(series)\"")
        }
        skipSpaces()
        if atLineEnd() {
            throw Failure(position: position, reason: .noFields, message: "point has no fields")
        }
        var fields: [Field] = []
        fields.reserveCapacity(fieldCapacity)
        while true {
            let keyStart = position
            let key = try readName(kind: .fieldKey, slot: Self.fieldKeySlot(fields.count))
            if keySectionLength &+ (position &- keyStart) > quickKeyLimit,
                let problem = NameRules.fieldKeyProblem(key, series: series, tags: tags, limit: maxKeyLength)
            {
                throw Failure(position: keyStart, reason: .keyTooLong, message: problem)
            }
            guard position < bytes.count, bytes[position] == ASCII.equals else {
                throw Failure(position: position, reason: .syntax, message: "expected '=' after field key \"\(key)\"")
            }
            position += 1
            let value = try readFieldValue(key: key)
            if let index = fields.firstIndex(where: { NameRules.same($0.key, key) }) {
                // As InfluxDB: the last value wins, unless the types disagree.
                guard fields[index].value.type == value.type else {
                    throw Failure(
                        position: keyStart, reason: .duplicateKey,
                        message: "field \"\(key)\" given twice with different types")
                }
                fields[index].value = value
            } else {
                fields.append(Field(key, value))
            }
            if position < bytes.count, bytes[position] == ASCII.comma {
                position += 1
                continue
            }
            break
        }
        var time = receiveTime
        if position < bytes.count, bytes[position] == ASCII.space {
            skipSpaces()
            if !atLineEnd() {
                time = try readTimestamp()
                skipSpaces()
            }
        }
        try expectLineEnd()
        fieldCapacity = fields.count
        var point = Point(series: series, time: time, tags: [], fields: fields)
        point.tags = tags
        return point
    }

    mutating func skipSpaces() {
        while position < bytes.count, bytes[position] == ASCII.space { position += 1 }
    }

    /// True at `\n`, `\r\n` or the end of input.
    func atLineEnd() -> Bool {
        if position >= bytes.count { return true }
        let b = bytes[position]
        if b == ASCII.newline { return true }
        return b == ASCII.carriageReturn && (position + 1 == bytes.count || bytes[position + 1] == ASCII.newline)
    }

    mutating func expectLineEnd() throws(Failure) {
        guard atLineEnd() else {
            throw Failure(position: position, reason: .syntax, message: "expected the end of the line after the point")
        }
        if position < bytes.count {
            if bytes[position] == ASCII.carriageReturn { position += 1 }
            if position < bytes.count {
                position += 1  // the newline
                lineNumber += 1
            }
        }
    }
}
