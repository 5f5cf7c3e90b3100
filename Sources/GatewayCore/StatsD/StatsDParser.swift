/// Parses StatsD and DogStatsD datagrams (no I/O): newline-separated lines
///
///     name[,tag=v...]:value[:value...]|type[|@rate][|#tag:v,tag2][|T timestamp][|c:container][:value|type...]
///
/// - types `c`, `g` (`+N`/`-N` change the gauge), `ms`, `h`, `d`, `s`;
/// - several values per line: DogStatsD's packed `name:1:2:3|d` and the chained `name:1|c:2|c` some
///   clients send (each value with its own type and rate);
/// - tags: DogStatsD's `|#k:v,k2` (a tag without `:` gets the value `true`) and InfluxDB-style tags
///   in the name (`users.current,service=payroll:32|g`); the line's DogStatsD tags win over the name's;
/// - DogStatsD events (`_e{...}`) and service checks (`_sc|...`) become points (``StatsDEvents``);
/// - `|T` (a DogStatsD timestamp) is checked and ignored: aggregates carry the flush time; `|c:` and
///   `|e:` (DogStatsD origin detection) are ignored.
///
/// Each malformed line yields one ``PointError`` with a reason and the other lines go on.
public struct StatsDParser: Sendable {
    public init() {}

    /// What one datagram held.
    public struct Output: Sendable {
        public var samples: [StatsDSample] = []
        /// Events and service checks, with time 0 unless the line gave one (`d:`).
        public var events: [Point] = []
        public var errors: [PointError] = []
        /// Lines that were not empty.
        public var lines = 0
        public init() {}
    }

    public func parse(_ bytes: UnsafeRawBufferPointer) -> Output {
        var output = Output()
        parse(bytes, into: &output)
        return output
    }

    public func parse(_ text: String) -> Output {
        var copy = text
        return copy.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
    }

    public func parse(_ bytes: UnsafeRawBufferPointer, into output: inout Output) {
        let all = bytes.bindMemory(to: UInt8.self)
        var start = 0
        var lineNumber = 0
        while start <= all.count {
            var end = start
            while end < all.count, all[end] != 0x0A { end += 1 }
            lineNumber += 1
            var stop = end
            if stop > start, all[stop - 1] == 0x0D { stop -= 1 }
            if stop > start {
                parse(line: UnsafeBufferPointer(rebasing: all[start..<stop]), number: lineNumber, into: &output)
            }
            if end >= all.count { break }
            start = end + 1
        }
    }

    /// One non-empty line (without its newline), line `number` of its datagram: its samples or events
    /// into `output`, or one error.
    func parse(line: UnsafeBufferPointer<UInt8>, number: Int, into output: inout Output) {
        output.lines += 1
        if let error = parseLine(line, into: &output) {
            output.errors.append(
                PointError(
                    line: number, column: 0, reason: error.reason, message: error.message,
                    text: PointError.excerpt(line)))
        }
    }

    struct Failure: Error {
        var reason: RejectReason
        var message: String
        init(_ reason: RejectReason, _ message: String) {
            self.reason = reason
            self.message = message
        }
    }

    func parseLine(_ line: UnsafeBufferPointer<UInt8>, into output: inout Output) -> Failure? {
        guard let text = String(validating: line, as: UTF8.self) else {
            return Failure(.invalidUTF8, "the line is not valid UTF-8")
        }
        do {
            if text.utf8.starts(with: "_e{".utf8) {
                output.events.append(try StatsDEvents.event(text))
            } else if text.utf8.starts(with: "_sc|".utf8) {
                output.events.append(try StatsDEvents.serviceCheck(text))
            } else {
                let before = output.samples.count
                do {
                    try metric(text, into: &output.samples)
                } catch {
                    output.samples.removeSubrange(before...)
                    throw error
                }
            }
            return nil
        } catch let failure as Failure {
            return failure
        } catch {
            return Failure(.syntax, "\(error)")
        }
    }

