import Foundation
import Glibc

/// The statsd-<rate> scenarios: StatsD lines over UDP, 10 per datagram (`--lines-per-datagram`), over
/// 10,000 series, paced to the rate, to the gateway's `statsd` listener (blackhole sink) and to
/// collectd's `statsd` plugin, one after the other with the same bytes. Both aggregate every
/// ``interval`` seconds.
///
/// Lines aggregated are counted exactly by each target itself: the gateway's
/// `gateway_statsd_lines_total` minus its `gateway_points_rejected_total` for the listener (every line
/// parsed that was not refused went into an aggregate); collectd's csv output: counters are written
/// as `derive` values that accumulate across intervals (every counter line adds 1), and timers'
/// per-interval `count` gauges (`TimerCount true`) are summed over all intervals.
enum StatsDBench {
    /// The aggregation interval of both targets, in seconds.
    static let interval = 2
    static let seriesCount = 10_000
    static let maxLineLength = 40
    static let listener = "statsd"

    /// Line `index` of series `index % 10,000`: four series in five are counters incremented by 1
    /// (`bench.requests.c123:1|c`), the fifth a timing of 1 ms to 2 s in milliseconds with three
    /// decimals (`bench.latency.t124:523.170|ms`), from a hash of the index.
    static func write(index: Int, to out: UnsafeMutablePointer<UInt8>) -> Int {
        var w = ByteWriter(base: out)
        let series = index % seriesCount
        if series % 5 == 4 {
            // From 1 ms: collectd's statsd plugin counts no timing under 1 ms (seen: `t:0.523|ms` sent five
            // times gives a count of 0), which would read as loss.
            let micros = 1000 + Int(LineGenerator.mix(UInt64(index)) % 1_999_000)
            w.append("bench.latency.t")
            w.append(series)
            w.append(":")
            w.append(micros / 1000)
            w.append(".")
            w.appendPadded(micros % 1000, digits: 3)
            w.append("|ms\n")
        } else {
            w.append("bench.requests.c")
            w.append(series)
            w.append(":1|c\n")
        }
        return w.count
    }

    static func payload(lines: Int, linesPerDatagram: Int) -> Payload {
        Payload(lines: lines, linesPerChunk: linesPerDatagram, maxLineLength: maxLineLength) {
            write(index: $0, to: $1)
        }
    }

    /// Ten counter lines of a series of their own: proves the path before the clock starts.
    static let probe = Array(String(repeating: "bench.probe:1|c\n", count: 10).utf8)
}

/// A StatsD target: where to send, and what it says it aggregated.
protocol StatsDTarget: AnyObject {
    var kind: TargetKind { get }
    var process: ChildProcess { get }
    var port: Int { get }
    /// Lines aggregated since the start (from the target's own counting).
    func linesCounted() throws -> Int
    func stop()
}

/// The gateway with a `statsd` listener (and its usual udp and http listeners, blackhole sink).
final class StatsDGateway: StatsDTarget {
    let server: GatewayServer
    let kind = TargetKind.gateway

    init(label: String, settings: ServerSettings) throws {
        server = try GatewayServer.start(label: label, settings: settings, statsd: true)
    }

    var process: ChildProcess { server.process }
    var port: Int { server.statsdPort }

    func linesCounted() throws -> Int {
        let text = try server.metricsText()
        let labels = ["listener": StatsDBench.listener]
        let lines = PrometheusText.value(in: text, name: "gateway_statsd_lines_total", labels: labels) ?? 0
        let rejected = PrometheusText.value(in: text, name: "gateway_points_rejected_total", labels: labels) ?? 0
        return Int(lines - rejected)
    }

    func stop() { server.stop() }
}

/// collectd 5 with only its `statsd` plugin (and `csv`, to count what it aggregated, and `logfile`).
final class CollectdServer: StatsDTarget {
    let kind = TargetKind.collectd
    let process: ChildProcess
    let port: Int
    let directory: String

    private init(process: ChildProcess, port: Int, directory: String) {
        self.process = process
        self.port = port
        self.directory = directory
    }

