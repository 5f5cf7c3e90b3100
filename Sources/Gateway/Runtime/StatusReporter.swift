import Foundation
import GatewayCore
import Plugins
import Synchronization

/// What `/api/v1/status` and `/health` report. The numbers come from the same counters `/metrics`
/// exports (their readable copies in ``MetricsTally``), so the two always agree.
final class StatusReporter: Sendable {
    let metrics: GatewayMetrics
    let name: String
    let spools: SpoolAdmin
    private let pluginSet: Mutex<(running: [any GatewayPlugin], disabled: [(name: String, type: String)])>
    /// The live tap's clients (`GET /api/v1/tap`), fed by the router.
    let liveTap: LiveTap
    private let draining = Atomic<Bool>(false)
    private let lastReload = Mutex<ReloadOutcome?>(nil)

    init(
        metrics: GatewayMetrics, name: String, spools: SpoolAdmin = SpoolAdmin(entries: []),
        plugins: [any GatewayPlugin] = [], liveTap: LiveTap? = nil,
        disabledPlugins: [(name: String, type: String)] = []
    ) {
        self.liveTap = liveTap ?? LiveTap(factory: metrics.factory)
        self.metrics = metrics
        self.name = name
        self.spools = spools
        self.pluginSet = Mutex((plugins, disabledPlugins))
    }

    var plugins: [any GatewayPlugin] { pluginSet.withLock { $0.running } }

    /// A reload's plugins.
    func setPlugins(_ running: [any GatewayPlugin], disabled: [(name: String, type: String)]) {
        pluginSet.withLock { $0 = (running, disabled) }
    }

    /// The outcome of the last reload, applied or refused (`/api/v1/status` `reload`).
    func recordReload(_ outcome: ReloadOutcome) { lastReload.withLock { $0 = outcome } }

    var isDraining: Bool { draining.load(ordering: .relaxed) }
    func startDraining() { draining.store(true, ordering: .relaxed) }

    /// The status, read from the counters themselves (``MetricsTally``), the spools and the plugins.
    func status() -> GatewayStatus {
        metrics.refresh()
        var listeners: [String: ListenerStatus] = [:]
        var sinks: [String: SinkStatus] = [:]
        var routes: [String: Int] = [:]
        var unrouted = 0
        var groups: [String: GroupStatus] = [:]
        for reading in metrics.tally.readings() {
            let value = Int(reading.value)
            let listener = reading.dimensions["listener"]
            let sink = reading.dimensions["sink"]
            let reason = reading.dimensions["reason"]
            if let listener, let field = Self.listenerField(reading.label) {
                listeners[listener, default: .init()][keyPath: field] = value
            } else if let listener, let field = Self.statsdField(reading.label) {
                listeners[listener, default: .init()].statsd = {
                    var part = $0 ?? StatsDStatus()
                    part[keyPath: field] = value
                    return part
                }(listeners[listener]?.statsd)
            } else if let sink, let field = Self.sinkField(reading.label) {
                sinks[sink, default: .init()][keyPath: field] = value
            } else if reading.label == "gateway_points_rejected_total", let listener, let reason {
                var entry = listeners[listener] ?? .init()
                entry.pointsRejected = (entry.pointsRejected ?? [:]).merging([reason: value]) { $1 }
                listeners[listener] = entry
            } else if reading.label == "gateway_points_dropped_total", let sink, let reason {
                var entry = sinks[sink] ?? .init()
                entry.pointsDropped = (entry.pointsDropped ?? [:]).merging([reason: value]) { $1 }
                sinks[sink] = entry
            } else if reading.label == "gateway_points_routed_total", let route = reading.dimensions["route"] {
                routes[route, default: 0] += value
            } else if reading.label == "gateway_points_unrouted_total" {
                unrouted += value
            } else if let group = reading.dimensions["group"] {
                Self.addGroupReading(reading.label, value, group, reading.dimensions, to: &groups)
            }
        }
        for (sink, var spool) in spools.describe() {
            if let health = spool.health { sinks[sink, default: .init()].health = health }
            spool.health = nil
            sinks[sink, default: .init()].spool = spool
        }
        for (group, entry) in groups {
            for member in entry.members.keys { groups[group]?.members[member]?.health = sinks[member]?.health }
        }
        var pluginStates: [String: PluginEntry] = [:]
        let (plugins, disabledPlugins) = pluginSet.withLock { $0 }
        for plugin in plugins {
            pluginStates[plugin.name] = PluginEntry(type: plugin.type, enabled: true, state: plugin.status())
        }
        for plugin in disabledPlugins {
            pluginStates[plugin.name] = PluginEntry(type: plugin.type, enabled: false, state: nil)
        }
        return GatewayStatus(
            name: name, status: isDraining ? "draining" : "pass",
            uptimeSeconds: Int(Date().timeIntervalSince(metrics.startTime)), listeners: listeners, sinks: sinks,
            routes: routes, pointsUnrouted: unrouted, plugins: pluginStates, reload: lastReload.withLock { $0 },
            groups: groups.isEmpty ? nil : groups, recentLog: RecentLog.shared.recent, tapClients: liveTap.clientCount)
    }

    static func addGroupReading(
        _ label: String, _ value: Int, _ group: String, _ dimensions: [String: String],
        to groups: inout [String: GroupStatus]
    ) {
        if label == "gateway_group_members" {
            groups[group, default: .init()].mode = dimensions["mode"]
            return
        }
        guard let member = dimensions["member"] else { return }
        switch label {
        case "gateway_group_points_total":
            groups[group, default: .init()].members[member, default: .init()].points = value
        case "gateway_group_rerouted_points_total":
            groups[group, default: .init()].members[member, default: .init()].reroutedPoints = value
        case "gateway_group_member_healthy":
            groups[group, default: .init()].members[member, default: .init()].healthy = value == 1
        default: break
        }
    }

    static func listenerField(_ label: String) -> WritableKeyPath<ListenerStatus, Int?>? {
        switch label {
        case "gateway_points_received_total": \.pointsReceived
        case "gateway_points_accepted_total": \.pointsAccepted
        case "gateway_udp_kernel_drops_total": \.udpKernelDrops
        case "gateway_udp_truncated_datagrams_total": \.udpTruncatedDatagrams
        case "gateway_http_unauthorized_total": \.httpUnauthorized
        default: nil
        }
    }

    static func statsdField(_ label: String) -> WritableKeyPath<StatsDStatus, Int?>? {
        switch label {
        case "gateway_statsd_lines_total": \.lines
        case "gateway_statsd_series": \.series
        case "gateway_statsd_flushes_total": \.flushes
        case "gateway_statsd_dropped_series_total": \.droppedSeries
        default: nil
        }
    }

    static func sinkField(_ label: String) -> WritableKeyPath<SinkStatus, Int?>? {
        switch label {
        case "gateway_points_written_total": \.pointsWritten
        case "gateway_sink_queue_points": \.sinkQueuePoints
        case "gateway_sink_queue_capacity": \.sinkQueueCapacity
        case "gateway_sink_queue_bytes": \.sinkQueueBytes
        case "gateway_sink_queue_max_bytes": \.sinkQueueMaxBytes
        case "gateway_sink_batches_total": \.sinkBatches
        case "gateway_sink_write_errors_total": \.sinkWriteErrors
        case "gateway_points_spooled_total": \.pointsSpooled
        case "gateway_points_replayed_total": \.pointsReplayed
        case "gateway_points_dead_lettered_total": \.pointsDeadLettered
        case "gateway_sink_retries_total": \.sinkRetries
        default: nil
        }
    }
}
