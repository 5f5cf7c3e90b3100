#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Remembers the decoded series and tags of recently seen line-protocol key sections (the bytes of a
/// line before its fields: `measurement,tag=value,...`), so that a line repeating one of them skips
/// unescaping, validating and sorting, and shares the tag array of the earlier points instead of
/// building a new one.
///
/// Applications send the same few thousand series over and over; a key section is a pure function of
/// its bytes, so a byte-for-byte match gives exactly what parsing would give. Only key sections that
/// parsed without error are kept.
///
/// The table is direct-mapped: a new key section takes its slot, whatever was there. Memory is bounded
/// by `slots` entries. One cache belongs to one decoding thread at a time (an event loop, or a request
/// that took it from a pool); it is not locked.
public final class SeriesCache: @unchecked Sendable {
    struct Entry {
        var hash: UInt64 = 0
        /// The key section's bytes, allocated by the cache (an array would cost a retain per lookup).
        var key: UnsafeMutablePointer<UInt8>? = nil
        var keyCount = 0
        var series = ""
        var tags: [Tag] = []
    }

    // The tables are raw allocations rather than arrays: the decoder consults them for every line,
    // and reaching an array through a class property costs a retain and an exclusivity check each time.
    private let entries: UnsafeMutablePointer<Entry>
    private let mask: Int
    /// The field keys of recent lines by position (first field, second...), by their raw bytes:
    /// points of a series repeat them, so a comparison replaces building the same `String` again.
    private let fieldKeys: UnsafeMutablePointer<FieldKey>
    private static let fieldKeySlots = 16
    /// Hits and misses.
    private let counters: UnsafeMutablePointer<Int>
    /// The default tags the cached tag arrays include (see ``LineProtocolDecoder/defaultTags``).
    let defaultTags: [Tag]

    /// A field key of up to 24 bytes, its raw bytes held inline (zero-padded) for a word compare.
    struct FieldKey {
        var raw: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var count = -1
        var name = ""

        static let maxLength = 24

        /// The raw bytes of a key of at most ``maxLength`` bytes as three zero-padded words.
        @inline(__always)
        static func words(_ raw: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64, UInt64) {
            var words: (UInt64, UInt64, UInt64) = (0, 0, 0)
            withUnsafeMutableBytes(of: &words) {
                $0.baseAddress!.copyMemory(from: raw.baseAddress!, byteCount: raw.count)
            }
            return (UInt64(littleEndian: words.0), UInt64(littleEndian: words.1), UInt64(littleEndian: words.2))
        }

        /// What ``words(_:)`` gives for the `length` bytes at `base`, read as three whole words with
        /// the bytes past `length` masked off (no byte copies, whose small stores would stall the
        /// loads that follow). `base` must have ``maxLength`` readable bytes.
        @inline(__always)
        static func words(at base: UnsafeRawPointer, length: Int) -> (UInt64, UInt64, UInt64) {
            (
                UInt64(littleEndian: base.loadUnaligned(as: UInt64.self)) & SeriesCache.lowBytes(length),
                UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                    & SeriesCache.lowBytes(length - 8),
                UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
                    & SeriesCache.lowBytes(length - 16)
            )
        }
    }

    /// Lookups answered from the table, and lookups that had to parse.
    public var hits: Int { counters[0] }
    public var misses: Int { counters[1] }

    /// - Parameters:
    ///   - slots: table size, rounded up to a power of two.
    ///   - defaultTags: the tags added where a point lacks them; stored entries include them, so a
    ///     cache must only be used with decoders given the same default tags.
    public init(slots: Int = 8192, defaultTags: [Tag] = []) {
        var size = 16
        while size < slots { size <<= 1 }
        entries = .allocate(capacity: size)
        entries.initialize(repeating: Entry(), count: size)
        mask = size - 1
        fieldKeys = .allocate(capacity: Self.fieldKeySlots)
        fieldKeys.initialize(repeating: FieldKey(), count: Self.fieldKeySlots)
        counters = .allocate(capacity: 2)
        counters.initialize(repeating: 0, count: 2)
        self.defaultTags = defaultTags
    }

