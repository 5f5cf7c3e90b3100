import Foundation
import GatewayCore
import Plugins
import Synchronization

/// What `/api/v1/status` and `/health` report: built from the metrics registry, so the numbers
/// are the same ones `/metrics` shows.
final class StatusReporter: Sendable {
    let metrics: GatewayMetrics
    let name: String
    let spools: SpoolAdmin
    let plugins: [any GatewayPlugin]
    let disabledPlugins: [(name: String, type: String)]
    private let draining = Atomic<Bool>(false)

    init(
        metrics: GatewayMetrics, name: String, spools: SpoolAdmin = SpoolAdmin(entries: []), plugins: [any GatewayPlugin] = [],
        disabledPlugins: [(name: String, type: String)] = []
    ) {
        self.metrics = metrics
        self.name = name
        self.spools = spools
        self.plugins = plugins
        self.disabledPlugins = disabledPlugins
    }

    var isDraining: Bool { draining.load(ordering: .relaxed) }
    func startDraining() { draining.store(true, ordering: .relaxed) }

    func json() -> String {
        let snapshot = metrics.snapshot()
        var listeners: [String: [String: Any]] = [:]
        var sinks: [String: [String: Any]] = [:]
        var routes: [String: Any] = [:]
        for sample in snapshot.samples {
            let value = Int(sample.value)
            switch sample.name {
            case "gateway_points_received_total", "gateway_points_accepted_total", "gateway_udp_kernel_drops_total",
                "gateway_udp_truncated_datagrams_total", "gateway_http_unauthorized_total":
                guard let l = sample.labels["listener"] else { continue }
                let key = sample.name.replacingOccurrences(of: "gateway_", with: "").replacingOccurrences(of: "_total", with: "")
                listeners[l, default: [:]][key] = value
            case "gateway_points_rejected_total":
                guard let l = sample.labels["listener"], let reason = sample.labels["reason"] else { continue }
                var rejected = listeners[l, default: [:]]["points_rejected"] as? [String: Int] ?? [:]
                rejected[reason] = value
                listeners[l, default: [:]]["points_rejected"] = rejected
            case "gateway_points_written_total", "gateway_sink_queue_points", "gateway_sink_batches_total",
                "gateway_sink_write_errors_total", "gateway_points_spooled_total", "gateway_points_replayed_total",
                "gateway_points_dead_lettered_total", "gateway_sink_retries_total":
                guard let s = sample.labels["sink"] else { continue }
                let key = sample.name.replacingOccurrences(of: "gateway_", with: "").replacingOccurrences(of: "_total", with: "")
                sinks[s, default: [:]][key] = value
            case "gateway_points_dropped_total":
                guard let s = sample.labels["sink"], let reason = sample.labels["reason"] else { continue }
                var dropped = sinks[s, default: [:]]["points_dropped"] as? [String: Int] ?? [:]
                dropped[reason] = value
                sinks[s, default: [:]]["points_dropped"] = dropped
            case "gateway_points_routed_total":
                if let r = sample.labels["route"] { routes[r] = value }
            default:
                continue
            }
        }
        for (sink, spool) in spools.describe() {
            if let health = spool["health"] { sinks[sink, default: [:]]["health"] = health }
            sinks[sink, default: [:]]["spool"] = spool.filter { $0.key != "health" }
        }
        var pluginStates: [String: Any] = [:]
        for plugin in plugins {
            var state: [String: Any] = plugin.status()
            state["enabled"] = true
            pluginStates[plugin.name] = state
        }
        for plugin in disabledPlugins { pluginStates[plugin.name] = ["type": plugin.type, "enabled": false] }
        let object: [String: Any] = [
            "plugins": pluginStates,
            "name": name,
            "status": isDraining ? "draining" : "pass",
            "uptime_seconds": Int(Date().timeIntervalSince(metrics.startTime)),
            "listeners": listeners,
            "sinks": sinks,
            "routes": routes,
            "points_unrouted": Int(snapshot.value("gateway_points_unrouted_total")),
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
