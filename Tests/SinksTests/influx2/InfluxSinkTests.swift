import Foundation
import GatewayCore
import Logging
import Metrics
import MetricsTestKit
import Synchronization
import TestDoubles
import Testing

@testable import Sinks

/// The Influx sink's status policy, against `InfluxContractDouble`: a TEST DOUBLE that answers
/// as InfluxDB's documentation says (400 with the first bad line, 401, 413, 422, 429/503 with
/// Retry-After, 500), which no real Influx-compatible server here does on demand. The happy path
/// and outages against a real server (VictoriaMetrics) are in GatewayTests.
@Suite(.serialized) struct InfluxSinkTests {
    struct Harness {
        let double: InfluxContractDouble
        let sink: InfluxSink
        let spool: SpoolStore?
        let metrics: TestMetrics
        /// The sink's `run()` without its replayer (these tests replay step by step).
        let running: Task<Void, Never>

        /// Writes a batch and waits until it is settled (the sink overlaps the next batch's
        /// encoding with this one's request).
        func writeAndWait(_ points: [Point]) async throws {
            try await sink.write(PointBatch(points))
            await sink.flush()
        }

        func finish() async throws {
            await sink.close()
            await running.value
            spool?.close()
            try await double.stop()
        }

        func counter(_ label: String, _ extra: [(String, String)] = []) -> Int64 {
            (try? metrics.expectCounter(label, [("sink", "influx")] + extra).totalValue) ?? 0
        }
    }

    func harness(
        spool: Bool = true,
        retry: RetryPolicy = RetryPolicy(maxRetries: 2, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(5)),
        clock: any Clock<Duration> = ContinuousClock(), token: String = "secret", maxInFlight: Int = 1,
        gzip: Bool = true
    ) async throws -> Harness {
        let double = InfluxContractDouble()
        try await double.start()
        let metrics = TestMetrics()
        let store =
            spool ? try SpoolStore(path: "\(try temporaryDirectory())/influx.db", logger: Logger(label: "test")) : nil
        let sink = InfluxSink(
            name: "influx",
            configuration: .init(
                target: InfluxTarget(url: double.url, org: "o", bucket: "b", token: token, gzip: gzip), retry: retry,
                maxInFlight: maxInFlight),
            spool: store, metrics: SinkMetrics(sink: "influx", factory: metrics),
            delivery: DeliveryMetrics(sink: "influx", factory: metrics), logger: Logger(label: "test"), clock: clock)
        return Harness(double: double, sink: sink, spool: store, metrics: metrics, running: sink.startSending())
    }

    func lines(_ points: [Point]) -> [String] {
        let encoder = LineProtocolEncoder()
        return points.map { encoder.line($0) }
    }

    @Test func delivered_gzipTokenOrgBucketPrecision() async throws {
        let h = try await harness()
        let points = testPoints(0..<100)
        try await h.writeAndWait((points))
        #expect(h.double.accepted == lines(points))
        let request = try #require(h.double.requests.first)
        #expect(request.gzipped)
        #expect(request.path == "/api/v2/write")
        #expect(request.query == ["org": "o", "bucket": "b", "precision": "ns"])
        #expect(request.headers.contains { $0.0 == "Authorization" && $0.1 == "Token secret" })
        #expect(h.counter("gateway_points_written_total") == 100)
        #expect(h.sink.health == .healthy)
        try await h.finish()
    }

