import CoreMetrics
import GatewayCore
import Metrics
import Synchronization

/// What every transport of one statsd listener feeds: parses lines, counts and rejects the
/// malformed ones through ``Ingest``, aggregates the rest, and at each flush hands the points to
/// ``Ingest`` (default tags, schemas, routes). Thread-safe: UDP and TCP event loops share it.
final class StatsDIntake: Sendable {
    let ingest: Ingest
    /// The aggregator, the line cache that belongs to it, and the series count last recorded.
    struct State {
        var aggregator: StatsDAggregator
        let cache: StatsDLineCache
        var recordedSeries = -1
    }

    private let state: Mutex<State>
    private let lines: CoreMetrics.Counter
    private let flushes: CoreMetrics.Counter
    private let droppedSeries: CoreMetrics.Counter
    private let series: CoreMetrics.Gauge

    init(name: String, aggregation: StatsDAggregation, ingest: Ingest, metrics: GatewayMetrics) {
        self.ingest = ingest
        state = Mutex(
            State(
                aggregator: StatsDAggregator(settings: aggregation),
                cache: StatsDLineCache(series: aggregation.maxSeries))
        )
        let dimensions = [("listener", name)]
        lines = Counter(label: "gateway_statsd_lines_total", dimensions: dimensions, factory: metrics.factory)
        flushes = Counter(label: "gateway_statsd_flushes_total", dimensions: dimensions, factory: metrics.factory)
        droppedSeries = Counter(
            label: "gateway_statsd_dropped_series_total", dimensions: dimensions, factory: metrics.factory)
        series = Gauge(label: "gateway_statsd_series", dimensions: dimensions, factory: metrics.factory)
    }

    /// Takes one datagram (or a run of whole TCP lines): parsed and aggregated under one lock (the
    /// lines of series already seen go to their slot without building strings; see
    /// ``StatsDLineCache``).
    func take(_ bytes: UnsafeRawBufferPointer) {
        let (take, count) = state.withLock { state -> (StatsDTake, Int?) in
            var take = StatsDTake()
            state.aggregator.take(bytes, cache: state.cache, into: &take)
            let count = state.aggregator.seriesCount
            guard count != state.recordedSeries else { return (take, nil) }
            state.recordedSeries = count
            return (take, count)
        }
        lines.increment(by: Int64(take.lines))
        if let count { series.record(count) }
        if take.dropped > 0 {
            droppedSeries.increment(by: Int64(take.dropped))
            ingest.metrics.rejected(.maxSeries, count: take.dropped)
            ingest.metrics.received.increment(by: Int64(take.dropped))
            ingest.log.warning(
                "statsd series dropped at max_series",
                metadata: ["source": "\(ingest.source)", "dropped": "\(take.dropped)"])
        }
        guard !take.errors.isEmpty else { return }
        ingest.metrics.received.increment(by: Int64(take.errors.count))
        let now = Ingest.now()
        for error in take.errors { ingest.reject(error, input: error.text, receiveTime: now) }
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
        // Only the taking is under the lock (the datagrams keep being read meanwhile); the points,
        // percentiles included, are made after.
        let (interval, count) = state.withLock { state in
            let interval = state.aggregator.takeInterval(at: time)
            state.recordedSeries = state.aggregator.seriesCount
            return (interval, state.recordedSeries)
        }
        var points = interval.points()
        series.record(count)
        flushes.increment()
        guard !points.isEmpty else { return false }
        ingest.metrics.received.increment(by: Int64(points.count))
        ingest.addDefaultTags(&points)
        ingest.normalise(&points, receiveTime: time)
        guard !points.isEmpty else { return false }
        return ingest.offer(points)
    }
}
