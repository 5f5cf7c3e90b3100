import Foundation
import Glibc

/// vmagent (in Debian's `victoria-metrics` package), the peer of the gateway's network sinks: line
/// protocol in over UDP (`-influxListenAddr`) and HTTP (`/api/v2/write` on `-httpListenAddr`), remote
/// write out to VictoriaMetrics. A fresh process and buffer folder per run.
final class VMAgentServer: TargetServer {
    let kind = TargetKind.vmagent
    let process: ChildProcess
    let httpPort: Int
    let udpPort: Int
    let bufferPath: String

    private init(process: ChildProcess, httpPort: Int, udpPort: Int, bufferPath: String) {
        self.process = process
        self.httpPort = httpPort
        self.udpPort = udpPort
        self.bufferPath = bufferPath
    }

    static func start(label: String, settings: ServerSettings, executable: String, remoteWriteURL: String, cpu: Int?)
        throws -> VMAgentServer
    {
        let httpPort = try Sockets.freePort(tcp: true, udp: false)
        let influxPort = try Sockets.freePort(tcp: true, udp: true)
        let bufferPath = "\(settings.workDirectory)/vmagent-\(label)"
        // As VictoriaMetrics: no option for its UDP receive buffer, so the system default is raised
        // while it starts (twice the size, as the kernel doubles the gateway's SO_RCVBUF request).
        let previous = try ReceiveBufferDefault.raise(to: 2 * settings.udpReceiveBuffer)
        defer { ReceiveBufferDefault.restore(previous) }
        let process = try ChildProcess.spawn(
            name: "vmagent", executable: executable,
            arguments: [
                "-httpListenAddr", "127.0.0.1:\(httpPort)", "-influxListenAddr", "127.0.0.1:\(influxPort)",
                "-remoteWrite.url", remoteWriteURL, "-remoteWrite.tmpDataPath", bufferPath,
            ],
            logPath: "\(settings.workDirectory)/vmagent-\(label).log", cpu: cpu, returnToCPU: settings.benchCPU)
        let server = VMAgentServer(process: process, httpPort: httpPort, udpPort: influxPort, bufferPath: bufferPath)
        do {
            try server.waitUntilReady()
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    /// Not used for the measurement (VictoriaMetrics counts what arrived); what vmagent parsed.
    func pointsCounted() throws -> Int {
        let text = try metricsText()
        let rows = PrometheusText.value(in: text, name: "vmagent_rows_inserted_total", labels: ["type": "influx"]) ?? 0
        return Int(rows) / LineGenerator.fieldsPerLine
    }

    func stop() {
        process.stop()
        try? FileManager.default.removeItem(atPath: bufferPath)
    }
}

/// An agent and the VictoriaMetrics it writes to, seen from the load generator: the agent's ports,
/// counted where VictoriaMetrics stored the points (line protocol and remote write rows alike).
final class AgentPipeline: TargetServer {
    let kind: TargetKind
    let agent: any TargetServer
    let vm: VictoriaMetricsServer

    init(kind: TargetKind, agent: any TargetServer, vm: VictoriaMetricsServer) {
        self.kind = kind
        self.agent = agent
        self.vm = vm
    }

    var process: ChildProcess { agent.process }
    var httpPort: Int { agent.httpPort }
    var udpPort: Int { agent.udpPort }
    func pointsCounted() throws -> Int { try vm.pointsCounted() }

    func stop() {
        agent.stop()
        vm.stop()
    }
}

/// The `agents-*` scenarios: the same line protocol, over UDP or HTTP, to an agent that delivers it to
/// a fresh VictoriaMetrics: the gateway with its `influx2` sink (`/api/v2/write`), the gateway with
/// its `prometheus_remote_write` sink (`/api/v1/write`), and vmagent (remote write), one after the
/// other in the same benchmark run. The agent runs on the load generator's CPU, VictoriaMetrics on
/// the targets' CPU. Delivered = VictoriaMetrics' own row count; the rate runs from the first point
/// sent until VictoriaMetrics had (within one batch) all it would get; CPU and peak RSS are the
/// agent's.
struct AgentBench {
    enum Load {
        case udp(UDPLoad, pointsPerSecond: Int)
        /// Every body of the load exactly once (a fixed number of points).
        case http(HTTPLoad)
    }

    let settings: ServerSettings
    let measurement: Measurement
    let timestamps: TimestampAllocator
    let duration: Double
    let vmagentPath: String
    var maxInFlight = 2

    static let targets: [TargetKind] = [.agentInflux2, .agentRemoteWrite, .vmagent]

    /// The agent `kind`, writing to a VictoriaMetrics on `vmPort`, on the load generator's CPU.
    func startAgent(_ kind: TargetKind, vmPort: Int, label: String) throws -> any TargetServer {
        switch kind {
        case .agentInflux2:
            return try GatewayServer.start(
                label: label, settings: settings,
                sink: .influx(url: "http://127.0.0.1:\(vmPort)", maxInFlight: maxInFlight),
                cpu: .some(settings.benchCPU))
        case .agentRemoteWrite:
            return try GatewayServer.start(
                label: label, settings: settings,
                sink: .remoteWrite(url: "http://127.0.0.1:\(vmPort)/api/v1/write", maxInFlight: maxInFlight),
                cpu: .some(settings.benchCPU))
        default:
            return try VMAgentServer.start(
                label: label, settings: settings, executable: vmagentPath,
                remoteWriteURL: "http://127.0.0.1:\(vmPort)/api/v1/write", cpu: settings.benchCPU)
        }
    }

    /// The `agents-outage-*` scenario: the agent takes `load` over HTTP while its VictoriaMetrics is
    /// down (the gateway spools to SQLite, vmagent queues on disk), then VictoriaMetrics comes back
    /// on the same port and storage. Counted = what the returned server inserted: every point once
    /// (more would be duplicates), waited for until 2 s pass with no change after all arrived, at most
    /// 150 s. The rate is the points over the time from the server's return until the last arrived
    /// (each agent's retry backoff included); CPU and peak RSS are the agent's over the whole run.
    func outage(_ kind: TargetKind, load: HTTPLoad, label: String) throws -> RunResult {
        let vm = try VictoriaMetricsServer.start(label: label, settings: settings)
        defer { vm.stop() }
        let agent = try startAgent(kind, vmPort: vm.httpPort, label: label)
        defer { agent.stop() }
        try measurement.probe(AgentPipeline(kind: kind, agent: agent, vm: vm), udp: false)
        vm.halt()
        let agentPID = agent.process.pid
        let cpuBefore = try ProcessStats.cpuSeconds(pid: agentPID)
        let start = Monotonic.now()
        let sentLoad = load.run(port: agent.httpPort, duration: duration, timestamps: timestamps, once: true)
        let sent = sentLoad.pointsAccepted
        Monotonic.sleep(2)  // the agent finds the server gone and stores what it holds
        let back = try VictoriaMetricsServer.start(
            label: "\(label)-back", settings: settings, httpPort: vm.httpPort, storagePath: vm.storagePath)
        defer { back.stop() }
        let returned = Monotonic.now()
        var counted = try back.pointsCounted()
        var lastChange = returned
        while Monotonic.now() - returned < 150 {
            guard agent.process.isRunning else {
                throw BenchError("\(kind.displayName) \(agent.process.exitDescription); log: \(agent.process.logPath)")
            }
            Monotonic.sleep(0.2)
            let now = try back.pointsCounted()
            if now != counted {
                counted = now
                lastChange = Monotonic.now()
            }
            if counted >= sent, Monotonic.now() - lastChange > 2 { break }
        }
        let drainSeconds = max(lastChange - returned, 0.001)
        var result = RunResult(
            scenario: "", target: kind, sent: sent, counted: counted,
            pointsPerSecond: Double(counted) / drainSeconds, offeredPerSecond: Double(sent) / sentLoad.elapsed,
            cpuSeconds: try ProcessStats.cpuSeconds(pid: agentPID) - cpuBefore,
            peakRSSBytes: try ProcessStats.peakRSS(pid: agentPID), errors: sentLoad.errors, kernelDrops: 0,
            firstError: sentLoad.firstError ?? (counted > sent ? "\(counted - sent) points stored twice" : nil))
        result.extras = [Extra("drain_seconds", drainSeconds, "s from the server's return to the last point")]
        result.note =
            "held \(Report.grouped(sent)) points through the outage; drained \(Report.fixed(drainSeconds, 1)) s "
            + "after VictoriaMetrics returned"
        result.wallSeconds = Monotonic.now() - start
        return result
    }

    func run(_ kind: TargetKind, load: Load, label: String) throws -> RunResult {
        let vm = try VictoriaMetricsServer.start(label: label, settings: settings)
        defer { vm.stop() }
        let agent = try startAgent(kind, vmPort: vm.httpPort, label: label)
        defer { agent.stop() }
        let pipeline = AgentPipeline(kind: kind, agent: agent, vm: vm)
        let udp: Bool
        if case .udp = load { udp = true } else { udp = false }
        try measurement.probe(pipeline, udp: udp)

        let baseline = try vm.pointsCounted()
        let dropsBefore = Sockets.udpSocketState(port: agent.udpPort).drops
        let agentPID = agent.process.pid
        let vmCPUBefore = try ProcessStats.cpuSeconds(pid: vm.process.pid)
        let cpuBefore = try ProcessStats.cpuSeconds(pid: agentPID)
        let usageBefore = CPUUsage.now()
        let start = Monotonic.now()
        let sent: Int
        let loadElapsed: Double
        var errors = 0
        var firstError: String?
        switch load {
        case .udp(let udpLoad, let rate):
            let result = try udpLoad.run(port: agent.udpPort, pointsPerSecond: rate, duration: duration)
            sent = result.pointsSent
            loadElapsed = result.elapsed
            if result.refused > 0 { firstError = "\(result.refused) sends refused (port closed)" }
        case .http(let httpLoad):
            let result = httpLoad.run(port: agent.httpPort, duration: duration, timestamps: timestamps, once: true)
            sent = result.pointsAccepted
            loadElapsed = result.elapsed
            errors = result.errors
            firstError = result.firstError
        }
        let drained = measurement.drainTime(udpPort: agent.udpPort)
        let settled = try measurement.settle(pipeline, expected: baseline + sent, loadEnd: Monotonic.now())
        let counted = settled.count - baseline
        // VictoriaMetrics' row counter moves as it inserts; the agents' last partial batch waits for
        // their flush interval (200 ms, vmagent's 1 s), which is not what limits the rate.
        let busyUntil = max(start + loadElapsed, drained, settled.caughtUp(within: GatewayServer.batchSize))
        let vmSeconds = try ProcessStats.cpuSeconds(pid: vm.process.pid) - vmCPUBefore
        var result = RunResult(
            scenario: "", target: kind, sent: sent, counted: counted,
            pointsPerSecond: Double(counted) / (busyUntil - start), offeredPerSecond: Double(sent) / loadElapsed,
            cpuSeconds: settled.cpuSeconds - cpuBefore, peakRSSBytes: try ProcessStats.peakRSS(pid: agentPID),
            errors: errors, kernelDrops: Sockets.udpSocketState(port: agent.udpPort).drops - dropsBefore,
            firstError: firstError)
        result.extras = [
            Extra("vm_cpu_us_per_point", vmSeconds * 1e6 / Double(max(counted, 1)), "us/point VictoriaMetrics CPU")
        ]
        result.note =
            "VictoriaMetrics CPU \(Report.fixed(vmSeconds, 2)) s = "
            + "\(Report.fixed(vmSeconds * 1e6 / Double(max(counted, 1)), 3)) us/point"
        result.otherCPUSeconds = CPUUsage.now().others(
            since: usageBefore, targetSeconds: settled.cpuNow - cpuBefore + vmSeconds)
        result.wallSeconds = Monotonic.now() - start
        return result
    }
}

extension Report {
    /// The agents-* scenarios' ratios and the targets: remote write end to end at least 1.5x
    /// the influx2 path, at least vmagent's rate at no more than half its CPU per point (peak RSS no
    /// higher than vmagent's is printed beside them, in the RESULT lines). After an outage the rates
    /// are drain rates, set mostly by each agent's retry backoff: they are printed without a target.
    static func agentRatios(rw: TargetSummary, influx: TargetSummary?, vmagent: TargetSummary?, outage: Bool = false)
        -> [Ratio]
    {
        var out: [Ratio] = []
        if outage {
            if let vmagent {
                out.append(
                    Ratio(
                        label: "rw/vmagent drain", key: "drain_rw/vmagent",
                        rate: rw.pointsPerSecond / vmagent.pointsPerSecond,
                        cpu: rw.cpuMicrosPerPoint / vmagent.cpuMicrosPerPoint))
                out.append(
                    Ratio(
                        label: "rw/vmagent RSS", key: "rss_rw/vmagent",
                        rate: rw.peakRSSMegabytes / vmagent.peakRSSMegabytes, target: 1))
            }
            return out
        }
        if let influx {
            out.append(
                Ratio(
                    label: "rw/influx2", key: "rw/influx2", rate: rw.pointsPerSecond / influx.pointsPerSecond,
                    cpu: rw.cpuMicrosPerPoint / influx.cpuMicrosPerPoint, target: 1.5))
        }
        if let vmagent {
            out.append(
                Ratio(
                    label: "rw/vmagent", key: "rw/vmagent", rate: rw.pointsPerSecond / vmagent.pointsPerSecond,
                    cpu: rw.cpuMicrosPerPoint / vmagent.cpuMicrosPerPoint, target: 1))
            out.append(
                Ratio(
                    label: "rw/vmagent RSS", key: "rss_rw/vmagent",
                    rate: rw.peakRSSMegabytes / vmagent.peakRSSMegabytes,
                    target: 1))
        }
        return out
    }
}
