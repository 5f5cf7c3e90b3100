import CoreMetrics
import Metrics

/// The counters of a sink that retries, spools and replays (a ``NetworkSink``, the spool archive),
/// beyond the common ``SinkMetrics``.
public struct DeliveryMetrics: Sendable {
    public let retries: CoreMetrics.Counter
    public let spooled: CoreMetrics.Counter
    public let replayed: CoreMetrics.Counter
    public let deadLettered: CoreMetrics.Counter
    public let droppedSpoolFull: CoreMetrics.Counter
    public let droppedCorrupt: CoreMetrics.Counter
    public let spoolBatches: CoreMetrics.Gauge
    public let spoolPoints: CoreMetrics.Gauge
    public let spoolBytes: CoreMetrics.Gauge
    public let spoolOldestAge: CoreMetrics.Gauge
    public let healthy: CoreMetrics.Gauge

    public init(sink: String, factory: any MetricsFactory) {
        let d = [("sink", sink)]
        retries = Counter(label: "gateway_sink_retries_total", dimensions: d, factory: factory)
        spooled = Counter(label: "gateway_points_spooled_total", dimensions: d, factory: factory)
        replayed = Counter(label: "gateway_points_replayed_total", dimensions: d, factory: factory)
        deadLettered = Counter(label: "gateway_points_dead_lettered_total", dimensions: d, factory: factory)
        droppedSpoolFull = Counter(
            label: "gateway_points_dropped_total", dimensions: d + [("reason", "spool_full")], factory: factory)
        droppedCorrupt = Counter(
            label: "gateway_points_dropped_total", dimensions: d + [("reason", "spool_corrupt")], factory: factory)
        spoolBatches = Gauge(label: "gateway_spool_batches", dimensions: d, factory: factory)
        spoolPoints = Gauge(label: "gateway_spool_points", dimensions: d, factory: factory)
        spoolBytes = Gauge(label: "gateway_spool_bytes", dimensions: d, factory: factory)
        spoolOldestAge = Gauge(label: "gateway_spool_oldest_age_seconds", dimensions: d, factory: factory)
        healthy = Gauge(label: "gateway_sink_healthy", dimensions: d, factory: factory)
    }
}
