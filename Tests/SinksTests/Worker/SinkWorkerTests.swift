import GatewayCore
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import TestDoubles
import Testing

@testable import Sinks

/// Records batches: stands in for a destination in these tests of the worker's batching logic
/// (the real sinks are exercised end to end in GatewayTests).
final class RecordingSink: Sink {
    let batches = Mutex<[[Int64]]>([])
    func write(_ batch: PointBatch) async throws {
        batches.withLock { $0.append(batch.points.map(\.time)) }
    }
}

@Suite struct SinkWorkerTests {
    func makeWorker(batchSize: Int, flush: Duration, queue: SinkQueue, sink: RecordingSink) -> SinkWorker {
        SinkWorker(
            name: "test", sink: sink, queue: queue,
            configuration: .init(batchSize: batchSize, flushInterval: flush),
            metrics: SinkMetrics(sink: "test", factory: NOOPMetricsHandler.instance), logger: Logger(label: "test"))
    }

    /// On a manual clock: full batches go out without waiting; the remainder only once the flush
    /// interval has passed on the worker's clock (never on how busy the machine is).
    @Test func fullBatchesGoOutAtOnce_andTheRemainderAfterTheFlushInterval() async throws {
        let queue = SinkQueue(capacity: 1000, policy: .block)
        let sink = RecordingSink()
        let clock = ManualClock()
        let worker = SinkWorker(
            name: "test", sink: sink, queue: queue,
            configuration: .init(batchSize: 10, flushInterval: .milliseconds(200)),
            metrics: SinkMetrics(sink: "test", factory: NOOPMetricsHandler.instance), logger: Logger(label: "test"),
            clock: clock)
        let running = Task { await worker.run() }
        queue.offer(points(25))
        try await waitUntil { sink.batches.withLock { $0.count } == 2 && clock.pendingSleeps == [.milliseconds(200)] }
        #expect(sink.batches.withLock { $0.map(\.count) } == [10, 10], "the remainder waits for the flush interval")
        clock.advance(by: .milliseconds(199))
        try await Task.sleep(for: .milliseconds(20))
        #expect(sink.batches.withLock { $0.map(\.count) } == [10, 10])
        clock.advance(by: .milliseconds(1))
        try await waitUntil { sink.batches.withLock { $0.count } == 3 }
        #expect(sink.batches.withLock { $0.map(\.count) } == [10, 10, 5])
        queue.close()
        await running.value
    }

    /// Polls `condition` (a generous bound that only a hang reaches).
    func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
    }

    @Test func closingTheQueue_drainsEverythingLeft() async throws {
        let queue = SinkQueue(capacity: 1000, policy: .block)
        let sink = RecordingSink()
        let worker = makeWorker(batchSize: 100, flush: .seconds(3600), queue: queue, sink: sink)
        let running = Task { await worker.run() }
        queue.offer(points(250))
        try await Task.sleep(for: .milliseconds(50))
        queue.close()
        await running.value
        #expect(sink.batches.withLock { $0.flatMap { $0 } } == (0..<250).map(Int64.init))
    }
}
