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
        var key: [UInt8] = []
        var series = ""
        var tags: [Tag] = []
    }

    private var entries: [Entry]
    private let mask: Int
    /// The default tags the cached tag arrays include (see ``LineProtocolDecoder/defaultTags``).
    let defaultTags: [Tag]

    /// Lookups answered from the table, and lookups that had to parse.
    public private(set) var hits = 0
    public private(set) var misses = 0

    /// - Parameters:
    ///   - slots: table size, rounded up to a power of two.
    ///   - defaultTags: the tags added where a point lacks them; stored entries include them, so a
    ///     cache must only be used with decoders given the same default tags.
    public init(slots: Int = 8192, defaultTags: [Tag] = []) {
        var size = 16
        while size < slots { size <<= 1 }
        entries = [Entry](repeating: Entry(), count: size)
        mask = size - 1
        self.defaultTags = defaultTags
    }

    /// The number of slots.
    public var capacity: Int { mask + 1 }

    @inline(__always)
    func lookup(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64) -> (series: String, tags: [Tag])? {
        let slot = Int(truncatingIfNeeded: hash) & mask
        // Fields are read in place: copying the whole entry out would retain and release each of them.
        return entries.withUnsafeMutableBufferPointer { table -> (series: String, tags: [Tag])? in
            let entry = table.baseAddress! + slot
            guard entry.pointee.hash == hash, entry.pointee.key.count == key.count,
                entry.pointee.key.withUnsafeBufferPointer({ stored in
                    memcmp(stored.baseAddress!, key.baseAddress!, key.count) == 0
                })
            else {
                misses += 1
                return nil
            }
            hits += 1
            return (entry.pointee.series, entry.pointee.tags)
        }
    }

    func store(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64, series: String, tags: [Tag]) {
        let slot = Int(truncatingIfNeeded: hash) & mask
        entries[slot] = Entry(hash: hash, key: Array(key), series: series, tags: tags)
    }

    /// A fast non-cryptographic hash of the key bytes, eight at a time. Collisions only cost a
    /// comparison: a hit needs the bytes to match.
    @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
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
        if offset < key.count {
            var tail: UInt64 = 0
            withUnsafeMutableBytes(of: &tail) { out in
                out.baseAddress!.copyMemory(from: raw + offset, byteCount: key.count - offset)
            }
            h = (h ^ tail) &* multiplier
            h ^= h >> 29
        }
        h = (h ^ (h >> 32)) &* multiplier
        return h ^ (h >> 29)
    }
}
