import Foundation
import GatewayCore
import Logging
import MetricsTestKit
import TestDoubles
import Testing

@testable import Sinks

/// Remote write's status contract through the shared network sink, as a table (like influx2's):
/// each answer and what the sink makes of it (done, retried after a wait honouring Retry-After,
/// dead-lettered with the server's message, spooled), on a manual clock and without sockets.
@Suite struct RemoteWriteStatusPolicyTests {
    typealias Reply = ScriptedServer.Reply

    /// Retries: 3; backoff 100 ms doubling to 1 s, no jitter; max_wait 10 s; max_retry_after 60 s.
    static let policy = RetryPolicy(
        maxRetries: 3, initialBackoff: .milliseconds(100), maxBackoff: .seconds(1), maxWait: .seconds(10),
        maxRetryAfter: .seconds(60), jitter: 1...1)

    struct Row: Sendable, CustomTestStringConvertible {
        var replies: [Reply]
        var points = 10
        var policy = RemoteWriteStatusPolicyTests.policy
        var waits: [Duration] = []
        var requests = 1
        var written = 0
        var deadLettered = 0
        var deadLetter: (status: Int, message: String)?
        var spooled = 0
        var health = "healthy"

        var testDescription: String { replies.map(\.description).joined(separator: ", ") }
    }

    static let rows: [Row] = [
        // 2xx: done.
        Row(replies: [.http(204)], written: 10),
        Row(replies: [.http(200)], written: 10),
        // 429 and 5xx: retried, after the server's Retry-After (seconds or a date) or a backoff.
        Row(replies: [.http(429, retryAfter: "7")], waits: [.seconds(7)], requests: 2, written: 10),
        Row(replies: [.http(503, retryAfter: "2")], waits: [.seconds(2)], requests: 2, written: 10),
        Row(
            replies: [.http(500, retryAfter: "Fri, 15 Jan 2027 08:00:03 GMT")], waits: [.seconds(3)], requests: 2,
            written: 10),
        Row(replies: [.http(429)], waits: [.milliseconds(100)], requests: 2, written: 10),
        Row(
            replies: [.http(502), .http(504)], waits: [.milliseconds(100), .milliseconds(200)], requests: 3, written: 10
        ),
        Row(replies: [.http(408)], waits: [.milliseconds(100)], requests: 2, written: 10),
        Row(replies: [.transportError("connection refused")], waits: [.milliseconds(100)], requests: 2, written: 10),
        // Still failing after max_retries: the spool.
        Row(
            replies: Array(repeating: .http(500, body: "tsdb busy\n"), count: 4),
            waits: [.milliseconds(100), .milliseconds(200), .milliseconds(400)], requests: 4, spooled: 10,
            health: "retrying: 500 tsdb busy"),
        // A Retry-After past max_wait: spooled at once.
        Row(replies: [.http(429, body: "slow down", retryAfter: "30")], spooled: 10, health: "retrying: 429 slow down")
            .with { $0.policy = RetryPolicy(maxRetries: 3, maxWait: .seconds(5), maxRetryAfter: .seconds(300)) },
        // Other 4xx: not retried; dead-lettered with the server's message.
        Row(
            replies: [.http(400, body: "out of bounds\n")], deadLettered: 10, deadLetter: (400, "out of bounds")),
        Row(
            replies: [.http(401, body: "unauthorized")], deadLettered: 10, deadLetter: (401, "unauthorized")),
        Row(replies: [.http(404)], deadLettered: 10, deadLetter: (404, "HTTP 404")),
        Row(replies: [.http(422, body: "bad labels")], deadLettered: 10, deadLetter: (422, "bad labels")),
        // 413: halved until the receiver takes it; one point still too large is dead-lettered.
        Row(replies: [.http(413, body: "too large")], requests: 3, written: 10),
        Row(replies: [.http(413, body: "too large")], points: 1, deadLettered: 1, deadLetter: (413, "too large")),
    ]

    @Test(arguments: RemoteWriteStatusPolicyTests.rows)
    func answer_decidesWhatTheSinkDoes(_ row: Row) async throws {
        let receiver = ScriptedReceiver(row.replies)
        let clock = ManualClock()
        let metrics = TestMetrics()
        let spool = try SpoolStore(path: "\(try temporaryDirectory())/rw.db", logger: Logger(label: "test"))
        let sink = NetworkSink<ScriptedRemoteWriteTransport>(
            name: "rw", configuration: .init(target: receiver, precision: .milliseconds, retry: row.policy),
            spool: spool, metrics: SinkMetrics(sink: "rw", factory: metrics),
            delivery: DeliveryMetrics(sink: "rw", factory: metrics), logger: Logger(label: "test"), clock: clock)
        let running = sink.startSending()
        let points = testPoints(0..<row.points)
        let waits = try await InfluxStatusPolicyTests().settle(PointBatch(points), in: sink, advancing: clock)
        #expect(waits == row.waits)
        #expect(receiver.requests.count == row.requests)
        #expect(receiver.written.count == row.written)
        let all = Set(ScriptedReceiver.samples(RemoteWriteEncoder().encode(points).request))
        #expect(Set(receiver.written).isSubset(of: all))
        func counter(_ label: String) -> Int64 {
            (try? metrics.expectCounter(label, [("sink", "rw")]).totalValue) ?? 0
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
        await sink.close()
        await running.value
        spool.close()
    }
}

extension RemoteWriteStatusPolicyTests.Row {
    func with(_ change: (inout Self) -> Void) -> Self {
        var copy = self
        change(&copy)
        return copy
    }
}
