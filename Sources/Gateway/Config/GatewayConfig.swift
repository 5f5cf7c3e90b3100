import GatewayCore
import Plugins
import Logging
import Sinks

/// The whole configuration, validated: what `gateway run` builds the runtime from.
struct GatewayConfig: Sendable {
    var file: String
    var name: String
    var dataDir: String
    var defaultTags: [Tag]
    /// How long a graceful shutdown may take before requests on the wire are given up and
    /// everything left goes to the spools (then 5 s more before the process exits regardless).
    var shutdownTimeout = Duration.seconds(25)
    var logging = LoggingConfig()
    var listeners: [ListenerConfig]
    var sinks: [SinkConfig]
    var routes: [RouteConfig]
    var schemas: SchemaConfig
    var plugins: [PluginConfig]
}

struct ListenerConfig: Sendable {
    enum Kind: Sendable {
        case udp(UDPListenerConfig)
        case http(HTTPListenerConfig)
    }

    var name: String
    var kind: Kind
}

struct UDPListenerConfig: Sendable {
    var listen = HostPort(host: "127.0.0.1", port: 8089)
    /// SO_RCVBUF asked for (SO_RCVBUFFORCE where permitted).
    var receiveBuffer = 8 * 1024 * 1024
    /// Largest datagram accepted whole; larger ones are truncated by the kernel and counted.
    var maxDatagram = 65_536
    /// Datagrams read per system call (recvmmsg).
    var vectorReads = 64
    /// Timestamp unit of line protocol without an explicit one.
    var precision = Precision.nanoseconds
}

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

struct SinkConfig: Sendable {
    enum Kind: Sendable {
        case stdout(StdoutSink.Format)
        case blackhole
        case influx(InfluxSinkConfig)
        case spool(SpoolConfig)
    }

    var name: String
    var kind: Kind
    var batchSize = 1000
    var flushInterval = Duration.seconds(1)
    var queueSize = 100_000
    var whenFull = OverflowPolicy.block

    var typeName: String {
        switch kind {
        case .stdout: return "stdout"
        case .blackhole: return "blackhole"
        case .influx: return "influx2"
        case .spool: return "spool"
        }
    }

    /// The spool file this sink writes, if any.
    var spoolPath: String? {
        switch kind {
        case .influx(let c): return c.spool.enabled ? c.spool.path : nil
        case .spool(let c): return c.path
        default: return nil
        }
    }
}

struct SpoolConfig: Sendable {
    var enabled = true
    /// Defaults to `<data_dir>/spool/<sink>.db`.
    var path = ""
    var maxSize = 1 << 30
    var whenFull = SpoolStore.FullPolicy.dropOldest
    var sync = SpoolStore.SyncMode.normal

    var options: SpoolStore.Options { .init(maxBytes: maxSize, whenFull: whenFull, sync: sync) }
}

struct InfluxSinkConfig: Sendable {
    var target: InfluxTarget
    var precision = Precision.nanoseconds
    var retry = RetryPolicy()
    var maxInFlight = 2
    var spool = SpoolConfig()
}

struct RouteConfig: Sendable {
    var name: String
    var series: [String]
    var tags: [(key: String, pattern: String)]
    var sources: [String]
    var to: [String]
    var stop: Bool
    /// A default route takes only the points no other route sent anywhere.
    var isDefault: Bool
}

struct SchemaConfig: Sendable {
    var builtin: [String] = []
    var series: [Schema] = []
    /// File where rejected points are kept (JSON lines); empty means not kept.
    var deadLetter = ""

    var schemaSet: SchemaSet {
        var set = SchemaSet()
        for name in builtin { set.add(SchemaSet.builtin(name) ?? []) }
        set.add(series)
        return set
    }
}

struct PluginConfig: Sendable {
    var name: String
    var type: String
    var enabled: Bool
    var settings: PluginRegistry.Settings
    var file: String
    var line: Int
}
