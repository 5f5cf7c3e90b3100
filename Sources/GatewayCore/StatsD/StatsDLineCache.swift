#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Remembers, for StatsD lines of one number for one series (`name[,tags]:VALUE|type[|@rate][|#tags]`),
/// the aggregator slot their bytes around the value lead to: the bytes before the first `:` (name and
/// InfluxDB-style tags) and from the first `|` after it to the end (type, rate, DogStatsD tags). A line
/// whose two parts match a remembered line byte for byte, and whose value is a plain decimal, is
/// added to that slot without building a String: applications send the same series over and over,
/// and a line's name, tags, type and rate are a pure function of those bytes (the value, without `:`
/// or `|`, cannot change how the rest parses).
///
/// Open addressing with linear probing over at most half its slots: it starts with 1,024 slots and
/// doubles up to twice the series it is made for (at most 262,144 slots of 40 bytes); when that is
/// half full it is emptied (and refilled by the lines that follow). An entry is valid for one
/// aggregator ``generation``.
/// Not locked: it belongs to one aggregator, used under that aggregator's lock.
public final class StatsDLineCache: @unchecked Sendable {
    struct Entry {
        var hash: UInt64 = 0
        /// The prefix's bytes then the suffix's, allocated by the cache.
        var key: UnsafeMutablePointer<UInt8>? = nil
        var prefixCount: Int32 = 0
        var keyCount: Int32 = 0
        var generation: Int32 = 0
        var slot: Int32 = 0
        var rate = 1.0
    }

    private var entries: UnsafeMutablePointer<Entry>
    private var mask: Int
    private let maxCapacity: Int
    private var used = 0
    /// Lines answered from the table, and lines that were parsed.
    public private(set) var hits = 0
    public private(set) var misses = 0

    /// - Parameter series: the series it should hold at once (the aggregator's `max_series`); the table
    ///   gets twice as many slots, from 1,024 to 262,144.
    public init(series: Int) {
        var size = 1024
        while size < 2 * series, size < 1 << 18 { size <<= 1 }
        maxCapacity = size
        entries = .allocate(capacity: 1024)
        entries.initialize(repeating: Entry(), count: 1024)
        mask = 1023
    }

    deinit {
        clear()
        entries.deinitialize(count: mask + 1)
        entries.deallocate()
    }

    public var capacity: Int { mask + 1 }

    func clear() {
        for i in 0...mask where entries[i].key != nil {
            entries[i].key!.deallocate()
            entries[i] = Entry()
        }
        used = 0
    }

    /// Twice the slots, the entries moved over (their keys kept).
    private func grow() {
        let old = entries
        let oldCount = mask + 1
        entries = .allocate(capacity: 2 * oldCount)
        entries.initialize(repeating: Entry(), count: 2 * oldCount)
        mask = 2 * oldCount - 1
        for j in 0..<oldCount where old[j].key != nil {
            var i = Int(truncatingIfNeeded: old[j].hash) & mask
            while entries[i].key != nil { i = (i + 1) & mask }
            entries[i] = old[j]
        }
        old.deinitialize(count: oldCount)
        old.deallocate()
    }

    @inline(__always)
    static func hash(_ prefix: UnsafeBufferPointer<UInt8>, _ suffix: UnsafeBufferPointer<UInt8>) -> UInt64 {
        SeriesCache.hash(prefix) ^ (SeriesCache.hash(suffix) &* 0xC2B2_AE3D_27D4_EB4F)
    }

    @inline(__always)
    private func matches(
        _ entry: UnsafeMutablePointer<Entry>, _ hash: UInt64, _ prefix: UnsafeBufferPointer<UInt8>,
        _ suffix: UnsafeBufferPointer<UInt8>
    ) -> Bool {
        guard entry.pointee.hash == hash, Int(entry.pointee.prefixCount) == prefix.count,
            Int(entry.pointee.keyCount) == prefix.count + suffix.count, let key = entry.pointee.key
        else { return false }
        return (prefix.isEmpty || memcmp(key, prefix.baseAddress!, prefix.count) == 0)
            && memcmp(key + prefix.count, suffix.baseAddress!, suffix.count) == 0
    }

    /// The slot and rate remembered for these bytes in this generation.
    @inline(__always)
    func find(_ prefix: UnsafeBufferPointer<UInt8>, _ suffix: UnsafeBufferPointer<UInt8>, generation: Int32) -> (
        slot: Int, rate: Double
    )? {
        let hash = Self.hash(prefix, suffix)
        var i = Int(truncatingIfNeeded: hash) & mask
        while entries[i].key != nil {
            if matches(entries + i, hash, prefix, suffix) {
                guard entries[i].generation == generation else { break }
                hits += 1
                return (Int(entries[i].slot), entries[i].rate)
            }
            i = (i + 1) & mask
        }
        misses += 1
        return nil
    }

    func store(
        _ prefix: UnsafeBufferPointer<UInt8>, _ suffix: UnsafeBufferPointer<UInt8>, slot: Int, rate: Double,
        generation: Int32
    ) {
        guard prefix.count + suffix.count < Int(Int32.max), slot < Int(Int32.max) else { return }
        if 2 * (used + 1) > capacity {
            if capacity < maxCapacity { grow() } else { clear() }
        }
        let hash = Self.hash(prefix, suffix)
        var i = Int(truncatingIfNeeded: hash) & mask
        while entries[i].key != nil {
            if matches(entries + i, hash, prefix, suffix) {
                entries[i].slot = Int32(slot)
                entries[i].rate = rate
                entries[i].generation = generation
                return
            }
            i = (i + 1) & mask
        }
        let key = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, prefix.count + suffix.count))
        if !prefix.isEmpty { key.initialize(from: prefix.baseAddress!, count: prefix.count) }
        (key + prefix.count).initialize(from: suffix.baseAddress!, count: suffix.count)
        entries[i] = Entry(
            hash: hash, key: key, prefixCount: Int32(prefix.count), keyCount: Int32(prefix.count + suffix.count),
            generation: generation, slot: Int32(slot), rate: rate)
        used += 1
    }
}
