import GatewayCore
import Logging
import ServiceLifecycle

/// Drains one sink's queue into the sink in batches of `batchSize` points, or whatever is queued
/// when `flushInterval` has passed since the batch began. One worker per sink, so a slow sink
/// never holds up another.
///
/// On graceful shutdown the queue is closed and everything still in it is written before `run`
/// returns; the ServiceGroup stops listeners before workers, so nothing arrives after that.
public struct SinkWorker: Service {
    public struct Configuration: Sendable {
        public var batchSize: Int
        public var flushInterval: Duration

        public init(batchSize: Int, flushInterval: Duration) {
            self.batchSize = batchSize
            self.flushInterval = flushInterval
        }
    }

    public let name: String
    public let sink: any Sink
    public let queue: SinkQueue
    public let configuration: Configuration
    let metrics: SinkMetrics
    let logger: Logger
    let clock: any Clock<Duration>

    public init(
        name: String,
        sink: any Sink,
        queue: SinkQueue,
        configuration: Configuration,
        metrics: SinkMetrics,
        logger: Logger,
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.name = name
        self.sink = sink
        self.queue = queue
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
    }

    public func run() async {
        let queue = self.queue
        let sink = self.sink
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await drainLoop()
            } onGracefulShutdown: {
                sink.beginShutdown()
                queue.close()
            }
        } onCancel: {
            sink.beginShutdown()
            queue.close()
        }
        if let closable = sink as? any ClosableSink { await closable.close() }
        logger.debug("sink worker stopped", metadata: ["sink": "\(name)"])
    }

    func drainLoop() async {
        let batchSize = configuration.batchSize
        while true {
            if queue.count == 0 {
                if queue.isClosed { return }
                await queue.waitForPoints(threshold: 1)
                continue
            }
            if queue.count < batchSize, !queue.isClosed {
                await waitForBatch(batchSize)
            }
            let batch = queue.takeBatch(max: batchSize)
            metrics.queuePoints.record(queue.count)
            metrics.queueBytes.record(queue.bytes)
            if batch.isEmpty { continue }
            await deliver(batch)
        }
    }

    /// Waits until a full batch is queued or the flush interval has passed.
    func waitForBatch(_ batchSize: Int) async {
        let queue = self.queue
        let clock = self.clock
        let interval = configuration.flushInterval
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await clock.sleep(for: interval, tolerance: nil)
                queue.wakeConsumer()
            }
            await queue.waitForPoints(threshold: batchSize)
            group.cancelAll()
        }
    }

    func deliver(_ batch: PointBatch) async {
        let count = batch.count
        defer { if !sink.settlesBatches { batch.settle() } }
        do {
            try await sink.write(batch)
            if !sink.countsOwnWrites {
                metrics.written.increment(by: Int64(count))
                metrics.batches.increment()
            }
        } catch {
            // Not kept, and not by a policy: a source that journaled these points keeps them.
            if !sink.settlesBatches { batch.abandon() }
            metrics.writeErrors.increment()
            metrics.droppedWriteError.increment(by: Int64(count))
            logger.error(
                "sink write failed, batch dropped",
                metadata: ["sink": "\(name)", "points": "\(count)", "error": "\(error)"])
        }
    }
}
