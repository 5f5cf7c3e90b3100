import CompressNIO
import GatewayCore
import NIOCore
import Testing

@testable import Sinks

/// libdeflate's gzip, as the influx2 sink sends it and the spool stores it: standard gzip members
/// that zlib (through compress-nio) reads back byte for byte.
@Suite struct GzipTests {
    @Test(arguments: [0, 1, 100, 65_536, 3_000_000])
    func gzipOfAnySizeInflatesWithZlibToTheSameBytes(_ size: Int) throws {
        var rng = SystemRandomNumberGenerator()
        // Half random bytes, half line protocol: the incompressible and the usual.
        let line = Array("cpu,host=h1,region=eu usage=12.5,count=3i 1700000000000000000\n".utf8)
        let raw = (0..<size).map { $0 % 2 == 0 ? UInt8.random(in: 0...255, using: &rng) : line[$0 % line.count] }
        let compressed = try Gzip.compress(raw)
        #expect(Array(compressed.prefix(2)) == [0x1F, 0x8B])
        var buffer = ByteBuffer(bytes: compressed)
        let inflated = try buffer.decompress(with: .gzip(), maxSize: 1 << 30)
        #expect(Array(inflated.readableBytesView) == raw)
    }

    @Test func spoolPayloadsRoundTripThroughTheirGzip() throws {
        let points = testPoints(0..<5_000)
        let payload = try SpoolPayload(points: points, precision: .nanoseconds)
        #expect(payload.points == 5_000)
        #expect(try payload.decodePoints() == points)
        // Line protocol compresses well at level 1: a tenth or less of its size here.
        #expect(payload.compressed.count * 6 < LineProtocolEncoder().encode(points).count)
    }

    @Test func compressorsAreSharedSafelyAcrossThreads() async throws {
        let raw = Array(String(repeating: "m,t=a f=1i 1\n", count: 10_000).utf8)
        try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<16 { group.addTask { try Gzip.compress(raw) } }
            for try await compressed in group {
                var buffer = ByteBuffer(bytes: compressed)
                #expect(Array(try buffer.decompress(with: .gzip(), maxSize: 1 << 30).readableBytesView) == raw)
            }
        }
    }
}
