import CoreMetrics
import Metrics

/// The counters every sink reports (Vector's component spec: received, sent, dropped, errors),
/// under the gateway's metric names.
public struct SinkMetrics: Sendable {
    public let written: CoreMetrics.Counter
    public let droppedQueueFull: CoreMetrics.Counter
    public let droppedWriteError: CoreMetrics.Counter
    public let queuePoints: CoreMetrics.Gauge
    /// The memory the queued points take (counted as the queue bounds it by `queue_max_bytes`).
    public let queueBytes: CoreMetrics.Gauge
    public let batches: CoreMetrics.Counter
    public let writeErrors: CoreMetrics.Counter

    public init(sink: String, factory: any MetricsFactory) {
        let dimensions = [("sink", sink)]
        written = Counter(label: "gateway_points_written_total", dimensions: dimensions, factory: factory)
        droppedQueueFull = Counter(
            label: "gateway_points_dropped_total", dimensions: dimensions + [("reason", "queue_full")], factory: factory
        )
        droppedWriteError = Counter(
            label: "gateway_points_dropped_total", dimensions: dimensions + [("reason", "write_error")],
            factory: factory)
        queuePoints = Gauge(label: "gateway_sink_queue_points", dimensions: dimensions, factory: factory)
        queueBytes = Gauge(label: "gateway_sink_queue_bytes", dimensions: dimensions, factory: factory)
        batches = Counter(label: "gateway_sink_batches_total", dimensions: dimensions, factory: factory)
        writeErrors = Counter(label: "gateway_sink_write_errors_total", dimensions: dimensions, factory: factory)
    }
}
