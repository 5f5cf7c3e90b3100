import GatewayCore
import TestDoubles
import Testing

@testable import Sinks

extension InfluxSinkTests {
    /// `gzip: false`: the request has no Content-Encoding and its body is the plain line protocol,
    /// byte for byte, directly and from the spool alike (the spool keeps gzip; replay inflates it).
    @Test func gzipFalse_sendsPlainBodies_directlyAndOnReplay() async throws {
        let h = try await harness(gzip: false)
        let points = testPoints(0..<100)
        try await h.writeAndWait(points)
        let direct = try #require(h.double.requests.first)
        #expect(!direct.gzipped)
        #expect(!direct.headers.contains { $0.0.lowercased() == "content-encoding" })
        #expect(direct.body == LineProtocolEncoder().encode(points))
        #expect(h.double.accepted == lines(points))
        // An outage spools the next batch; replay sends it plain too.
        h.double.script { _ in .influxError(500, code: "internal error", message: "boom") }
        let later = testPoints(100..<150)
        try await h.writeAndWait(later)
        #expect(h.spool!.pointCount == 50)
        h.double.script(nil)
        let sentBefore = h.double.requests.count
        while !h.spool!.isEmpty { _ = await h.sink.replayOnce() }
        let replayed = h.double.requests[sentBefore...]
        #expect(replayed.count == 1)
        #expect(replayed.allSatisfy { !$0.gzipped && $0.body == LineProtocolEncoder().encode(later) })
        #expect(h.double.accepted == lines(points + later))
        try await h.finish()
    }

    /// `gzip: true` (the default): gzip on the wire, the same bytes the spool would keep.
    @Test func gzipTrue_sendsGzip() async throws {
        let h = try await harness()
        let points = testPoints(0..<100)
        try await h.writeAndWait(points)
        let request = try #require(h.double.requests.first)
        #expect(request.gzipped)
        #expect(request.headers.contains { $0.0 == "Content-Encoding" && $0.1 == "gzip" })
        #expect(request.body == (try SpoolPayload(points: points, precision: .nanoseconds)).compressed)
        try await h.finish()
    }
}

/// The body the Influx transport makes of a chunk, and what it leaves computed in it (the spool
/// reuses the gzip; with `gzip: false` nothing is compressed).
@Suite struct InfluxTransportBodyTests {
    func transport(gzip: Bool) -> InfluxTransport {
        InfluxTransport(target: InfluxTarget(url: "http://127.0.0.1:1", org: "o", bucket: "b", token: "", gzip: gzip))
    }

    @Test func gzipFalse_plainBody_nothingCompressed() async throws {
        let raw = LineProtocolEncoder().encode(testPoints(0..<10))
        var chunk = NetworkChunk(raw: raw, points: 10, precision: .nanoseconds)
        let t = transport(gzip: false)
        let body = try t.body(for: &chunk)
        await t.shutdown()
        #expect(!body.gzipped)
        #expect(body.bytes == raw)
        #expect(chunk.payload == nil, "gzip: false compresses nothing on the direct path")
    }

    @Test func gzipTrue_gzipBody_keptForTheSpool() async throws {
        let raw = LineProtocolEncoder().encode(testPoints(0..<10))
        var chunk = NetworkChunk(raw: raw, points: 10, precision: .nanoseconds)
        let t = transport(gzip: true)
        let body = try t.body(for: &chunk)
        await t.shutdown()
        #expect(body.gzipped)
        #expect(chunk.payload?.compressed == body.bytes)
        #expect(try chunk.payload?.raw() == raw)
    }
}
