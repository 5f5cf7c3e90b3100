#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Line protocol decoding, part of the hot path (see LineParser.swift): the key section (measurement
// and tags, through the series cache) and the reading, unescaping and validation of names.

extension LineParser {
    // MARK: - Key section: measurement and tags

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
        if position == end {
            cache._withUnsafeGuaranteedRef { $0.store(key, hash: hash, series: parsed.0, tags: parsed.1) }
        }
        return parsed
    }

    /// The index of the first space at or after `from` that no backslash escapes, if any.
    static func firstUnescapedSpace(_ bytes: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        var searchFrom = from
        let base = bytes.baseAddress!
        while searchFrom < bytes.count {
            guard let found = memchr(base + searchFrom, Int32(ASCII.space), bytes.count - searchFrom) else {
                return nil
            }
            let index = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
            var backslashes = 0
            while index - backslashes - 1 >= from, bytes[index - backslashes - 1] == ASCII.backslash {
                backslashes += 1
            }
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
            if tags.isEmpty { tags.reserveCapacity(tagCapacity) }
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
        tagCapacity = max(tags.count, 1)
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
            if recent.length == length,
                memcmp(bytes.baseAddress! + recent.start, bytes.baseAddress! + start, length) == 0
            {
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
        if scratch.last == ASCII.backslash {
            // InfluxDB reads the separator after it as escaped and refuses the line: so does the gateway.
            throw Failure(
                position: position - 1, reason: .badEscape,
                message:
                    "\(kind.label) ends with a backslash: line protocol cannot end a name so (InfluxDB refuses the line)"
            )
        }
        return try scratch.withUnsafeBufferPointer { (buffer) throws(Failure) -> String in
            try makeString(buffer, at: start, ascii: ascii, kind: kind)
        }
    }

    func isEscapable(_ b: UInt8, kind: NameKind) -> Bool {
        switch b {
        // As InfluxDB reads names: only these are escapes; `\\` is two backslashes.
        case ASCII.comma, ASCII.space: return true
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
}
