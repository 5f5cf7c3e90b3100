import Foundation
import Glibc

/// Where the gateway under test sends what it receives.
enum GatewaySink: Sendable {
    /// One `blackhole` sink: the gateway's ingest alone (the udp and http scenarios).
    case blackhole
    /// One `influx2` sink writing to `url` (VictoriaMetrics' HTTP port, or a port nothing listens on
    /// to play an outage), spool on, in a data directory of the run's own.
    case influx(url: String, gzip: Bool = true, maxInFlight: Int = 2)
    /// One `prometheus_remote_write` sink writing to `url` (VictoriaMetrics' `/api/v1/write`), spool on.
    case remoteWrite(url: String, maxInFlight: Int = 2)

    var name: String {
        switch self {
        case .blackhole: return "blackhole"
        case .influx, .remoteWrite: return "vm"
        }
    }
}

/// The gateway's own counters for its one sink, read from its `/metrics`.
struct GatewayCounters {
    /// `gateway_points_received_total`, all listeners.
    var received = 0
    /// `gateway_points_written_total{sink}`: delivered directly (influx2) or taken (blackhole).
    var written = 0
    var spooled = 0
    var replayed = 0
    /// `gateway_points_dropped_total{sink}`, every reason.
    var dropped = 0
    var deadLettered = 0
    var queued = 0
    var spoolPoints = 0
    var spoolBytes = 0

    /// Points the sink took: delivered at once or spooled.
    var taken: Int { written + spooled }
    /// Points the sink's server acknowledged: directly or from the spool.
    var delivered: Int { written + replayed }
}

/// The gateway under test: `gateway run --config FILE` with a configuration written for the run
/// (UDP and HTTP listeners on free loopback ports, everything routed to one sink).
final class GatewayServer: TargetServer {
    /// Points per sink batch; the last partial batch waits for the flush interval.
    static let batchSize = 5000

    let kind: TargetKind
    let process: ChildProcess
    let httpPort: Int
    let udpPort: Int
    /// The `statsd` listener's UDP port, 0 when it has none (see ``start(label:settings:sink:cpu:ack:statsd:)``).
    private(set) var statsdPort = 0
    let sink: GatewaySink
    /// The run's data directory (the influx2 sink's spool), removed by ``stop()``.
    let dataDirectory: String
    /// A live tap connection that never reads (``TargetKind/gatewayTap``); closed by ``stop()``.
    private var stalledTap: Int32 = -1

    private init(
        process: ChildProcess, httpPort: Int, udpPort: Int, sink: GatewaySink, dataDirectory: String, kind: TargetKind
    ) {
        self.kind = kind
        self.process = process
        self.httpPort = httpPort
        self.udpPort = udpPort
        self.sink = sink
        self.dataDirectory = dataDirectory
    }

