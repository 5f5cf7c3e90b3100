import CoreMetrics
import Synchronization

/// Readable copies of the counters and gauges `/api/v1/status` reports. Prometheus keeps its
/// values private, so the gateway's metrics factory (``TallyMetricsFactory``) hands out handles
/// that add to a cell here as well as to Prometheus: the status reads these cells instead of
/// parsing the exposition text back. One relaxed atomic add per increment, only for the
/// families in ``watched``.
final class MetricsTally: Sendable {
    /// The families the status reads.
    static let watched: Set<String> = [
        "gateway_points_received_total", "gateway_points_accepted_total", "gateway_points_rejected_total",
        "gateway_udp_kernel_drops_total", "gateway_udp_truncated_datagrams_total", "gateway_http_unauthorized_total",
        "gateway_points_written_total", "gateway_sink_queue_points", "gateway_sink_queue_capacity",
        "gateway_sink_batches_total", "gateway_sink_queue_bytes", "gateway_sink_queue_max_bytes",
        "gateway_sink_write_errors_total", "gateway_points_spooled_total", "gateway_points_replayed_total",
        "gateway_points_dead_lettered_total", "gateway_sink_retries_total", "gateway_points_dropped_total",
        "gateway_points_routed_total", "gateway_points_unrouted_total", "gateway_group_points_total",
        "gateway_group_rerouted_points_total", "gateway_group_member_healthy", "gateway_group_members",
        "gateway_statsd_lines_total", "gateway_statsd_series", "gateway_statsd_flushes_total",
        "gateway_statsd_dropped_series_total",
    ]

    struct Key: Hashable, Sendable {
        var label: String
        var dimensions: [String: String]
    }

    /// One series: a counter (integer sum) or a gauge (last value set).
    final class Cell: Sendable {
        let isGauge: Bool
        let count = Atomic<Int64>(0)
        let gaugeBits = Atomic<UInt64>(0)

        init(isGauge: Bool) { self.isGauge = isGauge }

        var value: Double {
            isGauge ? Double(bitPattern: gaugeBits.load(ordering: .relaxed)) : Double(count.load(ordering: .relaxed))
        }
    }

    struct Reading: Sendable {
        var label: String
        var dimensions: [String: String]
        var value: Double
    }

    private let cells = Mutex<[Key: Cell]>([:])

    /// The cell of a series; the same one for every handle made for it (as Prometheus shares its counter).
    func cell(_ label: String, _ dimensions: [(String, String)], isGauge: Bool) -> Cell {
        let key = Key(label: label, dimensions: Dictionary(dimensions, uniquingKeysWith: { _, last in last }))
        return cells.withLock { cells in
            if let cell = cells[key] { return cell }
            let cell = Cell(isGauge: isGauge)
            cells[key] = cell
            return cell
        }
    }

    /// Every series made so far, with its current value.
    func readings() -> [Reading] {
        cells.withLock { cells in
            cells.map { key, cell in Reading(label: key.label, dimensions: key.dimensions, value: cell.value) }
        }
    }
}

/// The gateway's metrics factory: Prometheus's, with the families the status reads also counted
/// in a ``MetricsTally``.
struct TallyMetricsFactory: MetricsFactory {
    let inner: any MetricsFactory
    let tally: MetricsTally

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        let handler = inner.makeCounter(label: label, dimensions: dimensions)
        guard MetricsTally.watched.contains(label) else { return handler }
        return TallyCounter(inner: handler, cell: tally.cell(label, dimensions, isGauge: false))
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        inner.makeFloatingPointCounter(label: label, dimensions: dimensions)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        let handler = inner.makeMeter(label: label, dimensions: dimensions)
        guard MetricsTally.watched.contains(label) else { return handler }
        return TallyMeter(inner: handler, cell: tally.cell(label, dimensions, isGauge: true))
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let handler = inner.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
        guard !aggregate, MetricsTally.watched.contains(label) else { return handler }
        return TallyGauge(inner: handler, cell: tally.cell(label, dimensions, isGauge: true))
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        inner.makeTimer(label: label, dimensions: dimensions)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        inner.destroyCounter((handler as? TallyCounter)?.inner ?? handler)
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        inner.destroyFloatingPointCounter(handler)
    }

    func destroyMeter(_ handler: any MeterHandler) {
        inner.destroyMeter((handler as? TallyMeter)?.inner ?? handler)
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        inner.destroyRecorder((handler as? TallyGauge)?.inner ?? handler)
    }

    func destroyTimer(_ handler: any TimerHandler) {
        inner.destroyTimer(handler)
    }
}

final class TallyCounter: CounterHandler, Sendable {
    let inner: any CounterHandler
    let cell: MetricsTally.Cell

    init(inner: any CounterHandler, cell: MetricsTally.Cell) {
        self.inner = inner
        self.cell = cell
    }

    func increment(by amount: Int64) {
        inner.increment(by: amount)
        cell.count.wrappingAdd(amount, ordering: .relaxed)
    }

    func reset() {
        inner.reset()
        cell.count.store(0, ordering: .relaxed)
    }
}

final class TallyGauge: RecorderHandler, Sendable {
    let inner: any RecorderHandler
    let cell: MetricsTally.Cell

    init(inner: any RecorderHandler, cell: MetricsTally.Cell) {
        self.inner = inner
        self.cell = cell
    }

    func record(_ value: Int64) {
        inner.record(value)
        cell.gaugeBits.store(Double(value).bitPattern, ordering: .relaxed)
    }

    func record(_ value: Double) {
        inner.record(value)
        cell.gaugeBits.store(value.bitPattern, ordering: .relaxed)
    }
}

final class TallyMeter: MeterHandler, Sendable {
    let inner: any MeterHandler
    let cell: MetricsTally.Cell

    init(inner: any MeterHandler, cell: MetricsTally.Cell) {
        self.inner = inner
        self.cell = cell
    }

    func set(_ value: Int64) {
        inner.set(value)
        cell.gaugeBits.store(Double(value).bitPattern, ordering: .relaxed)
    }

    func set(_ value: Double) {
        inner.set(value)
        cell.gaugeBits.store(value.bitPattern, ordering: .relaxed)
    }

    func increment(by amount: Double) {
        inner.increment(by: amount)
        add(amount)
    }

    func decrement(by amount: Double) {
        inner.decrement(by: amount)
        add(-amount)
    }

    private func add(_ amount: Double) {
        var old = cell.gaugeBits.load(ordering: .relaxed)
        while true {
            let new = (Double(bitPattern: old) + amount).bitPattern
            let (exchanged, original) = cell.gaugeBits.compareExchange(
                expected: old, desired: new, ordering: .relaxed)
            if exchanged { return }
            old = original
        }
    }
}
