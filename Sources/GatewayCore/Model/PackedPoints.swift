import Glibc

/// Points packed into one byte buffer: what a backlogged sink queue holds instead of one object
/// per point (a ``Point`` with three tags and three fields takes about 360 bytes of heap; packed,
/// the same point takes about 50).
///
/// The layout is private to this process (nothing is written to disk or the wire in it): per point,
/// the time (8 bytes), the series, the tags, the field count and each field's key, type and value.
/// Numbers are 8 bytes; booleans are in the type byte. A string is a varint: 0 for "the same bytes
/// as in the previous point at this place" (the series, the i-th tag key or value, the j-th field
/// key), else its length + 1 and its UTF-8 bytes. The tags are a varint: 0 for "all the previous
/// point's" (the unpacked points then share one array), else their count + 1, then each key and
/// value.
/// Unpacking reuses the previous point's strings where they repeat, so it builds few strings.
/// Every 64th point starts afresh (nothing "previous") and `restarts` holds where it begins, so
/// that a queue can hand out part of a packed chunk: unpacking from point k reads from the restart
/// before it, at most 63 points more.
public struct PackedPoints: Sendable {
    private let storage: Storage
    /// Where points 0, 64, 128, ... start in the buffer.
    private let restarts: [UInt32]
    public let count: Int
    static let restartInterval = 64
    /// The packed bytes.
    public var byteCount: Int { storage.count }

    /// Heap bytes this value holds (its two buffers, with the allocator's headers).
    public var memory: Int {
        storage.capacity + restarts.capacity * 4 + 3 * PointMemory.allocationOverhead + 32
    }

    /// Packs `points`; nil when they would take 4 GiB or more (they then stay objects).
    public init?(_ points: ArraySlice<Point>) {
        // Grown as needed from at most 1 MiB: a large chunk does not first take far more than it keeps.
        var writer = Writer(capacity: min(points.count * 64 + 64, 1 << 20))
        var restarts: [UInt32] = []
        restarts.reserveCapacity(points.count / Self.restartInterval + 1)
        let complete = points.withUnsafeBufferPointer { buffer -> Bool in
            for index in buffer.indices {
                guard writer.count < Int(UInt32.max) else { return false }
                if index % Self.restartInterval == 0 {
                    restarts.append(UInt32(truncatingIfNeeded: writer.count))
                    writer.append(buffer[index], after: nil)
                } else {
                    writer.append(buffer[index], after: buffer[index - 1])
                }
            }
            return true
        }
        guard complete else {
            writer.free()
            return nil
        }
        guard writer.count < Int(UInt32.max) else {
            writer.free()
            return nil
        }
        self.storage = Storage(writer)
        self.restarts = restarts
        self.count = points.count
    }

