import GatewayCore

/// A piece of a batch on its way to a server: line protocol at a precision, plain, gzip (the
/// spool's form) or both, each computed once when first needed. Status policies split chunks
/// (413, a 400 without a line number) and dead-letter single lines.
///
/// On the direct path a chunk also holds the ``batch`` it was made from, and its line protocol is
/// encoded only when first asked for: a transport that encodes points in another form (remote
/// write's protobuf) reads them from the batch, and the line protocol is made only if the chunk
/// goes to the spool or is dead-lettered.
public struct NetworkChunk: Sendable {
    var payload: SpoolPayload?
    var raw: [UInt8]?
    /// The points themselves, on the direct path (nil for chunks read from the spool or split).
    public private(set) var batch: PointBatch?
    /// Set by a transport once it has counted what its encoding leaves out of this chunk's points
    /// (remote write's string fields), so that a retry of the same chunk does not count it again.
    public var counted = false
    public private(set) var points: Int
    public let precision: Precision

    /// A chunk as the spool holds it (gzip).
    public init(payload: SpoolPayload) {
        self.payload = payload
        self.points = payload.points
        self.precision = payload.precision
    }

    /// A chunk of plain line protocol (`raw` ends each line with a newline).
    public init(raw: [UInt8], points: Int, precision: Precision) {
        self.raw = raw
        self.points = points
        self.precision = precision
    }

    /// A chunk of a batch's points; its line protocol is encoded when first needed.
    public init(batch: PointBatch, precision: Precision) {
        self.batch = batch
        self.points = batch.count
        self.precision = precision
    }

    init(lines: ArraySlice<[UInt8]>, precision: Precision) {
        var raw: [UInt8] = []
        for line in lines {
            raw.append(contentsOf: line)
            raw.append(UInt8(ascii: "\n"))
        }
        self.init(raw: raw, points: lines.count, precision: precision)
    }

    /// The two halves of a chunk's lines, in order.
    static func halves(_ lines: [[UInt8]], precision: Precision) -> [NetworkChunk] {
        let mid = lines.count / 2
        return [
            NetworkChunk(lines: lines[..<mid], precision: precision),
            NetworkChunk(lines: lines[mid...], precision: precision),
        ]
    }

    /// The plain line-protocol body.
    public mutating func plain() throws -> [UInt8] {
        if let raw { return raw }
        if let batch {
            let r = LineProtocolEncoder(precision: precision).encode(batch)
            raw = r
            return r
        }
        let r = try payload!.raw()
        raw = r
        return r
    }

    /// The gzip body, as the spool keeps it.
    public mutating func compressed() throws -> SpoolPayload {
        if let payload { return payload }
        let p = try SpoolPayload(raw: try plain(), points: points, precision: precision)
        payload = p
        return p
    }

    /// One entry per line, each re-encoded from its decoded point (string values may hold
    /// newlines, so the body is not split on them).
    mutating func lines() throws -> [[UInt8]] {
        let decoded = LineProtocolDecoder.storedData(precision: precision).decode(try plain())
        let encoder = LineProtocolEncoder(precision: precision)
        return decoded.points.map { point in
            var line: [UInt8] = []
            encoder.encode(point, into: &line)
            line.removeLast()
            return line
        }
    }

    /// One payload from the chunks left; the original one when nothing was split off.
    static func merge(_ chunks: [NetworkChunk], precision: Precision) throws -> SpoolPayload {
        if chunks.count == 1, let payload = chunks[0].payload { return payload }
        var raw: [UInt8] = []
        var points = 0
        for var chunk in chunks {
            raw.append(contentsOf: try chunk.plain())
            points += chunk.points
        }
        return try SpoolPayload(raw: raw, points: points, precision: precision)
    }
}