    static func start(label: String, settings: ServerSettings, executable: String) throws -> CollectdServer {
        let port = try Sockets.freePort(tcp: false, udp: true)
        let directory = "\(settings.workDirectory)/collectd-\(label)"
        try FileManager.default.createDirectory(atPath: "\(directory)/csv", withIntermediateDirectories: true)
        try Files.write("\(directory)/collectd.conf", configuration(directory: directory, port: port))
        // The statsd plugin has no receive-buffer option: its socket gets the system default, raised
        // (as for VictoriaMetrics) until the socket exists, to the size the gateway's SO_RCVBUF gets.
        let previous = try ReceiveBufferDefault.raise(to: 2 * settings.udpReceiveBuffer)
        defer { ReceiveBufferDefault.restore(previous) }
        let process = try ChildProcess.spawn(
            name: "collectd", executable: executable, arguments: ["-f", "-C", "\(directory)/collectd.conf"],
            logPath: "\(settings.workDirectory)/collectd-\(label).log", cpu: settings.targetCPU,
            returnToCPU: settings.benchCPU)
        let server = CollectdServer(process: process, port: port, directory: directory)
        let deadline = Monotonic.now() + 30
        while !Sockets.udpSocketState(port: port).bound {
            guard process.isRunning, Monotonic.now() < deadline else {
                server.stop()
                throw BenchError(
                    "collectd did not bind UDP port \(port) (\(process.exitDescription)); log: \(process.logPath)")
            }
            Monotonic.sleep(0.02)
        }
        return server
    }

    static func configuration(directory: String, port: Int) -> String {
        """
        # Written by gateway-bench for one measurement.
        Hostname "bench"
        FQDNLookup false
        BaseDir "\(directory)"
        PIDFile "\(directory)/collectd.pid"
        PluginDir "/usr/lib/collectd"
        TypesDB "/usr/share/collectd/types.db"
        Interval \(StatsDBench.interval)
        WriteQueueLimitHigh 10000000
        WriteQueueLimitLow 10000000
        LoadPlugin logfile
        <Plugin logfile>
          LogLevel info
          File STDOUT
        </Plugin>
        LoadPlugin statsd
        <Plugin statsd>
          Host "127.0.0.1"
          Port "\(port)"
          TimerCount true
        </Plugin>
        LoadPlugin csv
        <Plugin csv>
          DataDir "\(directory)/csv"
          StoreRates false
        </Plugin>

        """
    }

