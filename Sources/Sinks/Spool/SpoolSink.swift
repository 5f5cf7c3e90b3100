import GatewayCore
import Logging

/// The `spool` sink: archives every batch it receives into a spool file (gzip line protocol in
/// SQLite), bounded by the store's `max_size` and full policy. Nothing replays it; it is read
/// with `gateway spool export`.
public final class SpoolSink: Sink, Sendable {
    public let store: SpoolStore
    let precision: Precision
    let metrics: SinkMetrics
    let delivery: DeliveryMetrics
    let logger: Logger

    public init(store: SpoolStore, precision: Precision = .nanoseconds, metrics: SinkMetrics, delivery: DeliveryMetrics, logger: Logger) {
        self.store = store
        self.precision = precision
        self.metrics = metrics
        self.delivery = delivery
        self.logger = logger
    }

    public var countsOwnWrites: Bool { true }

    public func write(_ batch: PointBatch) async throws {
        if batch.isEmpty { return }
        let payload = try SpoolPayload(batch: batch, precision: precision)
        while true {
            switch try await store.append(payload) {
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
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}
