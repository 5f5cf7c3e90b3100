#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What ``StatsDAggregator/take(_:cache:into:)`` did with one datagram (or a run of TCP lines).
public struct StatsDTake: Sendable {
    /// Lines that were not empty.
    public var lines = 0
    /// One per malformed line, with its line number in the datagram.
    public var errors: [PointError] = []
    /// Samples and events refused at `max_series`.
    public var dropped = 0
    public init() {}
}

extension StatsDAggregator {
    /// Parses and aggregates newline-separated StatsD lines: the hot path of the statsd listener.
    ///
    /// A line whose name, tags, type and rate are in `cache` and whose value is a plain decimal goes
    /// straight into its series' slot; any other line is parsed by ``StatsDParser`` (with the same
    /// result, error or samples, as parsing the whole datagram would give) and, when it was one
    /// number for one series, remembered in `cache`.
    public mutating func take(_ bytes: UnsafeRawBufferPointer, cache: StatsDLineCache, into result: inout StatsDTake) {
        guard let raw = bytes.baseAddress, !bytes.isEmpty else { return }
        let base = raw.assumingMemoryBound(to: UInt8.self)
        let count = bytes.count
        var scratch = StatsDParser.Output()
        var start = 0
        var number = 0
        while start <= count {
            let end = memchr(base + start, 0x0A, count - start).map { UnsafeRawPointer($0) - raw } ?? count
            number += 1
            var stop = end
            if stop > start, base[stop - 1] == 0x0D { stop -= 1 }
            if stop > start {
                result.lines += 1
                let line = UnsafeBufferPointer(start: base + start, count: stop - start)
                if !addCached(line, cache) { addParsed(line, number: number, cache, &scratch, &result) }
            }
            if end >= count { break }
            start = end + 1
        }
    }

    /// Where the value of a one-value line lies: after the first `:` up to the next `|`.
    @inline(__always)
    static func valueBounds(_ line: UnsafeBufferPointer<UInt8>) -> (colon: Int, pipe: Int)? {
        let base = line.baseAddress!
        guard let colon = memchr(base, 0x3A, line.count) else { return nil }
        let colonIndex = UnsafeRawPointer(colon) - UnsafeRawPointer(base)
        guard let pipe = memchr(base + colonIndex + 1, 0x7C, line.count - colonIndex - 1) else { return nil }
        return (colonIndex, UnsafeRawPointer(pipe) - UnsafeRawPointer(base))
    }

    @inline(__always)
    mutating func addCached(_ line: UnsafeBufferPointer<UInt8>, _ cache: StatsDLineCache) -> Bool {
        guard let (colon, pipe) = Self.valueBounds(line) else { return false }
        let base = line.baseAddress!
        let prefix = UnsafeBufferPointer(start: base, count: colon)
        let suffix = UnsafeBufferPointer(start: base + pipe, count: line.count - pipe)
        guard let (slot, rate) = cache.find(prefix, suffix, generation: generation),
            let value = StatsDParser.plainNumber(base + colon + 1, count: pipe - colon - 1)
        else { return false }
        let sign = base[colon + 1]
        add(value, isDelta: sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-"), rate: rate, slot: slot)
        return true
    }

    mutating func addParsed(
        _ line: UnsafeBufferPointer<UInt8>, number: Int, _ cache: StatsDLineCache, _ scratch: inout StatsDParser.Output,
        _ result: inout StatsDTake
    ) {
        scratch.samples.removeAll(keepingCapacity: true)
        scratch.events.removeAll(keepingCapacity: true)
        scratch.errors.removeAll(keepingCapacity: true)
        StatsDParser().parse(line: line, number: number, into: &scratch)
        result.errors += scratch.errors
        var slot: Int?
        for sample in scratch.samples {
            slot = slotAdding(sample)
            if slot == nil { result.dropped += 1 }
        }
        for event in scratch.events where !add(event: event) { result.dropped += 1 }
        // Remembered: one number (not a set member) for one series, whose value the plain parser reads
        // as the full parser did.
        guard scratch.samples.count == 1, scratch.events.isEmpty, let slot, scratch.samples[0].kind != .set,
            let (colon, pipe) = Self.valueBounds(line),
            let value = StatsDParser.plainNumber(line.baseAddress! + colon + 1, count: pipe - colon - 1),
            value.bitPattern == scratch.samples[0].value.bitPattern
        else { return }
        cache.store(
            UnsafeBufferPointer(start: line.baseAddress!, count: colon),
            UnsafeBufferPointer(start: line.baseAddress! + pipe, count: line.count - pipe), slot: slot,
            rate: scratch.samples[0].rate, generation: generation)
    }
}

extension StatsDParser {
    /// `[+-]digits[.digits]` with 1 to 15 digits in all, read without building a String: the exact
    /// double `Double(text)` gives (the digits as an integer below 2^53 divided by a power of ten up to
    /// 10^15, both exact, is correctly rounded). Anything else is nil and goes to the full parser.
    @inline(__always)
    static func plainNumber(_ base: UnsafePointer<UInt8>, count: Int) -> Double? {
        guard count > 0, count <= 17 else { return nil }
        var i = 0
        var negative = false
        if base[0] == UInt8(ascii: "-") || base[0] == UInt8(ascii: "+") {
            negative = base[0] == UInt8(ascii: "-")
            i = 1
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var decimals = -1
        while i < count {
            let digit = base[i] &- 0x30
            if digit < 10 {
                mantissa = mantissa &* 10 &+ UInt64(digit)
                digits += 1
                if decimals >= 0 { decimals += 1 }
            } else if base[i] == UInt8(ascii: "."), decimals < 0, digits > 0 {
                decimals = 0
            } else {
                return nil
            }
            i += 1
        }
        guard digits > 0, digits <= 15, decimals != 0 else { return nil }
        var value = Double(mantissa)
        if decimals > 0 { value /= powerOfTen(decimals) }
        return negative ? -value : value
    }

    @inline(__always)
    static func powerOfTen(_ n: Int) -> Double {
        var result = 1.0
        for _ in 0..<n { result *= 10 }  // exact up to 10^22
        return result
    }
}
