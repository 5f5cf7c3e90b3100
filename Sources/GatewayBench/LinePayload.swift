import Glibc
import Synchronization

/// The benchmark's line protocol: one measurement, 100 series (50 hosts in 5 regions, 20 services),
/// three fields of the three common types, and a nanosecond timestamp.
///
///     bench,host=h12,region=r2,service=s12 value=523.170,count=48213i,ok=true 1763638061123045000
///
/// Line `i` belongs to series `i % 100` and is stamped `first + i / 100` milliseconds, so the points of
/// one series have distinct milliseconds (VictoriaMetrics keeps milliseconds) and the stamps are
/// recent (it drops points outside its retention). Field values come from a hash of `i`: varied, yet
/// the same for every run, so both targets parse the same bytes.
enum LineGenerator {
    static let measurement = "bench"
    /// VictoriaMetrics stores one row per field, so its row counter is divided by this.
    static let fieldsPerLine = 3
    static let seriesCount = 100
    /// Upper bound of one line's length, for allocation.
    static let maxLineLength = 112

    /// Writes line `index` with the given first millisecond at `out`; returns its length (with '\n').
    static func write(index: Int, firstMillisecond: Int64, to out: UnsafeMutablePointer<UInt8>) -> Int {
        var w = ByteWriter(base: out)
        let hash = mix(UInt64(index))
        w.append("bench,host=h")
        w.append(index % 50)
        w.append(",region=r")
        w.append(index % 5)
        w.append(",service=s")
        w.append(index % 20)
        w.append(" value=")
        let milli = Int(hash % 10_000_000)
        w.append(milli / 1000)
        w.append(".")
        w.appendPadded(milli % 1000, digits: 3)
        w.append(",count=")
        w.append(Int((hash >> 24) % 1_000_000))
        w.append((hash >> 48) & 15 == 0 ? "i,ok=false " : "i,ok=true ")
        let series = index % seriesCount
        let nanoseconds = (firstMillisecond + Int64(index / seriesCount)) * 1_000_000 + Int64(series) * 10_007
        w.appendPadded(Int(nanoseconds), digits: 19)
        w.append("\n")
        return w.count
    }

    /// SplitMix64's finaliser: a cheap, well-spread hash of the line number.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Milliseconds one payload of `lines` lines spans (plus one, so consecutive ranges never touch).
    static func span(lines: Int) -> Int64 { Int64(lines / seriesCount + 1) }
}

/// Appends ASCII to raw memory without bounds checks or allocation: generation of ten million lines
/// should take about a second, not ten.
struct ByteWriter {
    let base: UnsafeMutablePointer<UInt8>
    var count = 0

    mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes in
            (base + count).update(from: bytes.baseAddress!, count: bytes.count)
            count += bytes.count
        }
    }

    mutating func append(_ value: Int) {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        appendPadded(value, digits: digits)
    }

    mutating func appendPadded(_ value: Int, digits: Int) {
        var v = value
        var i = count + digits - 1
        while i >= count {
            base[i] = UInt8(48 + v % 10)
            v /= 10
            i -= 1
        }
        count += digits
    }
}

/// Hands out disjoint millisecond ranges, starting a day ago, so that no two payloads of the whole
/// benchmark (runs, targets, connections) give one series the same millisecond.
final class TimestampAllocator: Sendable {
    private let next = Mutex<Int64>(WallClock.nowMilliseconds() - 86_400_000)

    /// The first millisecond of a fresh range for `lines` lines.
    func allocate(lines: Int) -> Int64 {
        next.withLock { next in
            defer { next += LineGenerator.span(lines: lines) }
            return next
        }
    }
}

/// Lines generated ahead of time into one block of memory and cut into chunks (a UDP datagram, an
/// HTTP body), so that sending costs the load generator a system call and no formatting.
///
/// ``renew(_:)`` moves every timestamp to a fresh range in place (the timestamp is always the last 19
/// bytes of a line), so a payload can be sent again without sending duplicate points.
/// Not thread-safe: one thread uses a payload at a time.
final class Payload: @unchecked Sendable {
    let lineCount: Int
    let linesPerChunk: Int
    let bytes: UnsafeMutablePointer<UInt8>
    private(set) var byteCount = 0
    /// End offset of each chunk; chunk `i` spans `chunkEnds[i - 1] ..< chunkEnds[i]`.
    private(set) var chunkEnds: [Int] = []
    private(set) var firstMillisecond: Int64

    init(lines: Int, linesPerChunk: Int, timestamps: TimestampAllocator) {
        lineCount = lines
        self.linesPerChunk = linesPerChunk
        bytes = .allocate(capacity: lines * LineGenerator.maxLineLength)
        firstMillisecond = timestamps.allocate(lines: lines)
        chunkEnds.reserveCapacity(lines / linesPerChunk + 1)
        for index in 0..<lines {
            byteCount += LineGenerator.write(index: index, firstMillisecond: firstMillisecond, to: bytes + byteCount)
            if (index + 1) % linesPerChunk == 0 || index == lines - 1 { chunkEnds.append(byteCount) }
        }
    }

    /// Lines of another protocol (StatsD): `write(index, out)` writes line `index` (at most
    /// `maxLineLength` bytes, with its '\n') and returns its length. They carry no timestamp: such a
    /// payload is never renewed.
    init(
        lines: Int, linesPerChunk: Int, maxLineLength: Int, write: (Int, UnsafeMutablePointer<UInt8>) -> Int
    ) {
        lineCount = lines
        self.linesPerChunk = linesPerChunk
        bytes = .allocate(capacity: lines * maxLineLength)
        firstMillisecond = 0
        chunkEnds.reserveCapacity(lines / linesPerChunk + 1)
        for index in 0..<lines {
            byteCount += write(index, bytes + byteCount)
            if (index + 1) % linesPerChunk == 0 || index == lines - 1 { chunkEnds.append(byteCount) }
        }
    }

    deinit {
        bytes.deallocate()
    }

    var chunkCount: Int { chunkEnds.count }

    func chunkRange(_ index: Int) -> Range<Int> {
        (index == 0 ? 0 : chunkEnds[index - 1])..<chunkEnds[index]
    }

    func chunk(_ index: Int) -> UnsafeRawBufferPointer {
        let range = chunkRange(index)
        return UnsafeRawBufferPointer(start: bytes + range.lowerBound, count: range.count)
    }

    /// Lines in chunk `index` (the last may be short).
    func linesIn(chunk index: Int) -> Int {
        index == chunkCount - 1 ? lineCount - linesPerChunk * (chunkCount - 1) : linesPerChunk
    }

    /// Shifts every timestamp to a fresh range from `timestamps`.
    func renew(_ timestamps: TimestampAllocator) {
        let first = timestamps.allocate(lines: lineCount)
        let delta = (first - firstMillisecond) * 1_000_000
        firstMillisecond = first
        var position = 0
        while position < byteCount {
            let newline = memchr(bytes + position, 10, byteCount - position)!.assumingMemoryBound(to: UInt8.self)
            let digits = newline - 19
            var value: Int64 = 0
            for i in 0..<19 { value = value * 10 + Int64(digits[i] - 48) }
            value += delta
            for i in stride(from: 18, through: 0, by: -1) {
                digits[i] = UInt8(48 + value % 10)
                value /= 10
            }
            position = newline - bytes + 1
        }
    }
}