    /// A value group being read: values, then a type, then an optional rate.
    struct Group {
        var values: [Substring]
        var kind: StatsDKind?
        var rate: Double = 1
    }

    func metric(_ text: String, into samples: inout [StatsDSample]) throws {
        guard let colon = text.utf8.firstIndex(of: Self.colon) else {
            throw Failure(.noColon, "expected ':' between the name and the value")
        }
        let (name, parsedTags) = try Self.nameAndTags(text[..<colon])
        var tags = parsedTags
        let rest = text[text.index(after: colon)...]
        let parts = Self.pieces(rest, Self.pipe)
        guard parts.count >= 2 else { throw Failure(.noPipe, "expected '|' and a type after the value") }
        var groups = [Group(values: Self.pieces(parts[0], Self.colon))]
        var lineTags: [Tag] = []
        for part in parts.dropFirst() {
            if groups[groups.count - 1].kind == nil {
                // The type, perhaps followed by the next chained value (`c:2`).
                let pieces = Self.pieces(part, Self.colon, maxSplits: 1)
                guard let kind = StatsDKind(rawValue: String(pieces[0])) else {
                    throw Failure(.unknownType, "unknown type \"\(pieces[0].prefix(20))\" (known: c, g, ms, h, d, s)")
                }
                groups[groups.count - 1].kind = kind
                if pieces.count == 2 { groups.append(Group(values: Self.pieces(pieces[1], Self.colon))) }
            } else if part.utf8.first == UInt8(ascii: "@") {
                let pieces = Self.pieces(part.dropFirst(), Self.colon, maxSplits: 1)
                guard let rate = Double(pieces[0]), rate > 0, rate <= 1 else {
                    throw Failure(.badRate, "expected a sample rate above 0 and at most 1 after '@'")
                }
                groups[groups.count - 1].rate = rate
                if pieces.count == 2 { groups.append(Group(values: Self.pieces(pieces[1], Self.colon))) }
            } else if part.utf8.first == UInt8(ascii: "#") {
                lineTags += try Self.dogTags(part.dropFirst())
            } else if part.utf8.first == UInt8(ascii: "T") {
                guard let seconds = Int64(part.dropFirst()), seconds >= 0 else {
                    throw Failure(.invalidTimestamp, "expected Unix seconds after 'T'")
                }
                _ = seconds
            } else if part.hasPrefix("c:") || part.hasPrefix("e:") {
                continue
            } else {
                throw Failure(.unknownSection, "unknown section \"\(part.prefix(20))\" after the type")
            }
        }
        for tag in lineTags {
            tags.removeAll { $0.key == tag.key }
            tags.append(tag)
        }
        tags.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        // Escaping at most doubles a name: only long keys are measured exactly.
        let rawLength = tags.reduce(name.utf8.count) { $0 + $1.key.utf8.count + $1.value.utf8.count + 2 }
        if rawLength * 2 > NameRules.maxKeyLength - 64,
            NameRules.seriesKeyLength(series: name, tags: tags) > NameRules.maxKeyLength - 64
        {
            throw Failure(.keyTooLong, "the name and tags exceed InfluxDB's series key length")
        }
        for group in groups {
            guard let kind = group.kind else { throw Failure(.noPipe, "expected '|' and a type after the value") }
            guard !group.values.isEmpty else { throw Failure(.invalidValue, "expected a value") }
            for raw in group.values {
                samples.append(try Self.sample(raw, kind: kind, rate: group.rate, name: name, tags: tags))
            }
        }
    }

    static func sample(_ raw: Substring, kind: StatsDKind, rate: Double, name: String, tags: [Tag]) throws
        -> StatsDSample
    {
        if kind == .set {
            guard !raw.isEmpty else { throw Failure(.invalidValue, "expected a set member") }
            return StatsDSample(name: name, tags: tags, kind: kind, member: String(raw), rate: rate)
        }
        guard let value = number(raw) else {
            throw Failure(.invalidValue, "expected a number, got \"\(raw.prefix(40))\"")
        }
        let delta = kind == .gauge && (raw.utf8.first == UInt8(ascii: "+") || raw.utf8.first == UInt8(ascii: "-"))
        return StatsDSample(name: name, tags: tags, kind: kind, value: value, isDelta: delta, rate: rate)
    }

