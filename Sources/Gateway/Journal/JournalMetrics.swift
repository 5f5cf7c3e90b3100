import CoreMetrics
import Metrics

/// What one listener's ingest journal reports.
struct JournalMetrics: Sendable {
    let appended: CoreMetrics.Counter
    let refusedFull: CoreMetrics.Counter
    let refusedIOError: CoreMetrics.Counter
    let recoveredRequests: CoreMetrics.Counter
    let heldBytes: CoreMetrics.Gauge
    let pendingRequests: CoreMetrics.Gauge

    init(listener: String, factory: any MetricsFactory) {
        let dimensions = [("listener", listener)]
        appended = Counter(label: "gateway_journal_requests_total", dimensions: dimensions, factory: factory)
        refusedFull = Counter(
            label: "gateway_journal_refused_total", dimensions: dimensions + [("reason", "full")], factory: factory)
        refusedIOError = Counter(
            label: "gateway_journal_refused_total", dimensions: dimensions + [("reason", "io_error")], factory: factory)
        recoveredRequests = Counter(
            label: "gateway_journal_recovered_requests_total", dimensions: dimensions, factory: factory)
        heldBytes = Gauge(label: "gateway_journal_bytes", dimensions: dimensions, factory: factory)
        pendingRequests = Gauge(label: "gateway_journal_pending_requests", dimensions: dimensions, factory: factory)
    }
}
