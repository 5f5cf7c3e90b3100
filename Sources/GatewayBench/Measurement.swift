import Glibc

/// One target's numbers for one run of one scenario.
struct RunResult: Sendable {
    var scenario: String
    var target: TargetKind
    /// Points offered: for UDP those sent, for HTTP those in bodies answered 204.
    var sent: Int
    /// Points the target counted (its own metrics), minus what it had counted before the run.
    var counted: Int
    var pointsPerSecond: Double
    /// For UDP the rate the sender achieved; for HTTP the acknowledged rate.
    var offeredPerSecond: Double
    var cpuSeconds: Double
    var peakRSSBytes: Int
    /// HTTP answers other than 204 plus requests without an answer; 0 for UDP.
    var errors: Int
    /// Datagrams the kernel dropped at the target's full receive buffer (UDP only).
    var kernelDrops: Int
    var firstError: String?
    /// CPU seconds other processes (or the hypervisor's steal) took during the run, and the run's
    /// length: see ``isDisturbed``.
    var otherCPUSeconds = 0.0
    var wallSeconds = 0.0
    /// Scenario-specific figures (MB/s, RSS samples, the gateway's own counters...), in print order:
    /// their medians go to the notes under the table and to the RESULT line.
    var extras: [Extra] = []
    /// Said after the standard figures on the progress line.
    var note: String?

    var loss: Int { sent - counted }
    var lossPercent: Double { sent > 0 ? Double(loss) * 100 / Double(sent) : 0 }
    var cpuMicrosPerPoint: Double { counted > 0 ? cpuSeconds * 1e6 / Double(counted) : .nan }
    /// Not measured (an in-process scenario, whose process holds the load too) when `peakRSSBytes` < 0.
    var peakRSSMegabytes: Double { peakRSSBytes < 0 ? .nan : Double(peakRSSBytes) / 1_048_576 }

    func extra(_ key: String) -> Double? { extras.first { $0.key == key }?.value }
    /// Others took more than a tenth of a CPU on average: the figures are not to be trusted alone.
    var isDisturbed: Bool { otherCPUSeconds > 0.1 * wallSeconds }
}

/// A named figure of one run (`mb_per_s`, `rss_max_mb`...).
struct Extra: Sendable {
    var key: String
    var value: Double
    /// How the notes under the table print it: "12.3 MB/s compressed".
    var unit: String

    init(_ key: String, _ value: Double, _ unit: String = "") {
        self.key = key
        self.value = value
        self.unit = unit
    }
}

/// Measures one target through one run: start it fresh, probe it, take its counters, apply the
/// load, wait until its count stops growing, take the counters again, stop it.
struct Measurement {
    let settings: ServerSettings
    let timestamps: TimestampAllocator
    let duration: Double
    /// The count is final once it reaches what was sent, or has not grown for this long.
    var quietPeriod = 2.0
    var settleTimeout = 120.0

    func udp(_ target: TargetKind, load: UDPLoad, pointsPerSecond: Int, label: String) throws -> RunResult {
        let server = try TargetServers.start(target, label: label, settings: settings)
        defer { server.stop() }
        try probe(server, udp: true)
        let baseline = try server.pointsCounted()
        let dropsBefore = Sockets.udpSocketState(port: server.udpPort).drops
        let cpuBefore = try ProcessStats.cpuSeconds(pid: server.process.pid)
        let usageBefore = CPUUsage.now()
        let start = Monotonic.now()
        let sent = try load.run(port: server.udpPort, pointsPerSecond: pointsPerSecond, duration: duration)
        let drained = drainTime(udpPort: server.udpPort)
        let settled = try settle(server, expected: baseline + sent.pointsSent, loadEnd: Monotonic.now())
        let counted = settled.count - baseline
        // A target that lags leaves a backlog in its socket when the sender stops: it is timed until it
        // has read it. Its counter may lag too without any backlog (VictoriaMetrics updates its influx
        // row count about once a second, the gateway writes its last partial batch at the flush
        // interval), so the count is used only for a lag longer than that.
        let reportingDelay = GatewayServer.batchSize + Int(1.5 * Double(pointsPerSecond))
        let busyUntil = max(start + sent.elapsed, drained, settled.caughtUp(within: reportingDelay))
        var result = RunResult(
            scenario: "", target: target, sent: sent.pointsSent, counted: counted,
            pointsPerSecond: Double(counted) / (busyUntil - start),
            offeredPerSecond: Double(sent.pointsSent) / sent.elapsed,
            cpuSeconds: settled.cpuSeconds - cpuBefore, peakRSSBytes: try ProcessStats.peakRSS(pid: server.process.pid),
            errors: 0, kernelDrops: Sockets.udpSocketState(port: server.udpPort).drops - dropsBefore,
            firstError: sent.refused > 0 ? "\(sent.refused) sends refused (port closed)" : nil)
        result.otherCPUSeconds = CPUUsage.now().others(since: usageBefore, targetSeconds: settled.cpuNow - cpuBefore)
        result.wallSeconds = Monotonic.now() - start
        return result
    }

