import GatewayCore
import Logging
import Synchronization

/// The `spool` sink: archives every batch it receives into a spool file (gzip line protocol in
/// SQLite), bounded by the store's `max_size` and full policy. Nothing replays it; it is read
/// with `gateway spool export`. While the file cannot be written (disk full, I/O error), the
/// batch is held and the append retried with backoff: the sink takes nothing more from its
/// queue, so the queue's `when_full` applies upstream.
public final class SpoolSink: Sink, Sendable {
    public let store: SpoolStore
    let precision: Precision
    let metrics: SinkMetrics
    let delivery: DeliveryMetrics
    let logger: Logger
    /// Times the retries of an append that failed and the waits while the archive is full.
    let clock: any Clock<Duration>
    private let shuttingDown = Atomic<Bool>(false)

    public init(
        store: SpoolStore, precision: Precision = .nanoseconds, metrics: SinkMetrics, delivery: DeliveryMetrics,
        logger: Logger, clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.store = store
        self.clock = clock
        self.precision = precision
        self.metrics = metrics
        self.delivery = delivery
        self.logger = logger
    }

    public var countsOwnWrites: Bool { true }

    public func beginShutdown() {
        shuttingDown.store(true, ordering: .relaxed)
    }

    public func write(_ batch: PointBatch) async throws {
        if batch.isEmpty { return }
        let payload = try SpoolPayload(batch: batch, precision: precision)
        var failures = 0
        while true {
            let result: SpoolStore.AppendResult
            do {
                result = try await store.append(payload)
            } catch {
                // The store logs the fault (rate-limited) and reports it (`gateway_spool_writable`).
                failures += 1
                if shuttingDown.load(ordering: .relaxed), failures >= SpoolRetry.attemptsAtShutdown {
                    throw error  // the worker counts the batch dropped (write_error) and logs it
                }
                try? await clock.sleep(for: SpoolRetry.delay(failures), tolerance: nil)
                continue
            }
            switch result {
            case .stored(let droppedBatches, let droppedPoints):
                metrics.written.increment(by: Int64(batch.count))
                metrics.batches.increment()
                if droppedBatches > 0 {
                    delivery.droppedSpoolFull.increment(by: Int64(droppedPoints))
                    logger.warning(
                        "spool full (max_size): dropped the oldest archived batches",
                        metadata: ["dropped_batches": "\(droppedBatches)", "dropped_points": "\(droppedPoints)"])
                }
                return
            case .refused:
                delivery.droppedSpoolFull.increment(by: Int64(batch.count))
                logger.error(
                    "spool full (max_size, when_full: drop_newest): batch dropped",
                    metadata: ["points": "\(batch.count)"])
                return
            case .full:
                // Nothing empties an archive but `gateway spool purge`: wait for it.
                try await clock.sleep(for: .milliseconds(200), tolerance: nil)
            }
        }
    }
}