    /// Counter lines: the last value of each `derive-<name>` file (collectd's counters accumulate
    /// unless `DeleteCounters`); timer lines: every value of each `gauge-<name>-count` file.
    func linesCounted() throws -> Int {
        let folder = "\(directory)/csv/bench/statsd"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return 0 }
        var total = 0.0
        for name in names {
            let isCounter = name.hasPrefix("derive-")
            guard isCounter || (name.hasPrefix("gauge-") && name.contains("-count-")),
                let text = Files.readText("\(folder)/\(name)")
            else { continue }
            let values = text.split(separator: "\n").dropFirst().compactMap { line in
                line.split(separator: ",").last.flatMap { Double($0) }
            }
            total += isCounter ? (values.last ?? 0) : values.reduce(0, +)
        }
        return Int(total)
    }

    func stop() {
        process.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension Measurement {
    /// One run of a statsd scenario against a fresh `target`: probe, load, wait until the target has
    /// read its socket and its count is final (a flush interval and more without change), take the
    /// counters.
    func statsd(_ target: StatsDTarget, load: UDPLoad, linesPerSecond: Int) throws -> RunResult {
        defer { target.stop() }
        try probe(target)
        let baseline = try target.linesCounted()
        let pid = target.process.pid
        let dropsBefore = Sockets.udpSocketState(port: target.port).drops
        let cpuBefore = try ProcessStats.cpuSeconds(pid: pid)
        let usageBefore = CPUUsage.now()
        let start = Monotonic.now()
        let sent = try load.run(port: target.port, pointsPerSecond: linesPerSecond, duration: duration)
        let drained = drainTime(udpPort: target.port)
        // collectd's count moves at its flushes: quiet for two intervals and a half means final.
        let quiet = 2.5 * Double(StatsDBench.interval)
        var count = try target.linesCounted()
        var cpuSeconds = try ProcessStats.cpuSeconds(pid: pid)
        var changedAt = Monotonic.now()
        while count - baseline < sent.pointsSent, Monotonic.now() - changedAt < quiet,
            Monotonic.now() - drained < settleTimeout
        {
            guard target.process.isRunning else {
                throw BenchError("\(target.kind.displayName) \(target.process.exitDescription) during the load")
            }
            Monotonic.sleep(0.25)
            let now = try target.linesCounted()
            if now != count {
                count = now
                cpuSeconds = try ProcessStats.cpuSeconds(pid: pid)
                changedAt = Monotonic.now()
            }
        }
        let counted = count - baseline
        let busyUntil = max(start + sent.elapsed, drained)
        var result = RunResult(
            scenario: "", target: target.kind, sent: sent.pointsSent, counted: counted,
            pointsPerSecond: Double(counted) / (busyUntil - start),
            offeredPerSecond: Double(sent.pointsSent) / sent.elapsed, cpuSeconds: cpuSeconds - cpuBefore,
            peakRSSBytes: try ProcessStats.peakRSS(pid: pid), errors: 0,
            kernelDrops: Sockets.udpSocketState(port: target.port).drops - dropsBefore,
            firstError: sent.refused > 0 ? "\(sent.refused) sends refused (port closed)" : nil)
        result.otherCPUSeconds = CPUUsage.now().others(
            since: usageBefore, targetSeconds: (try ProcessStats.cpuSeconds(pid: pid)) - cpuBefore)
        result.wallSeconds = Monotonic.now() - start
        return result
    }

    /// Sends ``StatsDBench/probe`` (again every 2 s) until the target counts its ten lines.
    func probe(_ target: StatsDTarget) throws {
        let before = try target.linesCounted()
        let deadline = Monotonic.now() + 30
        var sentAt = -Double.infinity
        let fd = try Sockets.connectUDP(port: target.port, sendBuffer: 1 << 20)
        defer { close(fd) }
        while Monotonic.now() < deadline {
            if Monotonic.now() - sentAt > 2 {
                _ = StatsDBench.probe.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
                sentAt = Monotonic.now()
            }
            if try target.linesCounted() >= before + 10 {
                // A probe sent again before the first was counted (collectd counts at its flushes) is
                // counted before the baseline is taken.
                Monotonic.sleep(Double(StatsDBench.interval) + 0.5)
                return
            }
            guard target.process.isRunning else {
                throw BenchError(
                    "\(target.kind.displayName) \(target.process.exitDescription); log: \(target.process.logPath)")
            }
            Monotonic.sleep(0.1)
        }
        throw BenchError(
            "\(target.kind.displayName) did not count 10 StatsD probe lines within 30 s; log: \(target.process.logPath)"
        )
    }
}

extension Report {
    /// Under the table: each statsd target's highest rate of the run without loss, and the gateway's
    /// over collectd's.
    static func statsdNotes(_ summaries: [TargetSummary]) {
        let statsd = summaries.filter { $0.scenario.hasPrefix("statsd-") }
        guard !statsd.isEmpty else { return }
        func best(_ target: TargetKind) -> TargetSummary? {
            statsd.filter { $0.target == target && $0.loss == 0 }.max { $0.pointsPerSecond < $1.pointsPerSecond }
        }
        print("StatsD (lines aggregated per second at zero loss, highest offered rate without loss, medians):")
        for target in [TargetKind.gateway, .collectd] {
            guard statsd.contains(where: { $0.target == target }) else { continue }
            if let s = best(target) {
                print(
                    "  \(target.displayName): \(grouped(s.pointsPerSecond)) lines/s (\(s.scenario)), "
                        + "\(fixed(s.cpuMicrosPerPoint, 3)) CPU-us/line, peak RSS \(fixed(s.peakRSSMegabytes, 1)) MB")
            } else {
                print("  \(target.displayName): lost lines at every rate tried")
            }
        }
        if let gateway = best(.gateway), let collectd = best(.collectd) {
            let ratio = gateway.pointsPerSecond / collectd.pointsPerSecond
            print(
                "  gateway/collectd at zero loss: \(fixed(ratio, 2))x (target >= 3x: \(ratio >= 3 ? "met" : "NOT met"))"
            )
            print(
                "STATSD zero_loss_gateway=\(Int(gateway.pointsPerSecond)) "
                    + "zero_loss_collectd=\(Int(collectd.pointsPerSecond)) ratio=\(fixed(ratio, 3))")
        }
        print("")
    }
}
