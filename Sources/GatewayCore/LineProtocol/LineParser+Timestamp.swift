// Line protocol decoding, part of the hot path (see LineParser.swift): timestamps, eight digits at a
// time in the common case.

extension LineParser {
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
                throw Failure(
                    position: start, reason: .invalidTimestamp, message: "invalid timestamp: expected an integer")
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