    /// The points at `range` (indices into this value's points), as they were packed.
    public func unpack(_ range: Range<Int>) -> [Point] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        var out: [Point] = []
        out.reserveCapacity(range.count)
        guard !range.isEmpty else { return out }
        let restart = range.lowerBound / Self.restartInterval
        var reader = Reader(base: storage.base, offset: Int(restarts[restart]))
        var previous: Point?
        for _ in (restart * Self.restartInterval)..<range.lowerBound { previous = reader.point(after: previous) }
        for _ in range {
            let point = reader.point(after: previous)
            out.append(point)
            previous = point
        }
        withExtendedLifetime(storage) {}
        return out
    }

    public func unpack() -> [Point] { unpack(0..<count) }

    /// The buffer, freed with the last value holding it.
    private final class Storage: @unchecked Sendable {
        let base: UnsafeMutablePointer<UInt8>
        let count: Int
        let capacity: Int

        init(_ writer: Writer) {
            // Give back what the estimate over-reserved.
            let shrunk = writer.count + 64 < writer.capacity ? realloc(writer.base, max(writer.count, 1)) : nil
            base = shrunk?.assumingMemoryBound(to: UInt8.self) ?? writer.base
            capacity = shrunk == nil ? writer.capacity : max(writer.count, 1)
            count = writer.count
        }

        deinit { Glibc.free(base) }
    }

    // MARK: Writing

    private struct Writer {
        var base: UnsafeMutablePointer<UInt8>
        var count = 0
        var capacity: Int

        init(capacity: Int) {
            self.capacity = max(capacity, 64)
            base = malloc(self.capacity)!.assumingMemoryBound(to: UInt8.self)
        }

        func free() { Glibc.free(base) }

        @inline(__always)
        mutating func reserve(_ n: Int) {
            if count + n <= capacity { return }
            capacity = max(capacity * 2, count + n)
            base = realloc(base, capacity)!.assumingMemoryBound(to: UInt8.self)
        }

        @inline(__always)
        mutating func byte(_ b: UInt8) {
            reserve(1)
            base[count] = b
            count += 1
        }

        @inline(__always)
        mutating func fixed(_ value: UInt64) {
            reserve(8)
            UnsafeMutableRawPointer(base + count).storeBytes(of: value.littleEndian, as: UInt64.self)
            count += 8
        }

        @inline(__always)
        mutating func varint(_ value: UInt64) {
            reserve(10)
            var v = value
            while v >= 0x80 {
                base[count] = UInt8(truncatingIfNeeded: v) | 0x80
                count += 1
                v >>= 7
            }
            base[count] = UInt8(v)
            count += 1
        }

        /// `string`, or the mark for "as `previous`" when their bytes are the same.
        @inline(__always)
        mutating func string(_ string: String, previous: String?) {
            if let previous, PackedPoints.sameBytes(string, previous) {
                byte(0)
                return
            }
            var string = string
            string.withUTF8 { utf8 in
                varint(UInt64(utf8.count) + 1)
                reserve(utf8.count)
                if let source = utf8.baseAddress { (base + count).update(from: source, count: utf8.count) }
                count += utf8.count
            }
        }

        mutating func append(_ point: Point, after previous: Point?) {
            fixed(UInt64(bitPattern: point.time))
            string(point.series, previous: previous?.series)
            let previousTags = previous?.tags ?? []
            if !point.tags.isEmpty, PackedPoints.sameTags(point.tags, previousTags) {
                byte(0)  // the previous point's tags
            } else {
                varint(UInt64(point.tags.count) + 1)
                for (i, tag) in point.tags.enumerated() {
                    let before = i < previousTags.count ? previousTags[i] : nil
                    string(tag.key, previous: before?.key)
                    string(tag.value, previous: before?.value)
                }
            }
            varint(UInt64(point.fields.count))
            let previousFields = previous?.fields ?? []
            for (j, field) in point.fields.enumerated() {
                string(field.key, previous: j < previousFields.count ? previousFields[j].key : nil)
                switch field.value {
                case .float(let v):
                    byte(0)
                    fixed(v.bitPattern)
                case .int(let v):
                    byte(1)
                    fixed(UInt64(bitPattern: v))
                case .uint(let v):
                    byte(2)
                    fixed(v)
                case .string(let v):
                    byte(3)
                    let before: String?
                    if j < previousFields.count, case .string(let p) = previousFields[j].value {
                        before = p
                    } else {
                        before = nil
                    }
                    string(v, previous: before)
                case .bool(let v):
                    byte(v ? 5 : 4)
                }
            }
        }
    }

    /// The same UTF-8 bytes (not `==`, which compares canonical equivalence).
    @inline(__always)
    static func sameBytes(_ a: String, _ b: String) -> Bool {
        // The same representation: the same small string, or the same storage (the usual case
        // for a repeated name). Else compare the bytes.
        if unsafeBitCast(a, to: (UInt64, UInt64).self) == unsafeBitCast(b, to: (UInt64, UInt64).self) { return true }
        if a.utf8.count != b.utf8.count { return false }
        var a = a
        var b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0)
            }
        }
    }

    static func sameTags(_ a: [Tag], _ b: [Tag]) -> Bool {
        guard a.count == b.count else { return false }
        for i in a.indices where !sameBytes(a[i].key, b[i].key) || !sameBytes(a[i].value, b[i].value) {
            return false
        }
        return true
    }

    // MARK: Reading

    /// Reads what the writer wrote; the buffer is this process's own, so it is trusted.
    private struct Reader {
        let base: UnsafePointer<UInt8>
        var offset: Int

        init(base: UnsafeMutablePointer<UInt8>, offset: Int) {
            self.base = UnsafePointer(base)
            self.offset = offset
        }

        mutating func point(after previous: Point?) -> Point {
            let time = Int64(bitPattern: fixed())
            let series = string(previous: previous?.series)
            let previousTags = previous?.tags ?? []
            var tags: [Tag]
            let tagMark = Int(varint())
            if tagMark == 0 {
                tags = previousTags
            } else {
                let tagCount = tagMark - 1
                tags = []
                tags.reserveCapacity(tagCount)
                for i in 0..<tagCount {
                    let before = i < previousTags.count ? previousTags[i] : nil
                    let key = string(previous: before?.key)
                    tags.append(Tag(key, string(previous: before?.value)))
                }
            }
            let fieldCount = Int(varint())
            let previousFields = previous?.fields ?? []
            var fields: [Field] = []
            fields.reserveCapacity(fieldCount)
            for j in 0..<fieldCount {
                let key = string(previous: j < previousFields.count ? previousFields[j].key : nil)
                let type = base[offset]
                offset += 1
                let value: FieldValue
                switch type {
                case 0: value = .float(Double(bitPattern: fixed()))
                case 1: value = .int(Int64(bitPattern: fixed()))
                case 2: value = .uint(fixed())
                case 3:
                    var before: String?
                    if j < previousFields.count, case .string(let p) = previousFields[j].value { before = p }
                    value = .string(string(previous: before))
                default: value = .bool(type == 5)
                }
                fields.append(Field(key, value))
            }
            // The tags were sorted when the point was made: set, not sorted again.
            var point = Point(series: series, time: time, tags: [], fields: fields)
            point.tags = tags
            return point
        }

        @inline(__always)
        mutating func fixed() -> UInt64 {
            let value = UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self)
            offset += 8
            return UInt64(littleEndian: value)
        }

        @inline(__always)
        mutating func varint() -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let byte = base[offset]
                offset += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
        }

        @inline(__always)
        mutating func string(previous: String?) -> String {
            let mark = Int(varint())
            if mark == 0 { return previous! }
            let length = mark - 1
            defer { offset += length }
            return String(decoding: UnsafeBufferPointer(start: base + offset, count: length), as: UTF8.self)
        }
    }
}

