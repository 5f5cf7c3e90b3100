import GatewayCore
import Logging
import MetricsTestKit
import TestDoubles
import Testing

@testable import Sinks

/// `expedite()` (shutdown_timeout passed) gives up what the direct path waits for, a backoff on the
/// clock or a request on the wire, and sends the batch to the spool; the tasks doing it are the
/// sink's own (children of `run()`), not detached ones that would outlive it.
@Suite struct NetworkSinkExpediteTests {
    func sink(_ server: ScriptedServer, clock: ManualClock, metrics: TestMetrics) throws -> NetworkSink<
        ScriptedInfluxTransport
    > {
        NetworkSink<ScriptedInfluxTransport>(
            name: "influx",
            configuration: .init(
                target: server,
                retry: RetryPolicy(
                    maxRetries: 5, initialBackoff: .seconds(10), maxBackoff: .seconds(10), maxWait: .seconds(60),
                    jitter: 1...1)),
            spool: try SpoolStore(path: "\(try temporaryDirectory())/influx.db", logger: Logger(label: "test")),
            metrics: SinkMetrics(sink: "influx", factory: metrics),
            delivery: DeliveryMetrics(sink: "influx", factory: metrics),
            logger: Logger(label: "test"), clock: clock)
    }

    /// Waits (real time, bounded) until `condition` holds.
    func eventually(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
    }

    @Test func expedite_cutsTheBackoffShort_andSpoolsTheBatch() async throws {
        let server = ScriptedServer(Array(repeating: .http(500), count: 10))
        let clock = ManualClock()
        let metrics = TestMetrics()
        let sink = try sink(server, clock: clock, metrics: metrics)
        let running = sink.startSending()
        try await sink.write(PointBatch(testPoints(0..<10)))
        try await eventually { clock.pendingSleeps == [.seconds(10)] }
        #expect(clock.pendingSleeps == [.seconds(10)])
        sink.expedite()
        await sink.flush()
        #expect(server.requests.count == 1)
        #expect(sink.spool!.pointCount == 10)
        #expect(clock.pendingSleeps.isEmpty)
        // After expedite, batches go straight to the spool without asking the server.
        try await sink.write(PointBatch(testPoints(10..<20)))
        await sink.flush()
        #expect(server.requests.count == 1)
        #expect(sink.spool!.pointCount == 20)
        await sink.close()
        await running.value
    }

    @Test func expedite_givesUpTheRequestOnTheWire_andSpoolsTheBatch() async throws {
        let server = ScriptedServer([.hang])
        let clock = ManualClock()
        let metrics = TestMetrics()
        let sink = try sink(server, clock: clock, metrics: metrics)
        let running = sink.startSending()
        try await sink.write(PointBatch(testPoints(0..<10)))
        try await eventually { server.requests.count == 1 }
        sink.expedite()
        await sink.flush()
        #expect(sink.spool!.pointCount == 10)
        #expect(server.written.isEmpty)
        if case .retrying(let why) = sink.health {
            #expect(why.contains("given up (shutdown)"))
        } else {
            Issue.record("health \(sink.health)")
        }
        await sink.close()
        await running.value
    }

    /// `close()` ends `run()` once the batches on the wire are settled; a batch written after that
    /// is still sent (by the caller) rather than left unsettled.
    @Test func close_endsRun_andALaterWriteIsStillSent() async throws {
        let server = ScriptedServer([])
        let sink = try sink(server, clock: ManualClock(), metrics: TestMetrics())
        let running = sink.startSending()
        try await sink.write(PointBatch(testPoints(0..<10)))
        await sink.close()
        await running.value
        #expect(server.written.count == 10)
        try await sink.write(PointBatch(testPoints(10..<20)))
        await sink.flush()
        #expect(server.written.count == 20)
    }
}
