#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decodes InfluxDB line protocol, as InfluxDB's reference describes it:
///
///     measurement[,tag=value...] field=value[,field=value...] [timestamp]
///
/// - Measurement: `,` and space are escaped with `\`.
/// - Tag keys, tag values, field keys: `,`, `=` and space are escaped.
/// - `\\` is one backslash; a backslash before any other character is literal.
/// - String field values are double-quoted; `\"` and `\\` are escapes; they may span lines.
/// - Floats (`1`, `-1.5`, `1e-3`), integers (`1i`), unsigned (`1u`), booleans (`t`, `T`, `true`,
///   `True`, `TRUE`, `f`, `F`, `false`, `False`, `FALSE`).
/// - Optional integer timestamp in the decoder's precision; absent means the receive time.
/// - `#` comment lines and blank lines are skipped; `\r\n` line ends are accepted.
/// - Names follow ``NameRules``: no control characters, series keys and field keys within InfluxDB's
///   65,535 bytes.
///
/// A bad line yields a ``PointError`` naming its line and column; the other lines go on.
public struct LineProtocolDecoder: Sendable {
    public var precision: Precision
    /// Longest string field value accepted, in bytes (InfluxDB's limit is 64 KiB).
    public var maxStringLength: Int
    /// Longest series key, and series key + separator + field key, in bytes (see ``NameRules``).
    public var maxKeyLength: Int
    /// Whether names with control characters are refused (see ``NameRules``).
    public var refusesControlCharacters: Bool
    /// Tags added to every point that lacks them (the gateway's default tags, such as `host`), kept
    /// sorted with the others. Adding them here, once per series when a ``SeriesCache`` is used, spares
    /// normalisation a copy of every point's tag array.
    public var defaultTags: [Tag]

    public init(
        precision: Precision = .nanoseconds, maxStringLength: Int = 65_536, maxKeyLength: Int = NameRules.maxKeyLength,
        refusesControlCharacters: Bool = true, defaultTags: [Tag] = []
    ) {
        self.precision = precision
        self.maxStringLength = maxStringLength
        self.maxKeyLength = maxKeyLength
        self.refusesControlCharacters = refusesControlCharacters
        self.defaultTags = defaultTags
    }

    /// A decoder for line protocol the gateway wrote itself (its spool): no input limits, since
    /// what was accepted once is delivered as it was, whatever the rules were then.
    public static func storedData(precision: Precision) -> LineProtocolDecoder {
        LineProtocolDecoder(
            precision: precision, maxStringLength: .max, maxKeyLength: .max, refusesControlCharacters: false)
    }

    /// Decodes every line of `input`, appending good points to `points` and one error per bad line
    /// to `errors`. Points without a timestamp get `receiveTime` (nanoseconds).
    ///
    /// With a `cache`, the series and tags of key sections seen before are taken from it; the cache
    /// must have been made with this decoder's ``defaultTags``.
    public func decode(
        _ input: UnsafeRawBufferPointer,
        receiveTime: Int64,
        into points: inout [Point],
        errors: inout [PointError],
        cache: SeriesCache? = nil
    ) {
        guard let base = input.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        precondition(cache == nil || cache!.defaultTags == defaultTags, "SeriesCache made for other default tags")
        var parser = LineParser(
            bytes: UnsafeBufferPointer(start: base, count: input.count),
            precision: precision,
            maxStringLength: maxStringLength,
            maxKeyLength: maxKeyLength,
            refusesControlCharacters: refusesControlCharacters,
            receiveTime: receiveTime,
            defaultTags: defaultTags,
            cache: cache
        )
        parser.run(points: &points, errors: &errors)
    }

    /// Convenience for byte arrays.
    public func decode(_ bytes: [UInt8], receiveTime: Int64 = 0) -> (points: [Point], errors: [PointError]) {
        var points: [Point] = []
        var errors: [PointError] = []
        bytes.withUnsafeBytes { decode($0, receiveTime: receiveTime, into: &points, errors: &errors) }
        return (points, errors)
    }

