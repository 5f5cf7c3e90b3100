/// A tag: a key and a string value.
public struct Tag: Sendable, Hashable {
    public var key: String
    public var value: String

    @inlinable
    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

/// A field: a key and a typed value.
public struct Field: Sendable, Hashable {
    public var key: String
    public var value: FieldValue

    @inlinable
    public init(_ key: String, _ value: FieldValue) {
        self.key = key
        self.value = value
    }
}

/// The one point model everything is normalised into.
///
/// - `time` is nanoseconds since the Unix epoch.
/// - `tags` are sorted by key (byte order) with unique keys.
/// - `fields` keep their order and have unique keys; there is at least one.
public struct Point: Sendable, Hashable {
    public var series: String
    public var time: Int64
    public var tags: [Tag]
    public var fields: [Field]

    /// Makes a point; tags are sorted here, so callers may pass them in any order.
    public init(series: String, time: Int64, tags: [Tag] = [], fields: [Field]) {
        self.series = series
        self.time = time
        self.tags = tags
        self.fields = fields
        if !Self.tagsAreSorted(self.tags) {
            self.tags.sort(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) })
        }
    }

    /// The value of tag `key`, if present.
    public func tag(_ key: String) -> String? {
        for index in tags.indices where tags[index].key == key { return tags[index].value }
        return nil
    }

    /// The value of field `key`, if present.
    public func field(_ key: String) -> FieldValue? {
        fields.first(where: { $0.key == key })?.value
    }

    /// Sets a tag only where the point lacks it, keeping the tags sorted.
    @inlinable
    public mutating func addTagIfAbsent(_ key: String, _ value: String) {
        tags.addIfAbsent(Tag(key, value))
    }

    @usableFromInline
    static func tagsAreSorted(_ tags: [Tag]) -> Bool {
        guard tags.count > 1 else { return true }
        for i in 1..<tags.count where !tags[i - 1].key.utf8.lexicographicallyPrecedes(tags[i].key.utf8) {
            return false
        }
        return true
    }
}

extension Array where Element == Tag {
    /// Inserts `tag` at its sorted place (byte order of keys) unless a tag with its key is present.
    /// `self` must be sorted by key.
    @inlinable
    public mutating func addIfAbsent(_ tag: Tag) {
        var index = 0
        let keyBytes = tag.key.utf8
        while index < count {
            let existing = self[index].key
            if existing == tag.key { return }
            if !existing.utf8.lexicographicallyPrecedes(keyBytes) { break }
            index += 1
        }
        insert(tag, at: index)
    }
}

/// Points travelling together: what a sink receives.
///
/// A batch is kept as the chunks its points arrived in (a datagram burst, a request body), so that
/// handing a queue's points to a sink moves arrays instead of copying every point; a chunk cut at
/// a batch boundary is a slice sharing its array's storage. Iterate the batch itself; ``points``
/// flattens it into one array.
public struct PointBatch: Sendable, Sequence {
    public private(set) var chunks: [ArraySlice<Point>]
    public private(set) var count: Int
    /// One hold per chunk whose source waits to hear that it is settled (``settle()``).
    public var acknowledgements: [Acknowledgement] = []

    public init(_ points: [Point] = []) {
        chunks = points.isEmpty ? [] : [points[...]]
        count = points.count
    }

    public init(chunks: [ArraySlice<Point>], acknowledgements: [Acknowledgement] = []) {
        self.chunks = chunks.filter { !$0.isEmpty }
        count = self.chunks.reduce(0) { $0 + $1.count }
        self.acknowledgements = acknowledgements
    }

    public init(chunks: [[Point]]) {
        self.init(chunks: chunks.map { $0[...] })
    }

    public var isEmpty: Bool { count == 0 }

    /// Every point in one array (a copy unless the batch is one whole array).
    public var points: [Point] {
        chunks.count == 1 ? Array(chunks[0]) : Array(chunks.joined())
    }

    public func makeIterator() -> FlattenSequence<[ArraySlice<Point>]>.Iterator {
        chunks.joined().makeIterator()
    }

    public var underestimatedCount: Int { count }
}
