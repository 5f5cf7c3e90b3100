import Foundation
import GatewayCore
import Logging
import MetricsTestKit
import Synchronization
import TestDoubles
import Testing

@testable import Sinks

/// InfluxDB's status policy through the shared network sink, as a table: each answer (status code,
/// network error, Retry-After) and what the sink makes of it (done, retried after a wait, dead-
/// lettered with the server's message, spooled), on a manual clock and without sockets.
@Suite struct InfluxStatusPolicyTests {
    typealias Reply = ScriptedServer.Reply

    /// Retries: 3; backoff 100 ms doubling to 1 s, no jitter; max_wait 10 s; max_retry_after 60 s.
    static let policy = RetryPolicy(
        maxRetries: 3, initialBackoff: .milliseconds(100), maxBackoff: .seconds(1), maxWait: .seconds(10),
        maxRetryAfter: .seconds(60), jitter: 1...1)

    struct Row: Sendable, CustomTestStringConvertible {
        var replies: [Reply]
        var points = 10
        var policy = InfluxStatusPolicyTests.policy
        /// The waits the sink slept on the clock, in order.
        var waits: [Duration] = []
        var requests = 1
        var written = 0
        var deadLettered = 0
        /// The dead letters' status and message.
        var deadLetter: (status: Int, message: String)?
        var spooled = 0
        /// How the health reads afterwards.
        var health = "healthy"
        /// What the replayer's next pass waits before asking again (the server's wish).
        var replayWaits: Duration?

        var testDescription: String { replies.map(\.description).joined(separator: ", ") }
    }