    /// Convenience for strings (tests, the CLI).
    public func decode(_ text: String, receiveTime: Int64 = 0) -> (points: [Point], errors: [PointError]) {
        decode(Array(text.utf8), receiveTime: receiveTime)
    }
}

/// Byte constants used by the codecs.
@usableFromInline
enum ASCII {
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let comma = UInt8(ascii: ",")
    static let equals = UInt8(ascii: "=")
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let hash = UInt8(ascii: "#")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let dot = UInt8(ascii: ".")
    static let zero = UInt8(ascii: "0")
    static let nine = UInt8(ascii: "9")
}

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
            throw Failure(position: position, reason: .noFields, message: "expected a space and fields after \"\(series)\"")
        }
        skipSpaces()
        if atLineEnd() {
            throw Failure(position: position, reason: .noFields, message: "point has no fields")
        }
        var fields: [Field] = []
        fields.reserveCapacity(4)
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
        var point = Point(series: series, time: time, tags: [], fields: fields)
        point.tags = tags
        return point
    }

    /// The series and tags of the line at `position`, leaving `position` at the byte after them.
    /// With a cache, a key section seen before is answered by one hash and one comparison.
    mutating func readKeySection() throws(Failure) -> (String, [Tag]) {
        guard let cache else { return try parseKeySection() }
        let start = position
        // A key section that parses ends at its first unescaped space: the first space not preceded
        // by an odd run of backslashes. (A line without one cannot match a stored section, and is
        // left to the parser, which reports what is wrong with it.)
        guard let end = Self.firstUnescapedSpace(bytes, from: start) else { return try parseKeySection() }
        let key = UnsafeBufferPointer(rebasing: bytes[start..<end])
        let hash = SeriesCache.hash(key, readable: bytes.count - start)
        if let hit = cache._withUnsafeGuaranteedRef({ $0.lookup(key, hash: hash) }) {
            position = end
            return hit
        }
        let parsed = try parseKeySection()
        if position == end { cache._withUnsafeGuaranteedRef { $0.store(key, hash: hash, series: parsed.0, tags: parsed.1) } }
        return parsed
    }

    /// The index of the first space at or after `from` that no backslash escapes, if any.
    static func firstUnescapedSpace(_ bytes: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        var searchFrom = from
        let base = bytes.baseAddress!
        while searchFrom < bytes.count {
            guard let found = memchr(base + searchFrom, Int32(ASCII.space), bytes.count - searchFrom) else { return nil }
            let index = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
            var backslashes = 0
            while index - backslashes - 1 >= from, bytes[index - backslashes - 1] == ASCII.backslash { backslashes += 1 }
            if backslashes % 2 == 0 { return index }
            searchFrom = index + 1
        }
        return nil
    }

    /// Parses the measurement and tags (sorted, default tags added).
    mutating func parseKeySection() throws(Failure) -> (String, [Tag]) {
        let start = position
        let series = try readName(kind: .measurement, slot: Self.seriesSlot)
        var tags: [Tag] = []
        var sorted = true
        while position < bytes.count, bytes[position] == ASCII.comma {
            position += 1
            if tags.isEmpty { tags.reserveCapacity(8) }
            let keyStart = position
            let key = try readName(kind: .tagKey, slot: Self.tagKeySlot(tags.count))
            guard position < bytes.count, bytes[position] == ASCII.equals else {
                throw Failure(position: position, reason: .syntax, message: "expected '=' after tag key \"\(key)\"")
            }
            position += 1
            let value = try readName(kind: .tagValue, slot: Self.tagValueSlot(tags.count))
            // Sorted input (the usual case) only needs the last key compared; otherwise look at all.
            if let last = tags.last, !sorted || !Self.precedes(last.key, key) {
                if tags.contains(where: { NameRules.same($0.key, key) }) {
                    throw Failure(position: keyStart, reason: .duplicateKey, message: "duplicate tag key \"\(key)\"")
                }
                sorted = false
            }
            tags.append(Tag(key, value))
        }
        if !sorted {
            tags.sort(by: { Self.precedes($0.key, $1.key) })
        }
        for tag in defaultTags { tags.addIfAbsent(tag) }
        if position - start > quickKeyLimit,
            let problem = NameRules.seriesKeyProblem(series: series, tags: tags, limit: maxKeyLength)
        {
            throw Failure(position: start, reason: .keyTooLong, message: problem)
        }
        return (series, tags)
    }

    /// Byte-order comparison of two keys, as InfluxDB sorts tags (memcmp on the UTF-8).
    @inline(__always)
    static func precedes(_ a: String, _ b: String) -> Bool {
        let fast = a.utf8.withContiguousStorageIfAvailable { x in
            b.utf8.withContiguousStorageIfAvailable { y -> Bool in
                let common = min(x.count, y.count)
                let c = common == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, common)
                return c < 0 || (c == 0 && x.count < y.count)
            }
        }
        if let result = fast ?? nil { return result }
        return a.utf8.lexicographicallyPrecedes(b.utf8)
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

    // MARK: - Names

    enum NameKind {
        case measurement, tagKey, tagValue, fieldKey

        var label: String {
            switch self {
            case .measurement: return "measurement"
            case .tagKey: return "tag key"
            case .tagValue: return "tag value"
            case .fieldKey: return "field key"
            }
        }
    }

    /// Reads a measurement, tag key, tag value or field key up to its unescaped terminator.
    mutating func readName(kind: NameKind, slot: Int) throws(Failure) -> String {
        let start = position
        if kind == .fieldKey, let cache {
            // The key this position held last time, if the bytes are the same: no scan needed.
            let index = slot - Self.fieldKeySlot(0)
            if let hit = cache._withUnsafeGuaranteedRef({ $0.fieldKey(at: index, in: bytes, start: start) }) {
                position += hit.length
                return hit.name
            }
        }
        let count = bytes.count
        var escaped = false
        var ascii = true
        loop: while position < count {
            let b = bytes[position]
            switch b {
            case ASCII.backslash:
                guard position + 1 < count, bytes[position + 1] != ASCII.newline,
                    bytes[position + 1] != ASCII.carriageReturn
                else {
                    throw Failure(
                        position: position, reason: .badEscape,
                        message: "backslash at the end of the line in \(kind.label)")
                }
                escaped = true
                position += 2
                if bytes[position - 1] >= 0x80 { ascii = false }
                continue
            case ASCII.space, ASCII.comma, ASCII.newline:
                break loop
            case ASCII.equals where kind != .measurement:
                break loop
            case ASCII.carriageReturn where position + 1 >= count || bytes[position + 1] == ASCII.newline:
                break loop
            default:
                if b >= 0x80 { ascii = false }
                position += 1
            }
        }
        if position == start {
            throw Failure(position: start, reason: .emptyName, message: "empty \(kind.label)")
        }
        let length = position - start
        if kind == .fieldKey, let cache {
            let index = slot - Self.fieldKeySlot(0)
            let raw = UnsafeBufferPointer(rebasing: bytes[start..<position])
            let name = try makeName(start: start, escaped: escaped, ascii: ascii, kind: kind)
            cache._withUnsafeGuaranteedRef { $0.storeFieldKey(at: index, raw: raw, name: name) }
            return name
        }
        if slot < recentNames.count {
            let recent = recentNames[slot]
            if recent.length == length, memcmp(bytes.baseAddress! + recent.start, bytes.baseAddress! + start, length) == 0 {
                return recent.string
            }
            let string = try makeName(start: start, escaped: escaped, ascii: ascii, kind: kind)
            recentNames[slot] = RecentName(start: start, length: length, string: string)
            return string
        }
        return try makeName(start: start, escaped: escaped, ascii: ascii, kind: kind)
    }

    /// The name in `bytes[start..<position]`, unescaped and validated.
    mutating func makeName(start: Int, escaped: Bool, ascii: Bool, kind: NameKind) throws(Failure) -> String {
        let raw = UnsafeBufferPointer(rebasing: bytes[start..<position])
        if !escaped {
            return try makeString(raw, at: start, ascii: ascii, kind: kind)
        }
        scratch.removeAll(keepingCapacity: true)
        var i = 0
        while i < raw.count {
            let b = raw[i]
            if b == ASCII.backslash, i + 1 < raw.count, isEscapable(raw[i + 1], kind: kind) {
                scratch.append(raw[i + 1])
                i += 2
            } else {
                scratch.append(b)
                i += 1
            }
        }
        return try scratch.withUnsafeBufferPointer { (buffer) throws(Failure) -> String in
            try makeString(buffer, at: start, ascii: ascii, kind: kind)
        }
    }

    func isEscapable(_ b: UInt8, kind: NameKind) -> Bool {
        switch b {
        case ASCII.comma, ASCII.space, ASCII.backslash: return true
        case ASCII.equals: return kind != .measurement
        default: return false
        }
    }

    /// The name, validated: UTF-8, and without control characters (``NameRules``). Names are built
    /// only when the series cache and the names of the line before do not answer, so the scan for
    /// control characters here costs the usual line nothing.
    func makeString(_ raw: UnsafeBufferPointer<UInt8>, at start: Int, ascii: Bool, kind: NameKind) throws(Failure)
        -> String
    {
        let string: String
        if ascii {
            string = String(decoding: raw, as: UTF8.self)
        } else {
            guard let validated = String(validating: raw, as: UTF8.self) else {
                throw Failure(position: start, reason: .invalidUTF8, message: "\(kind.label) is not valid UTF-8")
            }
            string = validated
        }
        if refusesControlCharacters, let control = NameRules.firstControlCharacter(raw) {
            throw Failure(
                position: start, reason: .invalidName,
                message: NameRules.controlMessage("\(kind.label) \(NameRules.show(string))", control))
        }
        return string
    }

    // MARK: - Field values

    mutating func readFieldValue(key: String) throws(Failure) -> FieldValue {
        guard position < bytes.count else {
            throw Failure(position: position, reason: .syntax, message: "missing value for field \"\(key)\"")
        }
        let first = bytes[position]
        if first == ASCII.quote { return .string(try readString(key: key)) }
        let start = position
        while position < bytes.count {
            let b = bytes[position]
            if b == ASCII.comma || b == ASCII.space || b == ASCII.newline { break }
            if b == ASCII.carriageReturn, position + 1 >= bytes.count || bytes[position + 1] == ASCII.newline { break }
            position += 1
        }
        let token = UnsafeBufferPointer(rebasing: bytes[start..<position])
        if token.isEmpty {
            throw Failure(position: start, reason: .syntax, message: "missing value for field \"\(key)\"")
        }
        switch first {
        case UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "f"), UInt8(ascii: "F"):
            if let value = Self.parseBool(token) { return .bool(value) }
            throw Failure(
                position: start, reason: .syntax,
                message: "invalid boolean for field \"\(key)\": expected t, T, true, True, TRUE, f, F, false, False or FALSE")
        default:
            return try parseNumber(token, at: start, key: key)
        }
    }

    static func parseBool(_ token: UnsafeBufferPointer<UInt8>) -> Bool? {
        switch token.count {
        case 1:
            switch token[0] {
            case UInt8(ascii: "t"), UInt8(ascii: "T"): return true
            case UInt8(ascii: "f"), UInt8(ascii: "F"): return false
            default: return nil
            }
        case 4:
            return matchesWord(token, lower: "true", upper: "TRUE") ? true : nil
        case 5:
            return matchesWord(token, lower: "false", upper: "FALSE") ? false : nil
        default:
            return nil
        }
    }

    /// True for the all-lower, all-upper or capitalised spelling of a word (InfluxDB's booleans).
    static func matchesWord(_ token: UnsafeBufferPointer<UInt8>, lower: StaticString, upper: StaticString) -> Bool {
        let l = UnsafeBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount)
        let u = UnsafeBufferPointer(start: upper.utf8Start, count: upper.utf8CodeUnitCount)
        guard token.count == l.count else { return false }
        let capitalised = token[0] == u[0]
        var allUpper = capitalised
        var rest = true
        for i in 1..<token.count {
            if token[i] != l[i] { rest = false }
            if token[i] != u[i] { allUpper = false }
        }
        return (token[0] == l[0] || capitalised) && rest || allUpper
    }

    func parseNumber(_ token: UnsafeBufferPointer<UInt8>, at start: Int, key: String) throws(Failure) -> FieldValue {
        let last = token[token.count - 1]
        if last == UInt8(ascii: "i") || last == UInt8(ascii: "u") {
            let digits = UnsafeBufferPointer(rebasing: token[0..<(token.count - 1)])
            let negative = digits.first == ASCII.minus
            let body = negative ? UnsafeBufferPointer(rebasing: digits[1...]) : digits
            guard !body.isEmpty, body.allSatisfy({ $0 >= ASCII.zero && $0 <= ASCII.nine }) else {
                throw Failure(
                    position: start, reason: .invalidNumber,
                    message: "invalid \(last == UInt8(ascii: "i") ? "integer" : "unsigned integer") for field \"\(key)\"")
            }
            if last == UInt8(ascii: "u") {
                guard !negative else {
                    throw Failure(
                        position: start, reason: .invalidNumber,
                        message: "unsigned integer for field \"\(key)\" is negative")
                }
                guard let value = Self.accumulate(body, limit: UInt64.max) else {
                    throw Failure(
                        position: start, reason: .integerOverflow,
                        message: "unsigned integer for field \"\(key)\" is larger than 18446744073709551615")
                }
                return .uint(value)
            }
            let limit: UInt64 = negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)
            guard let magnitude = Self.accumulate(body, limit: limit) else {
                throw Failure(
                    position: start, reason: .integerOverflow,
                    message: "integer for field \"\(key)\" is outside the 64-bit signed range")
            }
            return .int(negative ? Int64(truncatingIfNeeded: 0 &- magnitude) : Int64(magnitude))
        }
        guard let value = Self.parseFloat(token) else {
            throw Failure(
                position: start, reason: .invalidNumber,
                message: "invalid number for field \"\(key)\": expected a float, an integer with i or an unsigned with u")
        }
        return .float(value)
    }

    /// Decimal digits to an unsigned value, nil past `limit`.
    static func accumulate(_ digits: UnsafeBufferPointer<UInt8>, limit: UInt64) -> UInt64? {
        var value: UInt64 = 0
        for d in digits {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(d &- ASCII.zero))
            if o1 || o2 || sum > limit { return nil }
            value = sum
        }
        return value
    }

    /// Exact powers of ten, for the fast path of ``parseFloat(_:)``.
    static let powersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
        1e19, 1e20, 1e21, 1e22,
    ]

    /// Strict float grammar: `-?(digits[.digits*]|.digits)([eE][+-]?digits)?`, finite.
    ///
    /// Values whose significant digits fit 2^53 and whose decimal exponent is within ±22 are computed
    /// with one exact multiplication or division (Clinger's fast path: correctly rounded); the rest go
    /// to the C library's strtod.
    static func parseFloat(_ token: UnsafeBufferPointer<UInt8>) -> Double? {
        var i = 0
        let n = token.count
        let negative = i < n && token[i] == ASCII.minus
        if negative { i += 1 }
        var mantissa: UInt64 = 0
        var significant = 0
        var decimalExponent = 0
        var exact = true
        var digits = 0
        while i < n, token[i] >= ASCII.zero, token[i] <= ASCII.nine {
            let d = UInt64(token[i] &- ASCII.zero)
            if mantissa == 0 && d == 0 {
                // leading zero
            } else if significant < 19 {
                mantissa = mantissa &* 10 &+ d
                significant += 1
            } else {
                exact = false
                decimalExponent += 1
            }
            digits += 1
            i += 1
        }
        if i < n, token[i] == ASCII.dot {
            i += 1
            while i < n, token[i] >= ASCII.zero, token[i] <= ASCII.nine {
                let d = UInt64(token[i] &- ASCII.zero)
                if mantissa == 0 && d == 0 {
                    decimalExponent -= 1
                } else if significant < 19 {
                    mantissa = mantissa &* 10 &+ d
                    significant += 1
                    decimalExponent -= 1
                } else {
                    exact = false
                }
                digits += 1
                i += 1
            }
        }
        guard digits > 0 else { return nil }
        if i < n, token[i] == UInt8(ascii: "e") || token[i] == UInt8(ascii: "E") {
            i += 1
            var exponentNegative = false
            if i < n, token[i] == ASCII.plus || token[i] == ASCII.minus {
                exponentNegative = token[i] == ASCII.minus
                i += 1
            }
            let expStart = i
            var exponent = 0
            while i < n, token[i] >= ASCII.zero, token[i] <= ASCII.nine {
                if exponent < 100_000 { exponent = exponent * 10 + Int(token[i] &- ASCII.zero) }
                i += 1
            }
            guard i > expStart else { return nil }
            decimalExponent += exponentNegative ? -exponent : exponent
        }
        guard i == n else { return nil }
        if mantissa == 0 { return negative ? -0.0 : 0.0 }
        if exact, mantissa <= 1 << 53, decimalExponent >= -22, decimalExponent <= 22 {
            var value = Double(mantissa)
            if decimalExponent >= 0 {
                value *= powersOfTen[decimalExponent]
            } else {
                value /= powersOfTen[-decimalExponent]
            }
            return negative ? -value : value
        }
        guard let value = Double(String(decoding: token, as: UTF8.self)), value.isFinite else { return nil }
        return value
    }

    /// Reads a quoted string; `\"` and `\\` are escapes, other backslashes are literal.
    mutating func readString(key: String) throws(Failure) -> String {
        let open = position
        let openLine = lineNumber
        position += 1
        let start = position
        let count = bytes.count
        var escaped = false
        var ascii = true
        var firstNewline: Int? = nil
        while position < count {
            let b = bytes[position]
            if b == ASCII.quote { break }
            if b == ASCII.backslash, position + 1 < count,
                bytes[position + 1] == ASCII.quote || bytes[position + 1] == ASCII.backslash
            {
                escaped = true
                position += 2
                continue
            }
            if b == ASCII.newline {
                if firstNewline == nil { firstNewline = position }
                lineNumber += 1
            }
            if b >= 0x80 { ascii = false }
            position += 1
        }
        guard position < count else {
            throw Failure(
                position: open, reason: .unterminatedString,
                message: "unterminated string for field \"\(key)\": no closing quote",
                resumeAt: firstNewline.map { $0 + 1 } ?? count, resumeLine: openLine + 1)
        }
        let raw = UnsafeBufferPointer(rebasing: bytes[start..<position])
        position += 1  // closing quote
        var value: String
        if escaped {
            scratch.removeAll(keepingCapacity: true)
            var i = 0
            while i < raw.count {
                if raw[i] == ASCII.backslash, i + 1 < raw.count, raw[i + 1] == ASCII.quote || raw[i + 1] == ASCII.backslash {
                    scratch.append(raw[i + 1])
                    i += 2
                } else {
                    scratch.append(raw[i])
                    i += 1
                }
            }
            guard let s = scratch.withUnsafeBufferPointer({ String(validating: $0, as: UTF8.self) }) else {
                throw Failure(position: start, reason: .invalidUTF8, message: "string for field \"\(key)\" is not valid UTF-8")
            }
            value = s
        } else if ascii {
            value = String(decoding: raw, as: UTF8.self)
        } else {
            guard let s = String(validating: raw, as: UTF8.self) else {
                throw Failure(position: start, reason: .invalidUTF8, message: "string for field \"\(key)\" is not valid UTF-8")
            }
            value = s
        }
        if value.utf8.count > maxStringLength {
            throw Failure(
                position: start, reason: .stringTooLong,
                message: "string for field \"\(key)\" is \(value.utf8.count) bytes, over the limit of \(maxStringLength)")
        }
        return value
    }

    // MARK: - Timestamp

    mutating func readTimestamp() throws(Failure) -> Int64 {
        let start = position
        if let value = readPlainTimestamp() { return try scaleTimestamp(value, at: start) }
        return try readTimestampSlowly()
    }

    /// The common case: 1 to 19 digits, no sign, ending the line or followed by a space, within
    /// Int64. Eight digits are converted at a time. Returns nil (position unchanged) otherwise.
    mutating func readPlainTimestamp() -> Int64? {
        let start = position
        let count = bytes.count
        let raw = UnsafeRawPointer(bytes.baseAddress!)
        var value: UInt64 = 0
        var i = start
        while i - start < 16, i + 8 <= count {
            let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            guard Self.isEightDigits(word) else { break }
            value = value &* 100_000_000 &+ Self.eightDigits(word)
            i += 8
        }
        while i < count, i - start < 19 {
            let digit = bytes[i] &- ASCII.zero
            if digit > 9 { break }
            value = value &* 10 &+ UInt64(digit)
            i += 1
        }
        guard i > start, value <= UInt64(Int64.max) else { return nil }
        if i < count {
            let b = bytes[i]
            guard b == ASCII.space || b == ASCII.newline || b == ASCII.carriageReturn else { return nil }
        }
        position = i
        return Int64(value)
    }

    /// True when all eight bytes of `word` are ASCII digits.
    @inline(__always)
    static func isEightDigits(_ word: UInt64) -> Bool {
        (word & 0xF0F0_F0F0_F0F0_F0F0) | (((word &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4)
            == 0x3333_3333_3333_3333
    }

    /// The value of eight ASCII digits, the first in the lowest byte (SWAR: pairs, then quads, then all).
    @inline(__always)
    static func eightDigits(_ word: UInt64) -> UInt64 {
        var v = word & 0x0F0F_0F0F_0F0F_0F0F
        v = (v &* 2561) >> 8
        v = ((v & 0x00FF_00FF_00FF_00FF) &* 6_553_601) >> 16
        return ((v & 0x0000_FFFF_0000_FFFF) &* 42_949_672_960_001) >> 32
    }

    func scaleTimestamp(_ value: Int64, at start: Int) throws(Failure) -> Int64 {
        let (scaled, overflow) = value.multipliedReportingOverflow(by: precision.multiplier)
        guard !overflow else {
            throw Failure(
                position: start, reason: .invalidTimestamp,
                message: "timestamp is out of range for precision \(precision.rawValue)")
        }
        return scaled
    }

    /// Any timestamp, with its errors: signs, overflow, stray characters.
    mutating func readTimestampSlowly() throws(Failure) -> Int64 {
        let start = position
        let negative = bytes[position] == ASCII.minus
        if negative { position += 1 }
        let limit: UInt64 = negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)
        var magnitude: UInt64 = 0
        var digits = 0
        var tooLarge = false
        while position < bytes.count {
            let b = bytes[position]
            if b == ASCII.space || b == ASCII.newline || b == ASCII.carriageReturn { break }
            guard b >= ASCII.zero, b <= ASCII.nine else {
                throw Failure(position: start, reason: .invalidTimestamp, message: "invalid timestamp: expected an integer")
            }
            if !tooLarge {
                let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(UInt64(b &- ASCII.zero))
                if o1 || o2 || sum > limit { tooLarge = true } else { magnitude = sum }
            }
            digits += 1
            position += 1
        }
        guard digits > 0 else {
            throw Failure(position: start, reason: .invalidTimestamp, message: "invalid timestamp: expected an integer")
        }
        guard !tooLarge else {
            throw Failure(position: start, reason: .invalidTimestamp, message: "timestamp is out of range")
        }
        let value = negative ? Int64(truncatingIfNeeded: 0 &- magnitude) : Int64(magnitude)
        return try scaleTimestamp(value, at: start)
    }
}
