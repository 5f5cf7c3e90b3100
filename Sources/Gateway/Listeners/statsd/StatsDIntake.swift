import CoreMetrics
import GatewayCore
import Metrics
import Synchronization

/// What every transport of one statsd listener feeds: parses lines, counts and rejects the
/// malformed ones through ``Ingest``, aggregates the rest, and at each flush hands the points to
/// ``Ingest`` (default tags, schemas, routes). Thread-safe: UDP and TCP event loops share it.
final class StatsDIntake: Sendable {
    let ingest: Ingest
    private let aggregator: Mutex<StatsDAggregator>
    private let lines: CoreMetrics.Counter
    private let flushes: CoreMetrics.Counter
    private let droppedSeries: CoreMetrics.Counter
    private let series: CoreMetrics.Gauge

    init(name: String, aggregation: StatsDAggregation, ingest: Ingest, metrics: GatewayMetrics) {
        self.ingest = ingest
        aggregator = Mutex(StatsDAggregator(settings: aggregation))
        let dimensions = [("listener", name)]
        lines = Counter(label: "gateway_statsd_lines_total", dimensions: dimensions, factory: metrics.factory)
        flushes = Counter(label: "gateway_statsd_flushes_total", dimensions: dimensions, factory: metrics.factory)
        droppedSeries = Counter(
            label: "gateway_statsd_dropped_series_total", dimensions: dimensions, factory: metrics.factory)
        series = Gauge(label: "gateway_statsd_series", dimensions: dimensions, factory: metrics.factory)
    }

    /// Takes one datagram (or a run of whole TCP lines).
    func take(_ bytes: UnsafeRawBufferPointer) {
        let output = StatsDParser().parse(bytes)
        lines.increment(by: Int64(output.lines))
        let (count, dropped) = aggregator.withLock { aggregator -> (Int, Int) in
            var dropped = 0
            for sample in output.samples where !aggregator.add(sample) { dropped += 1 }
            for event in output.events where !aggregator.add(event: event) { dropped += 1 }
            return (aggregator.seriesCount, dropped)
        }
        series.record(count)
        if dropped > 0 {
            droppedSeries.increment(by: Int64(dropped))
            ingest.metrics.rejected(.maxSeries, count: dropped)
            ingest.metrics.received.increment(by: Int64(dropped))
            ingest.log.warning(
                "statsd series dropped at max_series",
                metadata: ["source": "\(ingest.source)", "dropped": "\(dropped)"])
        }
        guard !output.errors.isEmpty else { return }
        ingest.metrics.received.increment(by: Int64(output.errors.count))
        let now = Ingest.now()
        for error in output.errors { ingest.reject(error, input: error.text, receiveTime: now) }
    }

    /// Rejects input that is not lines at all (an over-long TCP line, a truncated datagram).
    func refuse(_ reason: RejectReason, _ message: String) {
        ingest.metrics.received.increment()
        ingest.reject(
            PointError(line: 0, column: 0, reason: reason, message: message), input: "", receiveTime: Ingest.now())
    }

    /// Emits the interval ending at `time` (nanoseconds since the epoch) into the pipeline; true
    /// when a `block` queue is full (the caller waits for room before the next flush).
    @discardableResult
    func flush(at time: Int64) -> Bool {
        var points = aggregator.withLock { $0.flush(at: time) }
        series.record(aggregator.withLock { $0.seriesCount })
        flushes.increment()
        guard !points.isEmpty else { return false }
        ingest.metrics.received.increment(by: Int64(points.count))
        ingest.addDefaultTags(&points)
        ingest.normalise(&points, receiveTime: time)
        guard !points.isEmpty else { return false }
        return ingest.offer(points)
    }
}