    deinit {
        for slot in 0...mask { entries[slot].key?.deallocate() }
        entries.deinitialize(count: mask + 1)
        entries.deallocate()
        fieldKeys.deinitialize(count: Self.fieldKeySlots)
        fieldKeys.deallocate()
        counters.deallocate()
    }

    /// The number of slots.
    public var capacity: Int { mask + 1 }

    @inline(__always)
    func lookup(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64) -> (series: String, tags: [Tag])? {
        let entry = entries + (Int(truncatingIfNeeded: hash) & mask)
        guard entry.pointee.hash == hash, entry.pointee.keyCount == key.count, let stored = entry.pointee.key,
            memcmp(stored, key.baseAddress!, key.count) == 0
        else {
            counters[1] += 1
            return nil
        }
        counters[0] += 1
        return (entry.pointee.series, entry.pointee.tags)
    }

    func store(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64, series: String, tags: [Tag]) {
        let entry = entries + (Int(truncatingIfNeeded: hash) & mask)
        entry.pointee.key?.deallocate()
        let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: key.count)
        copy.initialize(from: key.baseAddress!, count: key.count)
        entry.pointee = Entry(hash: hash, key: copy, keyCount: key.count, series: series, tags: tags)
    }

    /// The field key stored at `index` when `bytes` hold its raw bytes at `start` followed by '='
    /// (the same bytes parse to the same key, as the stored ones did), with its length.
    @inline(__always)
    func fieldKey(at index: Int, in bytes: UnsafeBufferPointer<UInt8>, start: Int) -> (name: String, length: Int)? {
        guard index < Self.fieldKeySlots else { return nil }
        let key = fieldKeys + index
        let length = key.pointee.count
        guard length > 0, start + length < bytes.count, bytes[start + length] == UInt8(ascii: "=") else { return nil }
        let words =
            start + FieldKey.maxLength <= bytes.count
            ? FieldKey.words(at: UnsafeRawPointer(bytes.baseAddress! + start), length: length)
            : FieldKey.words(UnsafeBufferPointer(rebasing: bytes[start..<(start + length)]))
        guard key.pointee.raw.0 == words.0, key.pointee.raw.1 == words.1, key.pointee.raw.2 == words.2 else {
            return nil
        }
        return (key.pointee.name, length)
    }

    func storeFieldKey(at index: Int, raw: UnsafeBufferPointer<UInt8>, name: String) {
        guard index < Self.fieldKeySlots, raw.count <= FieldKey.maxLength else { return }
        fieldKeys[index] = FieldKey(raw: FieldKey.words(raw), count: raw.count, name: name)
    }

    /// A word with its low `count` bytes (little-endian order) set: all of them from 8 up, none at
    /// 0 or below.
    @inline(__always)
    static func lowBytes(_ count: Int) -> UInt64 {
        count >= 8 ? ~0 : count <= 0 ? 0 : (1 &<< UInt64(count &* 8)) &- 1
    }

    /// A fast non-cryptographic hash of the key bytes, eight at a time. Collisions only cost a
    /// comparison: a hit needs the bytes to match. With `readable` (how many bytes from the
    /// key's start may be read), the last partial word is read whole and masked instead of copied.
    @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>, readable: Int = 0) -> UInt64 {
        let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15
        var h = UInt64(truncatingIfNeeded: key.count) &* multiplier
        guard let base = key.baseAddress else { return h }
        let raw = UnsafeRawPointer(base)
        var offset = 0
        while offset + 8 <= key.count {
            let word = raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            h = (h ^ word) &* multiplier
            h ^= h >> 29
            offset += 8
        }
        if offset < key.count, offset + 8 <= readable {
            let tail =
                UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                & lowBytes(key.count - offset)
            h = (h ^ tail) &* multiplier
            h ^= h >> 29
        } else if offset < key.count {
            var tail: UInt64 = 0
            withUnsafeMutableBytes(of: &tail) { out in
                out.baseAddress!.copyMemory(from: raw + offset, byteCount: key.count - offset)
            }
            h = (h ^ UInt64(littleEndian: tail)) &* multiplier
            h ^= h >> 29
        }
        h = (h ^ (h >> 32)) &* multiplier
        return h ^ (h >> 29)
    }
}
