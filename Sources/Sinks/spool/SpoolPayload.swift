import CompressNIO
import GatewayCore
import NIOCore

/// One batch as it travels to Influx and rests in the spool: line protocol at a precision,
/// gzip-compressed, with a checksum of the compressed bytes.
public struct SpoolPayload: Sendable {
    /// gzip of the line-protocol body.
    public var compressed: [UInt8]
    public var points: Int
    public var precision: Precision

    public init(compressed: [UInt8], points: Int, precision: Precision) {
        self.compressed = compressed
        self.points = points
        self.precision = precision
    }

    /// Encodes and compresses `points` (gzip level 1: line protocol compresses about 10:1 at
    /// that level, and the faster level keeps an outage from slowing ingest down).
    public init(points: [Point], precision: Precision) throws {
        let raw = LineProtocolEncoder(precision: precision).encode(points)
        try self.init(raw: raw, points: points.count, precision: precision)
    }

    public init(batch: PointBatch, precision: Precision) throws {
        let raw = LineProtocolEncoder(precision: precision).encode(batch)
        try self.init(raw: raw, points: batch.count, precision: precision)
    }

    public init(raw: [UInt8], points: Int, precision: Precision) throws {
        self.init(compressed: try Self.gzip(raw), points: points, precision: precision)
    }

    public var checksum: Int64 { Self.checksum(compressed) }

    /// The line-protocol body.
    public func raw(limit: Int = 1 << 30) throws -> [UInt8] {
        var buffer = ByteBuffer(bytes: compressed)
        let inflated = try buffer.decompress(with: .gzip, maxSize: limit)
        return Array(inflated.readableBytesView)
    }

    /// The points, decoded back from the body.
    public func decodePoints() throws -> [Point] {
        let result = LineProtocolDecoder.storedData(precision: precision).decode(try raw())
        if let error = result.errors.first { throw SpoolError.corrupt("line protocol does not decode: \(error)") }
        return result.points
    }

    static func gzip(_ raw: [UInt8]) throws -> [UInt8] {
        try Gzip.compress(raw)
    }

    /// FNV-1a, 64 bits, over the stored bytes: catches torn or altered rows; not a MAC.
    public static func checksum(_ bytes: [UInt8]) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            hash ^= UInt64(b)
            hash &*= 0x100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }
}

public enum SpoolError: Error, CustomStringConvertible, Sendable {
    case corrupt(String)
    case unavailable(String)

    public var description: String {
        switch self {
        case .corrupt(let why): return "corrupt spool data: \(why)"
        case .unavailable(let why): return "spool unavailable: \(why)"
        }
    }
}
