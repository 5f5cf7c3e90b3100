import ConfigReading
import GatewayCore
import ServiceLifecycle

/// `type: http`: Influx write API, JSON points, status, spool admin and plugin routes (see the
/// README's HTTP section).
struct HTTPListenerConfig: Sendable {
    var listen = HostPort(host: "127.0.0.1", port: 8087)
    /// When set, writes and the admin endpoints need `Authorization: Token <token>` (or Bearer,
    /// Basic password, `p=`).
    var token = Secret("")
    /// When set, the read endpoints (`/metrics`, `/api/v1/status`, spool stats, plugin GET routes)
    /// need it or `token`; `/health` and `/ping` stay open.
    var readToken = Secret("")
    /// Allows a non-loopback address without a token (anyone who reaches it may write and purge).
    var insecure = false
    /// Largest request body, compressed and decompressed.
    var maxBody = 32 * 1024 * 1024
    /// A new connection must send a complete request head within this.
    var readHeaderTimeout = Duration.seconds(10)
    /// A request body must arrive whole within this of its head.
    var bodyTimeout = Duration.seconds(60)
    /// A kept-alive connection must complete its next request head within this of the last response.
    var idleTimeout = Duration.seconds(60)
    /// Open connections at most; at the limit the longest-waiting idle one is closed for a new one.
    var maxConnections = 512

    var timeouts: HTTPTimeouts { HTTPTimeouts(readHeader: readHeaderTimeout, body: bodyTimeout, idle: idleTimeout) }
    /// When a write is answered 2xx: `durable`, once the request is in the ingest journal;
    /// `memory`, once its points are queued in memory.
    var ack = AckMode.durable
    /// How long a write may wait for room in full `block` sink queues before it is answered 503.
    var queueWait = Duration.seconds(10)
    /// The ingest journal (`ack: durable`); its path defaults to `<data_dir>/journal/<listener>`.
    var journal = IngestJournal.Configuration(path: "")

    enum AckMode: String, Sendable, CaseIterable {
        case durable, memory
    }
}

extension HTTPListenerConfig: ListenerSettings {
    static let factory = ListenerFactory(type: "http") { map, context in read(map, context) }

    var socket: (proto: String, address: HostPort) { ("tcp", listen) }

    var paths: [(key: String, path: String)] { ack == .durable ? [("journal", journal.path)] : [] }

    func make(_ context: ListenerContext) throws -> any Service {
        var journal: IngestJournal?
        if ack == .durable {
            let journalMetrics = JournalMetrics(listener: context.name, factory: context.metrics.factory)
            let opened = try IngestJournal(configuration: self.journal, metrics: journalMetrics, logger: context.logger)
            context.metrics.addRefresher {
                journalMetrics.heldBytes.record(opened.heldBytes)
                journalMetrics.pendingRequests.record(opened.pendingRecords)
            }
            journal = opened
        }
        return HTTPListener(
            name: context.name, config: self, ingest: context.ingest, journal: journal, status: context.status,
            spools: context.spools, pluginRoutes: context.pluginRoutes, reload: context.reload, logger: context.logger)
    }

    static func read(_ map: ConfigMap, _ context: ConfigContext) -> HTTPListenerConfig {
        var http = HTTPListenerConfig()
        if let v = map["listen"]?.hostPort() { http.listen = v }
        if let v = map["token"]?.string() { http.token = Secret(v) }
        if let v = map["read_token"]?.string() { http.readToken = Secret(v) }
        if let v = map["insecure"]?.bool() { http.insecure = v }
        if let v = map["max_body"]?.size() { http.maxBody = v }
        if let v = map["read_header_timeout"]?.positiveDuration() { http.readHeaderTimeout = v }
        if let v = map["body_timeout"]?.positiveDuration() { http.bodyTimeout = v }
        if let v = map["idle_timeout"]?.positiveDuration() { http.idleTimeout = v }
        if let v = map["max_connections"]?.positiveInt() { http.maxConnections = v }
        if let v = map["queue_wait"]?.positiveDuration() { http.queueWait = v }
        if let v = map["ack"]?.oneOf(AckMode.allCases.map { ($0.rawValue, $0) }) { http.ack = v }
        http.journal.path = context.dataPath("journal/\(context.name)")
        if let journal = map["journal"]?.map() {
            if let v = journal["path"]?.string() { http.journal.path = context.path(v) }
            if let v = journal["sync"]?.oneOf(IngestJournal.Configuration.Sync.allCases.map { ($0.rawValue, $0) }) {
                http.journal.sync = v
            }
            if let node = journal["max_size"], let v = node.size() {
                if v >= 1 << 20 {
                    http.journal.maxSize = v
                } else {
                    node.problem("expected at least 1MiB, got \(v) bytes")
                }
            }
            journal.finish()
        }
        // Segments small enough that settled ones are deleted well before max_size.
        http.journal.segmentSize = min(64 << 20, max(256 << 10, http.journal.maxSize / 8))
        if !http.readToken.isEmpty, http.token.isEmpty {
            (map["read_token"] ?? map.node).problem(
                "read_token is set but token is not: writes and spool purges would be open while reads are not; set token too"
            )
        }
        if http.token.isEmpty, !http.insecure, !http.listen.isLoopback {
            (map["listen"] ?? map.node).problem(
                "listens on \(http.listen) (not loopback) without a token: anyone who reaches it could write points and purge spools; set token (e.g. token: ${GATEWAY_TOKEN}), listen on 127.0.0.1, or set insecure: true to accept that"
            )
        }
        return http
    }
}
