import Foundation
import Glibc

/// What a row of the report measured: the two processes, or (for the spool and end-to-end
/// scenarios) the piece of the gateway or the pipeline named.
enum TargetKind: String, CaseIterable, Sendable {
    /// The gateway as shipped (HTTP with `ack: durable`).
    case gateway
    /// The gateway with `ack: memory` on its HTTP listener (the http-<n>c scenarios only).
    case gatewayMemory = "gateway-ack-memory"
    /// The gateway with a live tap client attached that never reads (udp scenarios, --stalled-tap).
    case gatewayTap = "gateway-stalled-tap"
    case vm
    /// `SpoolStore` driven in the benchmark's own process.
    case spool
    /// `InfluxSink.replay()` in the benchmark's own process, sending to VictoriaMetrics.
    case replay
    /// UDP -> gateway -> influx2 sink -> VictoriaMetrics.
    case e2e = "gateway+vm"
    /// The gateway while its influx2 sink's server is down.
    case outage = "gateway-outage"
    /// The proc plugin's collector, in the benchmark's own process.
    case proc
    /// The jobdir plugin's scanner and job store, in the benchmark's own process.
    case jobdir
    /// The agents-* scenarios: line protocol -> agent -> VictoriaMetrics; the agent is the gateway
    /// with its influx2 sink, the gateway with its prometheus_remote_write sink, or vmagent.
    case agentInflux2 = "gateway-influx2+vm"
    case agentRemoteWrite = "gateway-rw+vm"
    case vmagent = "vmagent+vm"
    /// collectd with its `statsd` plugin: the StatsD peer (the statsd-<rate> scenarios).
    case collectd

    var displayName: String {
        switch self {
        case .gateway: return "gateway"
        case .gatewayMemory: return "gateway (ack: memory)"
        case .gatewayTap: return "gateway (stalled tap)"
        case .vm: return "victoria-metrics"
        case .spool: return "SpoolStore"
        case .replay: return "InfluxSink replay"
        case .e2e: return "gateway->vm"
        case .outage: return "gateway (vm down)"
        case .proc: return "ProcCollector"
        case .jobdir: return "JobdirScanner"
        case .agentInflux2: return "gateway influx2->vm"
        case .agentRemoteWrite: return "gateway rw->vm"
        case .vmagent: return "vmagent->vm"
        case .collectd: return "collectd statsd"
        }
    }
}

/// Where the targets' binaries are and how to run them: fixed for the whole benchmark.
struct ServerSettings: Sendable {
    var gatewayPath: String
    var victoriaMetricsPath: String?
    /// Temporary directory for configurations, logs and VictoriaMetrics' storage.
    var workDirectory: String
    /// CPU the targets are pinned to, and the one the benchmark returns to (nil: no pinning).
    var targetCPU: Int?
    var benchCPU: Int?
    /// UDP receive buffer for both targets, in bytes.
    var udpReceiveBuffer: Int
}

/// A target server started for one measurement. Each run gets a fresh process, so that its peak RSS
/// (`VmHWM`) belongs to that run alone and no queue or cache carries over.
protocol TargetServer: AnyObject {
    var kind: TargetKind { get }
    var process: ChildProcess { get }
    var httpPort: Int { get }
    var udpPort: Int { get }
    /// Points the target reports having ingested since it started.
    func pointsCounted() throws -> Int
    func stop()
}

extension TargetServer {
    /// Waits until `/health` answers 200 and the UDP port is bound; fails early if the process exits.
    func waitUntilReady(timeout: Double = 60) throws {
        let deadline = Monotonic.now() + timeout
        var healthy = false
        var lastError = "no answer yet"
        while Monotonic.now() < deadline {
            guard process.isRunning else {
                throw BenchError(
                    "\(kind.displayName) \(process.exitDescription) while starting; log: \(process.logPath)")
            }
            if !healthy {
                do {
                    let response = try HTTPConnection.get(port: httpPort, "/health", timeout: 2)
                    healthy = response.status == 200
                    lastError = "HTTP \(response.status) \(response.text.prefix(100))"
                } catch {
                    lastError = "\(error)"
                }
            }
            if healthy, Sockets.udpSocketState(port: udpPort).bound { return }
            Monotonic.sleep(0.05)
        }
        throw BenchError(
            "\(kind.displayName) not ready after \(Int(timeout)) s (/health: \(lastError)); log: \(process.logPath)")
    }

    /// The metrics page, as text. Asked up to three times: a target starved of CPU (another load on a
    /// shared machine) may miss one timeout without the whole benchmark being lost.
    func metricsText() throws -> String {
        var lastError: any Error = BenchError("no attempt")
        for _ in 0..<3 {
            guard process.isRunning else {
                throw BenchError("\(kind.displayName) \(process.exitDescription); log: \(process.logPath)")
            }
            do {
                let response = try HTTPConnection.get(port: httpPort, "/metrics", timeout: 20)
                guard response.status == 200 else {
                    throw BenchError("\(kind.displayName) /metrics answered HTTP \(response.status)")
                }
                return response.text
            } catch {
                lastError = error
            }
        }
        throw BenchError("\(kind.displayName) /metrics: \(lastError); log: \(process.logPath)")
    }
}

/// Starts a fresh target of either kind.
enum TargetServers {
    static func start(_ kind: TargetKind, label: String, settings: ServerSettings) throws -> any TargetServer {
        switch kind {
        case .gateway: return try GatewayServer.start(label: label, settings: settings)
        case .gatewayMemory: return try GatewayServer.start(label: label, settings: settings, ack: "memory")
        case .gatewayTap: return try GatewayServer.start(label: label, settings: settings, stalledTap: true)
        case .vm: return try VictoriaMetricsServer.start(label: label, settings: settings)
        case .spool, .replay, .e2e, .outage, .proc, .jobdir, .agentInflux2, .agentRemoteWrite, .vmagent, .collectd:
            throw BenchError("\(kind.displayName) is not a server of its own")
        }
    }
}