    /// Starts a gateway pinned to `cpu` (by default the targets' CPU).
    static func start(
        label: String, settings: ServerSettings, sink: GatewaySink = .blackhole, cpu: Int?? = nil,
        ack: String = "durable", statsd: Bool = false, stalledTap: Bool = false
    ) throws -> GatewayServer {
        let udpPort = try Sockets.freePort(tcp: false, udp: true)
        let statsdPort = statsd ? try Sockets.freePort(tcp: false, udp: true) : 0
        let httpPort = try Sockets.freePort(tcp: true, udp: false)
        let configPath = "\(settings.workDirectory)/gateway-\(label).yaml"
        let dataDirectory: String
        switch sink {
        case .blackhole: dataDirectory = "\(settings.workDirectory)/gateway-data"
        case .influx, .remoteWrite: dataDirectory = "\(settings.workDirectory)/gateway-data-\(label)"
        }
        try Files.write(
            configPath,
            configuration(
                udpPort: udpPort, httpPort: httpPort, receiveBuffer: settings.udpReceiveBuffer,
                dataDirectory: dataDirectory, sink: sink, ack: ack, statsdPort: statsdPort))
        let process = try ChildProcess.spawn(
            name: "gateway", executable: settings.gatewayPath, arguments: ["run", "--config", configPath],
            logPath: "\(settings.workDirectory)/gateway-\(label).log", cpu: cpu ?? settings.targetCPU,
            returnToCPU: settings.benchCPU)
        let server = GatewayServer(
            process: process, httpPort: httpPort, udpPort: udpPort, sink: sink, dataDirectory: dataDirectory,
            kind: stalledTap ? .gatewayTap : ack == "memory" ? .gatewayMemory : .gateway)
        server.statsdPort = statsdPort
        do {
            try server.waitUntilReady()
            if stalledTap { server.stalledTap = try attachStalledTap(port: httpPort) }
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    /// The run's configuration. The queue is large and blocking so that a burst is absorbed rather
    /// than dropped inside the gateway; batches of 5,000 as a real sink would write; a short flush
    /// interval so the written count settles quickly once the load stops. The influx2 sink keeps its
    /// defaults otherwise (queue 500,000, spool on, retry policy), as a user's would.
    static func configuration(
        udpPort: Int, httpPort: Int, receiveBuffer: Int, dataDirectory: String, sink: GatewaySink = .blackhole,
        ack: String = "durable", statsdPort: Int = 0
    ) -> String {
        // The statsd scenarios: aggregated every 2 s, as collectd's Interval there.
        let statsdSection =
            statsdPort == 0
            ? ""
            : """
              statsd:
                type: statsd
                listen: "127.0.0.1:\(statsdPort)"
                receive_buffer: \(receiveBuffer)
                flush_interval: \(StatsDBench.interval)s

            """
        let sinkSection: String
        switch sink {
        case .blackhole:
            sinkSection = """
                  \(sink.name):
                    type: blackhole
                    queue_size: 4000000
                    batch_size: \(batchSize)
                    flush_interval: 200ms
                    when_full: block
                """
        case .influx(let url, let gzip, let maxInFlight):
            sinkSection = """
                  \(sink.name):
                    type: influx2
                    url: "\(url)"
                    org: bench
                    bucket: bench
                    precision: ns
                    gzip: \(gzip)
                    max_in_flight: \(maxInFlight)
                    batch_size: \(batchSize)
                    flush_interval: 200ms
                    when_full: block
                """
        case .remoteWrite(let url, let maxInFlight):
            sinkSection = """
                  \(sink.name):
                    type: prometheus_remote_write
                    url: "\(url)"
                    max_in_flight: \(maxInFlight)
                    batch_size: \(batchSize)
                    flush_interval: 200ms
                    when_full: block
                """
        }
        return """
            # Written by gateway-bench for one measurement.
            gateway:
              name: bench
              data_dir: "\(dataDirectory)"
              log_level: info
            listeners:
              udp:
                type: udp
                listen: "127.0.0.1:\(udpPort)"
                receive_buffer: \(receiveBuffer)
                max_datagram: 64KiB
              http:
                type: http
                listen: "127.0.0.1:\(httpPort)"
                max_body: 32MiB
                ack: \(ack)
            \(statsdSection)sinks:
            \(sinkSection)
            routes:
              - name: everything
                to: [\(sink.name)]

            """
    }

    /// Points the sink took: written (blackhole), or written directly plus spooled (influx2).
    func pointsCounted() throws -> Int {
        let counters = try self.counters()
        return counters.taken
    }

    func counters() throws -> GatewayCounters {
        let text = try metricsText()
        let sinkLabel = ["sink": sink.name]
        func value(_ name: String, _ labels: [String: String] = sinkLabel) -> Int {
            // A counter appears with its first increment.
            Int(PrometheusText.value(in: text, name: name, labels: labels) ?? 0)
        }
        return GatewayCounters(
            received: value("gateway_points_received_total", [:]),
            written: value("gateway_points_written_total"),
            spooled: value("gateway_points_spooled_total"),
            replayed: value("gateway_points_replayed_total"),
            dropped: value("gateway_points_dropped_total"),
            deadLettered: value("gateway_points_dead_lettered_total"),
            queued: value("gateway_sink_queue_points"),
            spoolPoints: value("gateway_spool_points"),
            spoolBytes: value("gateway_spool_bytes"))
    }

    /// Opens `GET /api/v1/tap` on one of the load's 100 series (every point is checked against the
    /// filter, one in a hundred is buffered), reads the answer's head, and then never reads again: the
    /// client's buffer fills and the gateway drops for it.
    static func attachStalledTap(port: Int) throws -> Int32 {
        let fd = try Sockets.connectTCP(port: port, timeout: 10)
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        let request = Array(
            "GET /api/v1/tap?series=bench&tag=host:h7&tag=service:s7 HTTP/1.1\r\nHost: bench\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else {
            close(fd)
            throw BenchError.system("send tap request")
        }
        var head = [UInt8](repeating: 0, count: 512)
        var received: [UInt8] = []
        while !String(decoding: received, as: UTF8.self).contains("tap attached") {
            let n = recv(fd, &head, head.count, 0)
            guard n > 0 else {
                close(fd)
                throw BenchError("the live tap did not attach: \(String(decoding: received, as: UTF8.self))")
            }
            received += head[0..<n]
        }
        return fd
    }

    func stop() {
        if stalledTap >= 0 { close(stalledTap) }
        process.stop()
        if case .blackhole = sink { return }
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }
}
