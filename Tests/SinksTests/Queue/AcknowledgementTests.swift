import GatewayCore
import Logging
import Metrics
import Synchronization
import Testing

@testable import Sinks

/// A source (the ingest journal) hears that its points are settled only after every queued piece of
/// them was settled by its sink; points a policy drops settle at once; points a closed queue refuses
/// never settle (the source keeps them).
@Suite struct AcknowledgementTests {
    final class Settled: Sendable {
        let count = Atomic(0)
        func make() -> Acknowledgement { Acknowledgement { self.count.add(1, ordering: .relaxed) } }
        var value: Int { count.load(ordering: .relaxed) }
    }

    @Test func settlesOnlyWhenEveryBatchHoldingAPieceIsSettled_chunkCutByTheBatchSize() {
        let settled = Settled()
        let ack = settled.make()
        let queue = SinkQueue(capacity: 100, policy: .block)
        queue.offer(points(10), acknowledgement: ack)
        ack.release()  // the source's own hold: routed
        #expect(settled.value == 0)
        let first = queue.takeBatch(max: 4)
        let second = queue.takeBatch(max: 4)
        let third = queue.takeBatch(max: 4)
        #expect(
            first.acknowledgements.count == 1 && second.acknowledgements.count == 1 && third.acknowledgements.count == 1
        )
        second.settle()
        first.settle()
        #expect(settled.value == 0, "a piece is still unsettled")
        third.settle()
        #expect(settled.value == 1)
    }

    @Test func twoSinks_settledWhenBothSettled() {
        let settled = Settled()
        let ack = settled.make()
        let a = SinkQueue(capacity: 100, policy: .block)
        let b = SinkQueue(capacity: 100, policy: .block)
        a.offer(points(3), acknowledgement: ack)
        b.offer(points(3), acknowledgement: ack)
        ack.release()
        a.takeBatch(max: 10).settle()
        #expect(settled.value == 0)
        b.takeBatch(max: 10).settle()
        #expect(settled.value == 1)
    }

    @Test func dropOldest_dropsWholeChunks_theirSourcesSettleAtOnce() {
        let settled = Settled()
        let old = settled.make()
        let queue = SinkQueue(capacity: 5, policy: .dropOldest)
        queue.offer(points(5), acknowledgement: old)
        old.release()
        let newer = Settled()
        let ack = newer.make()
        queue.offer(points(5, from: 5), acknowledgement: ack)
        ack.release()
        #expect(settled.value == 1, "dropped by the configured policy: nothing left to wait for")
        #expect(newer.value == 0)
        queue.takeBatch(max: 10).settle()
        #expect(newer.value == 1)
    }

    @Test func dropNewest_partlyKept_settlesWhenTheKeptPartIs() {
        let settled = Settled()
        let ack = settled.make()
        let queue = SinkQueue(capacity: 3, policy: .dropNewest)
        #expect(queue.offer(points(5), acknowledgement: ack).dropped == 2)
        ack.release()
        #expect(settled.value == 0)
        queue.takeBatch(max: 10).settle()
        #expect(settled.value == 1)
    }

    @Test func closedQueue_refusesPoints_theSourceIsNeverToldTheyAreSettled() {
        let settled = Settled()
        let ack = settled.make()
        let queue = SinkQueue(capacity: 10, policy: .block)
        queue.close()
        #expect(queue.offer(points(3), acknowledgement: ack).dropped == 3)
        ack.release()
        #expect(settled.value == 0)
        #expect(ack.pending == 0)
    }

    /// Closes the queue and lets a worker write everything in it to `sink`.
    func drain(_ queue: SinkQueue, into sink: any Sink, batchSize: Int) async {
        queue.close()
        let worker = SinkWorker(
            name: "t", sink: sink, queue: queue,
            configuration: .init(batchSize: batchSize, flushInterval: .milliseconds(10)),
            metrics: SinkMetrics(sink: "t", factory: NOOPMetricsHandler.instance), logger: .init(label: "t"))
        await worker.drainLoop()
    }

    /// Stands in for a sink whose writes fail (a disk error): it throws.
    struct FailingSink: Sink {
        struct Failure: Error {}
        func write(_ batch: PointBatch) async throws { throw Failure() }
    }

    @Test func aFailedWrite_isNotSettled_theSourceKeepsThePoints() async throws {
        let settled = Settled()
        let ack = settled.make()
        let queue = SinkQueue(capacity: 100, policy: .block)
        queue.offer(points(3), acknowledgement: ack)
        ack.release()
        await drain(queue, into: FailingSink(), batchSize: 10)
        #expect(settled.value == 0)
        #expect(ack.pending == 0)
    }

    @Test func workerSettlesAfterTheSinkWrote() async throws {
        let settled = Settled()
        let ack = settled.make()
        let queue = SinkQueue(capacity: 100, policy: .block)
        queue.offer(points(7), acknowledgement: ack)
        ack.release()
        await drain(queue, into: BlackholeSink(), batchSize: 3)
        #expect(settled.value == 1)
    }
}
