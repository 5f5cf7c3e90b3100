import GatewayCore
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
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

    @Test func fullBatchesGoOutAtOnce_andTheRemainderAfterTheFlushInterval() async throws {
        let queue = SinkQueue(capacity: 1000, policy: .block)
        let sink = RecordingSink()
        let worker = makeWorker(batchSize: 10, flush: .milliseconds(200), queue: queue, sink: sink)
        let running = Task { await worker.run() }
        queue.offer(points(25))
        try await Task.sleep(for: .milliseconds(100))
        #expect(sink.batches.withLock { $0.map(\.count) } == [10, 10])
        try await Task.sleep(for: .milliseconds(300))
        #expect(sink.batches.withLock { $0.map(\.count) } == [10, 10, 5])
        queue.close()
        await running.value
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