    static func influxError(_ message: String, line: Int? = nil) -> String {
        var object: [String: Any] = ["code": "invalid", "message": message]
        if let line { object["line"] = line }
        return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    static let rows: [Row] = [
        // Done.
        Row(replies: [.http(204)], written: 10),
        Row(replies: [.http(200)], written: 10),
        // Dead-lettered: the bad line with the server's message, and the rest sent again.
        Row(
            replies: [.http(400, body: influxError("unable to parse 'x': bad field", line: 3))], requests: 2,
            written: 9,
            deadLettered: 1, deadLetter: (400, "unable to parse 'x': bad field")),
        // 400 without a line: halves, each sent again.
        Row(replies: [.http(400, body: influxError("bad data somewhere"))], requests: 3, written: 10),
        Row(
            replies: [.http(400, body: influxError("bad data"))], points: 1, deadLettered: 1,
            deadLetter: (400, "bad data")),
        // 413: halves; one line too large is dead-lettered.
        Row(replies: [.http(413, body: "request entity too large")], requests: 3, written: 10),
        Row(
            replies: [.http(413, body: "too large")], points: 1, deadLettered: 1, deadLetter: (413, "too large")),
        Row(
            replies: [.http(422, body: influxError("points beyond retention policy"))], deadLettered: 10,
            deadLetter: (422, "points beyond retention policy")),
        // Retried after the server's Retry-After, or a backoff.
        Row(replies: [.http(429, retryAfter: "7")], waits: [.seconds(7)], requests: 2, written: 10),
        Row(replies: [.http(503, retryAfter: "2")], waits: [.seconds(2)], requests: 2, written: 10),
        Row(
            replies: [.http(503, retryAfter: "Fri, 15 Jan 2027 08:00:03 GMT")], waits: [.seconds(3)], requests: 2,
            written: 10),
        Row(replies: [.http(503)], waits: [.milliseconds(100)], requests: 2, written: 10),
        Row(replies: [.http(500)], waits: [.milliseconds(100)], requests: 2, written: 10),
        Row(
            replies: [.http(502), .http(504)], waits: [.milliseconds(100), .milliseconds(200)], requests: 3, written: 10
        ),
        Row(replies: [.http(408)], waits: [.milliseconds(100)], requests: 2, written: 10),
        Row(replies: [.transportError("connection refused")], waits: [.milliseconds(100)], requests: 2, written: 10),
        Row(replies: [.transportError("no answer within 10s")], waits: [.milliseconds(100)], requests: 2, written: 10),
        // Backoff grows, capped at max_backoff, until max_retries: then the spool.
        Row(
            replies: Array(repeating: .http(500), count: 4),
            waits: [.milliseconds(100), .milliseconds(200), .milliseconds(400)], requests: 4, spooled: 10,
            health: "retrying: 500 HTTP 500"),
        Row(
            replies: Array(repeating: .http(500), count: 4),
            policy: RetryPolicy(
                maxRetries: 3, initialBackoff: .milliseconds(400), maxBackoff: .milliseconds(500), jitter: 1...1),
            waits: [.milliseconds(400), .milliseconds(500), .milliseconds(500)], requests: 4, spooled: 10,
            health: "retrying: 500 HTTP 500"),
        // max_wait: a wait that would pass it sends the batch to the spool instead.
        Row(
            replies: Array(repeating: .http(500), count: 9),
            policy: RetryPolicy(
                maxRetries: 10, initialBackoff: .seconds(2), maxBackoff: .seconds(30), maxWait: .seconds(5),
                jitter: 1...1),
            waits: [.seconds(2)], requests: 2, spooled: 10, health: "retrying: 500 HTTP 500"),
        Row(
            replies: [.http(503, body: "busy", retryAfter: "120")], spooled: 10, health: "retrying: 503 busy",
            replayWaits: .seconds(60)),
        Row(
            replies: [.http(429, body: "slow down", retryAfter: "30")],
            policy: RetryPolicy(maxRetries: 3, maxWait: .seconds(5), maxRetryAfter: .seconds(300)), spooled: 10,
            health: "retrying: 429 slow down", replayWaits: .seconds(30)),
        // Refused: spooled at once, held until fixed.
        Row(
            replies: [.http(401, body: influxError("unauthorized access"))], spooled: 10,
            health: "refused: 401 unauthorized access"),
        Row(replies: [.http(403, body: "forbidden")], spooled: 10, health: "refused: 403 forbidden"),
        Row(
            replies: [.http(404, body: influxError("bucket \"b\" not found"))], spooled: 10,
            health: "refused: 404 bucket \"b\" not found"),
        Row(replies: [.http(418)], spooled: 10, health: "refused: 418 HTTP 418"),
    ]

    @Test(arguments: InfluxStatusPolicyTests.rows)
    func answer_decidesWhatTheSinkDoes(_ row: Row) async throws {
        let server = ScriptedServer(row.replies)
        let clock = ManualClock()
        let metrics = TestMetrics()
        let spool = try SpoolStore(path: "\(try temporaryDirectory())/influx.db", logger: Logger(label: "test"))
        let sink = NetworkSink<ScriptedInfluxTransport>(
            name: "influx", configuration: .init(target: server, retry: row.policy), spool: spool,
            metrics: SinkMetrics(sink: "influx", factory: metrics),
            delivery: DeliveryMetrics(sink: "influx", factory: metrics),
            logger: Logger(label: "test"), clock: clock)
        let running = sink.startSending()
        let points = testPoints(0..<row.points)
        let waits = try await settle(PointBatch(points), in: sink, advancing: clock)
        #expect(waits == row.waits)
        #expect(server.requests.count == row.requests)
        let encoder = LineProtocolEncoder()
        #expect(server.written.count == row.written)
        #expect(Set(server.written).isSubset(of: Set(points.map { encoder.line($0) })))
        func counter(_ label: String) -> Int64 {
            (try? metrics.expectCounter(label, [("sink", "influx")]).totalValue) ?? 0
        }
        #expect(counter("gateway_points_written_total") == Int64(row.written))
        #expect(counter("gateway_points_dead_lettered_total") == Int64(row.deadLettered))
        #expect(counter("gateway_points_spooled_total") == Int64(row.spooled))
        #expect(counter("gateway_sink_retries_total") == Int64(row.waits.count))
        #expect(spool.pointCount == row.spooled)
        let dead = try spool.deadLetters(after: 0, limit: 100)
        #expect(dead.count == row.deadLettered)
        if let expected = row.deadLetter {
            #expect(dead.allSatisfy { $0.status == expected.status && $0.message == expected.message })
        }
        #expect(sink.health.text == row.health)
        if let replayWaits = row.replayWaits {
            #expect(await sink.replayOnce() == replayWaits)
            #expect(server.requests.count == row.requests, "the replayer waits before asking again")
        }
        await sink.close()
        await running.value
        spool.close()
    }

    /// Writes a batch and waits until it is settled, moving the manual clock past each wait the sink
    /// sleeps on; returns those waits in order.
    func settle(_ batch: PointBatch, in sink: NetworkSink<some NetworkTransport>, advancing clock: ManualClock)
        async throws
        -> [Duration]
    {
        let done = Flag()
        func writeAndFlush() async throws {
            try await sink.write(batch)
            await sink.flush()
            done.set()
        }
        async let writing: Void = writeAndFlush()
        var waits: [Duration] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while !done.isSet, ContinuousClock.now < deadline {
            if let wait = clock.pendingSleeps.first {
                waits.append(wait)
                clock.advance(by: wait)
            } else {
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        try await writing
        return waits
    }
}

final class Flag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
    func set() { value.store(true, ordering: .sequentiallyConsistent) }
}
