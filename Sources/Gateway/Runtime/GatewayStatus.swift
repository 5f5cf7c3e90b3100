import Plugins

/// What `/api/v1/status` answers. Counters appear once the component made them (a listener that
/// never saw a refused point has no `points_rejected`), as `/metrics` shows them.
struct GatewayStatus: Codable, Sendable {
    var name: String
    /// `pass`, or `draining` once shutdown began.
    var status: String
    var uptimeSeconds: Int
    var listeners: [String: ListenerStatus]
    var sinks: [String: SinkStatus]
    /// Points sent along each route.
    var routes: [String: Int]
    var pointsUnrouted: Int
    var plugins: [String: PluginEntry]
    /// The last reload (SIGHUP or `POST /api/v1/reload`) since start, applied or refused.
    var reload: ReloadOutcome? = nil
    /// `group` sinks and their members (absent without groups).
    var groups: [String: GroupStatus]? = nil
    /// The last warnings and errors logged, oldest first.
    var recentLog: [RecentLog.Entry]? = nil
    /// Live tap clients attached now.
    var tapClients: Int? = nil

    enum CodingKeys: String, CodingKey {
        case name, status, listeners, sinks, routes, plugins, reload, groups
        case uptimeSeconds = "uptime_seconds"
        case pointsUnrouted = "points_unrouted"
        case recentLog = "recent_log"
        case tapClients = "tap_clients"
    }
}

/// A listener's (or plugin source's, `plugin:<name>`) counters.
struct ListenerStatus: Codable, Sendable, Equatable {
    var pointsReceived: Int?
    var pointsAccepted: Int?
    /// By reason.
    var pointsRejected: [String: Int]?
    var udpKernelDrops: Int?
    var udpTruncatedDatagrams: Int?
    var httpUnauthorized: Int?
    /// A `statsd` listener's own figures.
    var statsd: StatsDStatus?

    enum CodingKeys: String, CodingKey {
        case statsd
        case pointsReceived = "points_received"
        case pointsAccepted = "points_accepted"
        case pointsRejected = "points_rejected"
        case udpKernelDrops = "udp_kernel_drops"
        case udpTruncatedDatagrams = "udp_truncated_datagrams"
        case httpUnauthorized = "http_unauthorized"
    }
}

/// A `statsd` listener: lines read, series held now, flushes, series refused at `max_series`.
struct StatsDStatus: Codable, Sendable, Equatable {
    var lines: Int?
    var series: Int?
    var flushes: Int?
    var droppedSeries: Int?

    enum CodingKeys: String, CodingKey {
        case lines, series, flushes
        case droppedSeries = "dropped_series"
    }
}

/// A sink's counters, and for a sink with a spool its health and spool.
struct SinkStatus: Codable, Sendable, Equatable {
    var pointsWritten: Int?
    var sinkQueuePoints: Int?
    var sinkQueueCapacity: Int?
    var sinkQueueBytes: Int?
    var sinkQueueMaxBytes: Int?
    var sinkBatches: Int?
    var sinkWriteErrors: Int?
    var pointsSpooled: Int?
    var pointsReplayed: Int?
    var pointsDeadLettered: Int?
    var sinkRetries: Int?
    /// By reason.
    var pointsDropped: [String: Int]?
    var health: String?
    /// The spool's figures (its health is the sink's, above).
    var spool: SpoolStatus?

    enum CodingKeys: String, CodingKey {
        case health, spool
        case pointsWritten = "points_written"
        case sinkQueuePoints = "sink_queue_points"
        case sinkQueueCapacity = "sink_queue_capacity"
        case sinkQueueBytes = "sink_queue_bytes"
        case sinkQueueMaxBytes = "sink_queue_max_bytes"
        case sinkBatches = "sink_batches"
        case sinkWriteErrors = "sink_write_errors"
        case pointsSpooled = "points_spooled"
        case pointsReplayed = "points_replayed"
        case pointsDeadLettered = "points_dead_lettered"
        case sinkRetries = "sink_retries"
        case pointsDropped = "points_dropped"
    }
}

/// A `group` sink: its mode and, per member, what it was handed and how it fares (the member's
/// own counters are under `sinks`).
struct GroupStatus: Codable, Sendable, Equatable {
    var mode: String?
    var members: [String: GroupMemberStatus] = [:]
}

struct GroupMemberStatus: Codable, Sendable, Equatable {
    /// Points the group handed to this member.
    var points: Int?
    /// Of those, points it took for a member that was down (`reroute_when_down`).
    var reroutedPoints: Int?
    var healthy: Bool?
    /// The member's health text, for a member with a spool (as under `sinks`).
    var health: String?

    enum CodingKeys: String, CodingKey {
        case points, healthy, health
        case reroutedPoints = "rerouted_points"
    }
}

/// A plugin in the status: its own state (``GatewayPlugin/status()``, whose keys include `type`)
/// with `enabled: true`, or `{"type", "enabled": false}` for a plugin switched off.
struct PluginEntry: Codable, Sendable {
    var type: String
    var enabled: Bool
    /// Encoded into the same object; not read back when decoding.
    var state: (any PluginStatus)?

    init(type: String, enabled: Bool, state: (any PluginStatus)?) {
        self.type = type
        self.enabled = enabled
        self.state = state
    }

    enum CodingKeys: String, CodingKey { case type, enabled }

    func encode(to encoder: any Encoder) throws {
        try state?.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        try container.encode(enabled, forKey: .enabled)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(String.self, forKey: .type)
        enabled = try container.decode(Bool.self, forKey: .enabled)
        state = nil
    }
}
