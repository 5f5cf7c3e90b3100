import GatewayCore
import Logging
import Metrics
import MetricsTestKit
import Testing

@testable import Sinks

@Suite struct BlackholeSinkTests {
    /// Discarded points still count as written, so a muted route's traffic stays visible.
    @Test func pointsAreCountedAsWritten_andSettled() async throws {
        let metrics = TestMetrics()
        let queue = SinkQueue(capacity: 10_000, policy: .block)
        let parts = try BlackholeSettings().make(
            SinkContext(
                name: "drop", logger: Logger(label: "test"), metrics: SinkMetrics(sink: "drop", factory: metrics),
                factory: metrics))
        #expect(parts.spool == nil && parts.services.isEmpty)
        let worker = SinkWorker(
            name: "drop", sink: parts.sink, queue: queue,
            configuration: .init(batchSize: 100, flushInterval: .milliseconds(10)),
            metrics: SinkMetrics(sink: "drop", factory: metrics), logger: Logger(label: "test"))
        let running = Task { await worker.run() }
        queue.offer(points(250))
        let written = try metrics.expectCounter("gateway_points_written_total", [("sink", "drop")])
        let deadline = ContinuousClock.now + .seconds(30)
        while written.totalValue < 250, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(written.totalValue == 250)
        #expect(queue.count == 0)
        running.cancel()
        _ = await running.value
    }

    @Test func settings_haveNoKeys_andLargerQueueDefaults() throws {
        let (_, none) = try readSinkSettings(BlackholeSettings.factory, "{}")
        #expect(none.isEmpty)
        let (_, problems) = try readSinkSettings(BlackholeSettings.factory, "format: line")
        #expect(problems == [#"1: format: unknown key "format" (expected one of: )"#])
        #expect(BlackholeSettings.factory.batchSize == 5000 && BlackholeSettings.factory.queueSize == 1_000_000)
    }
}
