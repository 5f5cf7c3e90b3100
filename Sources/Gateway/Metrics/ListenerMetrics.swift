import CoreMetrics
import GatewayCore
import Metrics
import Synchronization

/// Counters of one listener (or plugin source): received, accepted, rejected by reason.
final class ListenerMetrics: Sendable {
    let received: CoreMetrics.Counter
    let accepted: CoreMetrics.Counter
    private let rejected = Mutex<[String: CoreMetrics.Counter]>([:])
    private let listener: String
    private let factory: any MetricsFactory

    init(listener: String, factory: any MetricsFactory) {
        self.listener = listener
        self.factory = factory
        received = Counter(
            label: "gateway_points_received_total", dimensions: [("listener", listener)], factory: factory)
        accepted = Counter(
            label: "gateway_points_accepted_total", dimensions: [("listener", listener)], factory: factory)
    }

    func rejected(_ reason: RejectReason, count: Int = 1) {
        let counter = rejected.withLock { counters in
            if let existing = counters[reason.rawValue] { return existing }
            let made = Counter(
                label: "gateway_points_rejected_total",
                dimensions: [("listener", listener), ("reason", reason.rawValue)],
                factory: factory)
            counters[reason.rawValue] = made
            return made
        }
        counter.increment(by: Int64(count))
    }
}