    /// The double holds each answer 150 ms (a slow server). With max_in_flight 1 the batches go one
    /// after the other; with 3, three are on the wire at once, and every point still arrives once.
    @Test(arguments: [1, 3])
    func maxInFlight_boundsTheBatchesOnTheWire_slowServerDouble(_ maxInFlight: Int) async throws {
        let h = try await harness(maxInFlight: maxInFlight)
        h.double.delayAnswers(.milliseconds(150))
        var all: [Point] = []
        for i in 0..<6 {
            let points = testPoints(i * 10..<(i + 1) * 10)
            all += points
            try await h.sink.write(PointBatch(points))
        }
        await h.sink.flush()
        #expect(h.double.mostConcurrentRequests == maxInFlight)
        #expect(Set(h.double.accepted) == Set(lines(all)))
        #expect(h.double.accepted.count == all.count)
        #expect(h.counter("gateway_points_written_total") == Int64(all.count))
        if maxInFlight == 1 { #expect(h.double.accepted == lines(all)) }
        try await h.finish()
    }

    /// Three batches on the wire at once: the first is retried (500) while the other two are refused
    /// at once (401). They still enter the spool in the order they were sent, so replay is oldest first.
    @Test func batchesInFlightTogether_enterTheSpoolInTheOrderSent() async throws {
        let h = try await harness(maxInFlight: 3)
        let first = Set(lines(testPoints(0..<10)))
        h.double.script { request in
            request.lines.contains(where: first.contains)
                ? .influxError(500, code: "internal error", message: "boom")
                : .influxError(401, code: "unauthorized", message: "unauthorized access")
        }
        for i in 0..<3 { try await h.sink.write(PointBatch(testPoints(i * 10..<(i + 1) * 10))) }
        await h.sink.flush()
        #expect(h.spool!.pointCount == 30)
        h.double.script(nil)
        while !h.spool!.isEmpty { _ = await h.sink.replayOnce() }
        #expect(h.double.accepted == lines(testPoints(0..<30)))
        try await h.finish()
    }

    /// Spools `batches` batches of 10 points directly (as an outage would have).
    func fillSpool(_ h: Harness, batches: Int) async throws -> [Point] {
        var all: [Point] = []
        for i in 0..<batches {
            let points = testPoints(i * 10..<(i + 1) * 10)
            all += points
            _ = try await h.spool!.append(try SpoolPayload(points: points, precision: .nanoseconds))
        }
        return all
    }

    /// Replay keeps up to max_in_flight spooled batches on the wire against a slow server double
    /// (answers held 150 ms); every batch arrives once and leaves the spool; with 1, in order.
    @Test(arguments: [1, 3])
    func replay_keepsMaxInFlightBatchesOnTheWire_slowServerDouble(_ maxInFlight: Int) async throws {
        let h = try await harness(maxInFlight: maxInFlight)
        let all = try await fillSpool(h, batches: 7)
        h.double.delayAnswers(.milliseconds(150))
        #expect(await h.sink.replay() == nil)
        #expect(h.spool!.isEmpty)
        #expect(h.double.mostConcurrentRequests == maxInFlight)
        #expect(h.double.accepted.count == all.count)
        #expect(Set(h.double.accepted) == Set(lines(all)))
        #expect(h.counter("gateway_points_replayed_total") == Int64(all.count))
        if maxInFlight == 1 { #expect(h.double.accepted == lines(all)) }
        try await h.finish()
    }

    /// Three batches replayed at once; the middle one is answered 500. The other two are
    /// confirmed and leave the spool; the failed one stays, the pass stops with a backoff, and the
    /// next pass delivers it: every point arrives exactly once.
    @Test func replay_failureInsideTheWindow_keepsOnlyTheFailedBatch() async throws {
        let h = try await harness(maxInFlight: 3)
        let all = try await fillSpool(h, batches: 3)
        let middle = Set(lines(testPoints(10..<20)))
        h.double.script { request in
            request.lines.contains(where: middle.contains)
                ? .influxError(500, code: "internal error", message: "boom") : nil
        }
        #expect(await h.sink.replay() != nil)
        #expect(h.spool!.pointCount == 10)
        #expect(h.counter("gateway_points_replayed_total") == 20)
        #expect(h.sink.health != .healthy)
        let left = try #require(try await h.spool!.oldest())
        #expect(try left.payload.decodePoints() == testPoints(10..<20))
        h.spool!.release(left)
        h.double.script(nil)
        #expect(await h.sink.replay() == nil)
        #expect(h.spool!.isEmpty)
        #expect(h.double.accepted.count == all.count)
        #expect(Set(h.double.accepted) == Set(lines(all)))
        #expect(h.counter("gateway_points_replayed_total") == 30)
        #expect(h.sink.health == .healthy)
        try await h.finish()
    }

    @Test func status400_withLine_deadLettersTheBadLine_withTheServersMessage_andWritesTheRest() async throws {
        let h = try await harness()
        // Influx refuses a batch whose field type conflicts; the double refuses `v` as a string.
        h.double.script { request in
            if let index = request.lines.firstIndex(where: { $0.contains("v=\"") }) {
                return .influxError(
                    400, code: "invalid",
                    message:
                        "partial write: field type conflict: input field \"v\" is type string, already exists as type integer",
                    line: index + 1)
            }
            return nil
        }
        var points = testPoints(0..<50)
        points[20].fields = [.init("v", .string("oops"))]
        try await h.writeAndWait((points))
        var expected = lines(points)
        let bad = expected.remove(at: 20)
        #expect(h.double.accepted == expected)
        #expect(h.counter("gateway_points_written_total") == 49)
        #expect(h.counter("gateway_points_dead_lettered_total") == 1)
        let dead = try h.spool!.deadLetters(after: 0, limit: 10)
        #expect(dead.count == 1)
        #expect(dead.first?.line == bad)
        #expect(dead.first?.status == 400)
        #expect(dead.first?.message.contains("field type conflict") == true)
        #expect(h.sink.health == .healthy)
        // The sink goes on.
        try await h.writeAndWait((testPoints(100..<110)))
        #expect(h.double.accepted.count == 59)
        try await h.finish()
    }

    @Test func status400_withoutLine_bisectsToTheBadLines() async throws {
        let h = try await harness()
        h.double.script { request in
            request.lines.contains { $0.contains("v=\"") }
                ? .influxError(400, code: "invalid", message: "bad data somewhere") : nil
        }
        var points = testPoints(0..<64)
        points[3].fields = [.init("v", .string("x"))]
        points[40].fields = [.init("v", .string("y"))]
        try await h.writeAndWait((points))
        #expect(
            Set(h.double.accepted) == Set(lines(points)).subtracting([lines([points[3]])[0], lines([points[40]])[0]]))
        #expect(h.double.accepted.count == 62)
        #expect(h.counter("gateway_points_dead_lettered_total") == 2)
        #expect(try h.spool!.deadLetters(after: 0, limit: 10).count == 2)
        try await h.finish()
    }

    @Test func status413_splitsUntilTheServerTakesIt_inOrder() async throws {
        let h = try await harness()
        h.double.limitLines(30)
        let points = testPoints(0..<100)
        try await h.writeAndWait((points))
        #expect(h.double.accepted == lines(points))
        #expect(h.counter("gateway_points_written_total") == 100)
        #expect(h.counter("gateway_points_dead_lettered_total") == 0)
        try await h.finish()
    }

    @Test func status422_deadLettersTheBatch() async throws {
        let h = try await harness()
        h.double.script { _ in
            .influxError(422, code: "unprocessable entity", message: "points beyond retention policy")
        }
        try await h.writeAndWait((testPoints(0..<10)))
        #expect(h.counter("gateway_points_dead_lettered_total") == 10)
        #expect(try h.spool!.deadLetters(after: 0, limit: 100).count == 10)
        #expect(h.spool!.isEmpty)
        try await h.finish()
    }

    @Test func status500Loop_isBounded_thenSpooled_andNothingIsLost() async throws {
        let h = try await harness()
        h.double.script { _ in .influxError(500, code: "internal error", message: "boom") }
        try await h.writeAndWait((testPoints(0..<10)))
        // One try and max_retries = 2 retries, then the spool.
        #expect(h.double.requests.count == 3)
        #expect(h.counter("gateway_sink_retries_total") == 2)
        #expect(h.counter("gateway_points_spooled_total") == 10)
        #expect(h.spool!.pointCount == 10)
        if case .retrying(let why) = h.sink.health {
            #expect(why.contains("500"))
        } else {
            Issue.record("health \(h.sink.health)")
        }
        // While the backlog exists, new batches go behind it without asking the server.
        try await h.writeAndWait((testPoints(10..<20)))
        #expect(h.double.requests.count == 3)
        #expect(h.spool!.pointCount == 20)
        // The server recovers: replay delivers both, oldest first.
        h.double.script(nil)
        while !h.spool!.isEmpty { _ = await h.sink.replayOnce() }
        #expect(h.double.accepted == lines(testPoints(0..<20)))
        #expect(h.counter("gateway_points_replayed_total") == 20)
        #expect(h.sink.health == .healthy)
        try await h.finish()
    }

    @Test func status401_holdsEverythingInTheSpool_reportsWhy_andDeliversOnceFixed() async throws {
        let h = try await harness(token: "wrong")
        h.double.requireToken("secret")
        try await h.writeAndWait((testPoints(0..<10)))
        try await h.writeAndWait((testPoints(10..<20)))
        // 401 is not retried on the direct path: one request, then the spool.
        #expect(h.double.requests.count == 1)
        #expect(h.spool!.pointCount == 20)
        guard case .refused(let why) = h.sink.health else {
            Issue.record("expected refused, got \(h.sink.health)")
            return
        }
        #expect(why.contains("401"))
        #expect(try h.metrics.expectGauge("gateway_sink_healthy", [("sink", "influx")]).lastValue == 0)
        #expect(await h.sink.replayOnce() != nil)
        #expect(h.spool!.pointCount == 20)
        #expect(h.counter("gateway_points_dropped_total", [("reason", "write_error")]) == 0)
        // The operator fixes the token on the server side of this double.
        h.double.requireToken("wrong")
        while !h.spool!.isEmpty { _ = await h.sink.replayOnce() }
        #expect(h.double.accepted == lines(testPoints(0..<20)))
        try await h.finish()
    }

    @Test func retryAfter_isHonoured_onTheManualClock() async throws {
        let clock = ManualClock()
        let h = try await harness(
            retry: RetryPolicy(maxRetries: 3, initialBackoff: .milliseconds(100), maxWait: .seconds(30)), clock: clock)
        let answers = Mutex429Counter()
        h.double.script { _ in
            answers.next() == 0
                ? .influxError(429, code: "too many requests", message: "slow down", headers: [("Retry-After", "7")])
                : nil
        }
        let write = Task { try await h.writeAndWait((testPoints(0..<10))) }
        // Wait until the sink sleeps on the clock.
        var waited = 0
        while clock.pendingSleeps.isEmpty, waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(clock.pendingSleeps == [.seconds(7)])
        clock.advance(by: .seconds(6))
        try await Task.sleep(for: .milliseconds(100))
        #expect(h.double.requests.count == 1)
        clock.advance(by: .seconds(1))
        try await write.value
        #expect(h.double.requests.count == 2)
        #expect(h.double.accepted.count == 10)
        #expect(h.counter("gateway_sink_retries_total") == 1)
        try await h.finish()
    }

    @Test func retryAfterLongerThanMaxWait_spoolsAtOnce_andTheReplayerWaitsIt() async throws {
        let h = try await harness(
            retry: RetryPolicy(maxRetries: 3, initialBackoff: .milliseconds(1), maxWait: .seconds(5)))
        h.double.script { _ in
            .influxError(503, code: "unavailable", message: "busy", headers: [("Retry-After", "120")])
        }
        try await h.writeAndWait((testPoints(0..<10)))
        #expect(h.double.requests.count == 1)
        #expect(h.spool!.pointCount == 10)
        // The replayer's next pass waits the server's 120 s instead of asking again.
        #expect(await h.sink.replayOnce() == .seconds(120))
        #expect(h.double.requests.count == 1)
        try await h.finish()
    }

    @Test func spoolOff_failureIsCountedAsDropped() async throws {
        let h = try await harness(spool: false)
        h.double.script { _ in .influxError(500, code: "internal error", message: "boom") }
        try await h.writeAndWait((testPoints(0..<10)))
        #expect(h.counter("gateway_points_dropped_total", [("reason", "write_error")]) == 10)
        #expect(h.counter("gateway_points_written_total") == 0)
        try await h.finish()
    }

    @Test func networkError_spools_andTheReplayerBacksOffWithoutAskingPerBatch() async throws {
        // A port nobody listens on: connection refused.
        let double = InfluxContractDouble()
        try await double.start()
        let deadURL = double.url
        try await double.stop()
        let metrics = TestMetrics()
        let store = try SpoolStore(path: "\(try temporaryDirectory())/influx.db", logger: Logger(label: "test"))
        let sink = InfluxSink(
            name: "influx",
            configuration: .init(
                target: InfluxTarget(url: deadURL, org: "o", bucket: "b", token: ""),
                retry: RetryPolicy(maxRetries: 1, initialBackoff: .milliseconds(1))),
            spool: store, metrics: SinkMetrics(sink: "influx", factory: metrics),
            delivery: DeliveryMetrics(sink: "influx", factory: metrics), logger: Logger(label: "test"))
        let running = sink.startSending()
        let start = ContinuousClock.now
        for i in 0..<5 { try await sink.write(PointBatch(testPoints(i * 10..<(i + 1) * 10))) }
        await sink.flush()
        #expect(ContinuousClock.now - start < .seconds(3), "an outage must not hold the writer")
        #expect(store.pointCount == 50)
        #expect(try metrics.expectCounter("gateway_points_spooled_total", [("sink", "influx")]).totalValue == 50)
        let delay = await sink.replayOnce()
        #expect(delay != nil)
        await sink.close()
        await running.value
    }
}

/// Counts the double's answers for scripts that change over time.
final class Mutex429Counter: Sendable {
    private let count = Synchronization.Mutex(0)
    func next() -> Int {
        count.withLock { c in
            defer { c += 1 }
            return c
        }
    }
}