/// What points take in memory, as a queue counts it for `queue_max_bytes`.
public enum PointMemory {
    /// glibc's malloc: a chunk header, and sizes rounded up to 16 bytes.
    public static let allocationOverhead = 16
    /// A Swift array buffer's header (its count, capacity and object header).
    static let arrayHeader = 32

    /// The heap a point holds as an object: its array element, its tag and field arrays, and the
    /// strings too long to be stored inline (more than 15 UTF-8 bytes). Storage shared with other
    /// points (a repeated series' tags, a reused name) is counted for each: an upper bound.
    public static func bytes(of point: Point) -> Int {
        var total = MemoryLayout<Point>.stride + string(point.series)
        if !point.tags.isEmpty {
            total += allocation(arrayHeader + point.tags.capacity * MemoryLayout<Tag>.stride)
            for tag in point.tags { total += string(tag.key) + string(tag.value) }
        }
        total += allocation(arrayHeader + point.fields.capacity * MemoryLayout<Field>.stride)
        for field in point.fields {
            total += string(field.key)
            if case .string(let v) = field.value { total += string(v) }
        }
        return total
    }

    /// The heap the points of `points` hold, with the array that holds them.
    public static func bytes(of points: ArraySlice<Point>) -> Int {
        var total = allocation(arrayHeader)
        for point in points { total += bytes(of: point) }
        return total
    }

    static func string(_ s: String) -> Int {
        let n = s.utf8.count
        return n <= 15 ? 0 : allocation(arrayHeader + n + 1)
    }

    static func allocation(_ size: Int) -> Int {
        (size + allocationOverhead + 15) & ~15
    }
}