    static let colon = UInt8(ascii: ":")
    static let pipe = UInt8(ascii: "|")
    static let comma = UInt8(ascii: ",")

    /// `text` split at each `separator` byte (empty pieces kept). Bytes, not characters: a separator
    /// followed by a combining mark still separates, and no grapheme breaking is paid for (measured:
    /// Character-based splitting was a third of the listener's CPU).
    static func pieces(_ text: Substring, _ separator: UInt8, maxSplits: Int = .max) -> [Substring] {
        var result: [Substring] = []
        var start = text.startIndex
        var splits = 0
        let utf8 = text.utf8
        var i = utf8.startIndex
        while i < utf8.endIndex {
            if utf8[i] == separator, splits < maxSplits {
                result.append(text[start..<i])
                i = utf8.index(after: i)
                start = i
                splits += 1
            } else {
                i = utf8.index(after: i)
            }
        }
        result.append(text[start..<text.endIndex])
        return result
    }

    /// A finite decimal number (no hex, no `nan`/`inf`).
    static func number(_ raw: Substring) -> Double? {
        guard !raw.isEmpty, raw.utf8.count <= 64 else { return nil }
        for byte in raw.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"),
                UInt8(ascii: "+"), UInt8(ascii: "-"):
                continue
            default: return nil
            }
        }
        guard let value = Double(raw), value.isFinite else { return nil }
        return value
    }

    /// The name and its InfluxDB-style tags: `users.current,service=payroll`.
    static func nameAndTags(_ raw: Substring) throws -> (String, [Tag]) {
        let pieces = Self.pieces(raw, Self.comma)
        let name = String(pieces[0])
        try checkName(name, what: "name")
        var tags: [Tag] = []
        for piece in pieces.dropFirst() {
            guard let equals = piece.utf8.firstIndex(of: UInt8(ascii: "=")), equals != piece.startIndex,
                piece.index(after: equals) != piece.endIndex
            else {
                throw Failure(.badTag, "expected key=value for the tag \"\(piece.prefix(40))\" in the name")
            }
            let tag = Tag(String(piece[..<equals]), String(piece[piece.index(after: equals)...]))
            try checkTag(tag)
            tags.removeAll { $0.key == tag.key }
            tags.append(tag)
        }
        return (name, tags)
    }

    /// DogStatsD tags: `k:v,k2` (`k2` gets the value `true`).
    static func dogTags(_ raw: Substring) throws -> [Tag] {
        var tags: [Tag] = []
        for piece in Self.pieces(raw, Self.comma) {
            let tag: Tag
            if let colon = piece.utf8.firstIndex(of: Self.colon) {
                tag = Tag(String(piece[..<colon]), String(piece[piece.index(after: colon)...]))
            } else {
                tag = Tag(String(piece), "true")
            }
            try checkTag(tag)
            tags.removeAll { $0.key == tag.key }
            tags.append(tag)
        }
        return tags
    }

    static func checkTag(_ tag: Tag) throws {
        guard !tag.key.isEmpty, !tag.value.isEmpty else {
            throw Failure(.badTag, "a tag needs a key and a value: \"\(tag.key.prefix(40)):\(tag.value.prefix(40))\"")
        }
        if let scalar = NameRules.firstControlCharacter(tag.key + tag.value) {
            throw Failure(.badTag, NameRules.controlMessage("tag \(NameRules.show(tag.key))", scalar))
        }
    }

    static func checkName(_ name: String, what: String) throws {
        guard !name.isEmpty else { throw Failure(.emptyName, "the \(what) is empty") }
        if name.hasPrefix("#") { throw Failure(.invalidName, "a \(what) may not start with '#'") }
        if let scalar = NameRules.firstControlCharacter(name) {
            throw Failure(.invalidName, NameRules.controlMessage("\(what) \(NameRules.show(name))", scalar))
        }
    }
}