    func http(_ target: TargetKind, load: HTTPLoad, label: String) throws -> RunResult {
        let server = try TargetServers.start(target, label: label, settings: settings)
        defer { server.stop() }
        try probe(server, udp: false)
        let baseline = try server.pointsCounted()
        let cpuBefore = try ProcessStats.cpuSeconds(pid: server.process.pid)
        let usageBefore = CPUUsage.now()
        let start = Monotonic.now()
        let result = load.run(port: server.httpPort, duration: duration, timestamps: timestamps)
        let settled = try settle(server, expected: baseline + result.pointsAccepted, loadEnd: Monotonic.now())
        var run = RunResult(
            scenario: "", target: target, sent: result.pointsAccepted, counted: settled.count - baseline,
            pointsPerSecond: Double(result.pointsAccepted) / result.elapsed,
            offeredPerSecond: Double(result.pointsAccepted) / result.elapsed,
            cpuSeconds: settled.cpuSeconds - cpuBefore, peakRSSBytes: try ProcessStats.peakRSS(pid: server.process.pid),
            errors: result.errors, kernelDrops: 0,
            firstError: result.firstError.map {
                "\($0) (\(Self.describe(result.errorStatuses, result.transportFailures)))"
            })
        run.otherCPUSeconds = CPUUsage.now().others(since: usageBefore, targetSeconds: settled.cpuNow - cpuBefore)
        run.wallSeconds = Monotonic.now() - start
        return run
    }

    static func describe(_ statuses: [Int: Int], _ failures: Int) -> String {
        var parts = statuses.sorted { $0.key < $1.key }.map { "\($0.value) x HTTP \($0.key)" }
        if failures > 0 { parts.append("\(failures) x no answer") }
        return parts.joined(separator: ", ")
    }

    // MARK: Probe and settle

    /// Sends ten points and waits until the target counts them: proves the path works before the clock
    /// starts (and warms it up). UDP probes are repeated every 2 s, as a datagram may be lost.
    func probe(_ server: any TargetServer, udp: Bool) throws {
        let before = try server.pointsCounted()
        let payload = Payload(lines: 10, linesPerChunk: 10, timestamps: timestamps)
        let deadline = Monotonic.now() + 20
        var sentAt = -Double.infinity
        while Monotonic.now() < deadline {
            if Monotonic.now() - sentAt > 2, udp || sentAt < 0 {
                if udp {
                    try UDPProbe.send(payload, port: server.udpPort)
                } else {
                    try HTTPProbe.send(payload, port: server.httpPort)
                }
                sentAt = Monotonic.now()
            }
            if try server.pointsCounted() >= before + payload.lineCount {
                Monotonic.sleep(0.5)  // a repeated probe still in flight lands before the baseline
                return
            }
            guard server.process.isRunning else {
                throw BenchError(
                    "\(server.kind.displayName) \(server.process.exitDescription); log: \(server.process.logPath)")
            }
            Monotonic.sleep(0.05)
        }
        throw BenchError(
            "\(server.kind.displayName) did not count 10 probe points sent over \(udp ? "UDP" : "HTTP") within 20 s; "
                + "log: \(server.process.logPath)")
    }

    /// When the target's UDP receive queue became empty after the load (it had read everything sent).
    func drainTime(udpPort: Int) -> Double {
        let deadline = Monotonic.now() + settleTimeout
        while Sockets.udpSocketState(port: udpPort).queued > 0, Monotonic.now() < deadline {
            Monotonic.sleep(0.005)
        }
        return Monotonic.now()
    }

    /// Counter samples taken after the load, until the count is final.
    struct Settled {
        var samples: [(time: Double, count: Int)]
        /// The count the target ended with.
        var count: Int
        /// The target's CPU time when that count was first seen: later idle time is not charged.
        var cpuSeconds: Double
        /// The target's CPU time at the last sample.
        var cpuNow: Double

        /// When the count first came within `margin` points of its final value.
        func caughtUp(within margin: Int) -> Double {
            samples.first { $0.count >= count - margin }?.time ?? samples.last!.time
        }
    }

    func settle(_ server: any TargetServer, expected: Int, loadEnd: Double) throws -> Settled {
        let pid = server.process.pid
        guard server.process.isRunning else {
            throw BenchError(
                "\(server.kind.displayName) \(server.process.exitDescription) during the load; "
                    + "log: \(server.process.logPath)")
        }
        var count = try server.pointsCounted()
        let cpu = try ProcessStats.cpuSeconds(pid: pid)
        var settled = Settled(samples: [(Monotonic.now(), count)], count: count, cpuSeconds: cpu, cpuNow: cpu)
        var changedAt = Monotonic.now()
        while count < expected, Monotonic.now() - changedAt < quietPeriod, Monotonic.now() - loadEnd < settleTimeout {
            Monotonic.sleep(0.1)
            count = try server.pointsCounted()
            let now = Monotonic.now()
            settled.samples.append((now, count))
            settled.cpuNow = try ProcessStats.cpuSeconds(pid: pid)
            if count != settled.count {
                settled.count = count
                settled.cpuSeconds = settled.cpuNow
                changedAt = now
            }
        }
        return settled
    }
}
