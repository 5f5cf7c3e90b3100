import ArgumentParser
import Foundation
import Glibc

/// `gateway-bench`: the gateway's ingest rate and cost next to VictoriaMetrics' own line-protocol
/// ingest, under the same load on the same machine, so that a figure means something on its own.
@main
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway-bench",
        abstract:
            "Compare the gateway's ingest with VictoriaMetrics'; measure its spool and its path to VictoriaMetrics.",
        discussion: """
            Starts a fresh gateway and a fresh VictoriaMetrics for every run on free loopback ports, sends \
            them the same pre-generated load, and reads what each counted from its own /metrics. With two or \
            more CPUs the load generator runs on CPU 0 and the targets on CPU 1. Prints a table of medians, \
            then one RESULT line per scenario and target and one RATIO line per scenario. --scenario takes \
            names or prefixes: udp, http, spool, e2e, e2e-udp, spool-write...

            Ingest (the gateway with a blackhole sink, and VictoriaMetrics, under the same load): udp-<rate> \
            sends 10 lines per datagram with sendmmsg, paced to the rate; http-<n>c posts 5,000-line bodies \
            to /api/v2/write over n keep-alive connections, as fast as answered.

            spool-write: in this process (CPU 0), batches of 5,000 of the same points, decoded before the \
            clock starts, are encoded to line protocol, gzipped (SpoolPayload) and appended to a fresh \
            SpoolStore (SQLite WAL, sync normal) for --duration seconds: points/s against the 1,000,000 \
            points/s target, MB/s of gzip payload, and the wall time of each step.

            spool-replay: a spool of --replay-points points is filled while no server runs; then a fresh \
            VictoriaMetrics starts and an InfluxSink in this process (max_in_flight --in-flight) calls \
            replay() until the spool is empty. This is the code the gateway's replayer runs, driven without the gateway binary, so the \
            clock covers the replay alone rather than backoff timers and /metrics polling. Ratio: over \
            VictoriaMetrics' direct /api/v2/write rate with 1 connection (http-1c), and over the rate of a \
            second fresh VictoriaMetrics sent the very same bodies directly over --in-flight connections.

            e2e-udp-<rate>: UDP at --e2e-rate to the gateway binary, whose influx2 sink (batch 5,000, gzip, \
            spool on, queue 500,000, when_full: block) writes to VictoriaMetrics' /api/v2/write. \
            VictoriaMetrics runs on CPU 1 as in its direct runs; the gateway on CPU 0, beside the load \
            generator. Delivered = VictoriaMetrics' own row count (cross-checked by a query after \
            /internal/force_flush), timed until the gateway's last acknowledged batch. Ratios: over \
            VictoriaMetrics' direct rates with 1 and 4 connections (http-1c, http-4c); the 75 % target is \
            judged only when the pipeline, not the offered rate, set the rate: points were lost (over 1 %) \
            or delivery took notably longer than the load (under 95 % of the offered rate).

            proc-pass: the proc plugin's collection pass (ProcCollector, in this process) per process, \
            against psutil's process_iter reading the same figures, rounds alternating; --proc-extra sleeping \
            processes are started first so there are a few hundred to read. Target: under 10 us per process.

            jobdir-scan: the jobdir plugin's scan (in this process) of a storage root of --jobdir-pairs pairs \
            in 1,000 folders, against find ROOT -type f over the same tree, rounds alternating: the walk alone, \
            a first scan queueing every pair into a fresh state file, and a rescan where all are known.

            statsd-<rate>: StatsD lines over UDP (10 per datagram, 10,000 series: counters and timings), paced \
            to the rate, to the gateway's statsd listener (blackhole sink) and to collectd's statsd plugin \
            (--collectd; skipped when absent), both aggregating every 2 s. Lines aggregated as each counts \
            them: the gateway's gateway_statsd_lines_total minus its rejected lines, collectd's csv output \
            (counters' cumulative derive values, timers' per-interval counts). Under the table: each one's \
            highest rate without loss.

            e2e-rss-<rate>: UDP at --rss-rate for --duration seconds to a gateway whose influx2 sink's port \
            has no server (an outage): its RSS every second (first, after 1 s, last, max) and what went to \
            the spool.

            agents-udp-<rate>, agents-http-<n>c: the same line protocol (UDP at --agents-udp-rate; or \
            --agents-http-points points over n HTTP connections, each body once) to an agent that writes \
            it to a fresh VictoriaMetrics: the gateway's influx2 sink (/api/v2/write), its \
            prometheus_remote_write sink (/api/v1/write) and vmagent (remote write), in the same run. The \
            agent on CPU 0 beside the load generator, VictoriaMetrics on CPU 1. Points/s delivered (counted \
            by VictoriaMetrics), the agent's CPU-us per point and peak RSS; ratios rw/influx2 (target 1.5x) \
            and rw/vmagent.

            agents-outage-<n>: the same agents take --agents-outage-points points over HTTP while their \
            VictoriaMetrics is down (the gateway spools, vmagent queues on disk); then it returns on the \
            same port and storage. Counted = what it inserted after its return (every point once); the \
            rate is the drain after its return (retry backoff included); CPU and peak RSS over the run.

            encode: in this process, 5,000-point batches encoded for influx2 (line protocol + gzip) and \
            for remote write (mapping + protobuf + snappy; the sink's protobuf writer and SwiftProtobuf's).

            The http-1c and http-4c figures the ratios need come from those scenarios when selected, else \
            VictoriaMetrics alone is measured for them in the same benchmark run.
            """)

    @Option(help: "Runs per scenario and target; the table shows medians.")
    var runs = 3

    @Option(help: "Seconds of load per run.")
    var duration = 10.0

    @Option(
        name: .customLong("udp-rate"),
        help: "UDP target rate in points/s (1M, 200k, 250000); repeat or give a list. Default: 1M,200k.")
    var udpRates: [String] = []

    @Option(
        name: .customLong("http-connections"),
        help: "HTTP keep-alive connections per scenario; repeat or give a list. Default: 4,1.")
    var httpConnections: [String] = []

    @Option(
        name: .customLong("e2e-rate"),
        help: "e2e-udp offered UDP rate in points/s; repeat or give a list. Default: 500k,200k.")
    var e2eRates: [String] = []

    @Option(
        name: .customLong("agents-udp-rate"),
        help: "agents-udp offered UDP rate in points/s; repeat or give a list. Default: 300k.")
    var agentsUDPRates: [String] = []

    @Option(name: .customLong("agents-http-points"), help: "agents-http: points sent over the connections.")
    var agentsHTTPPoints = "1M"

    @Option(
        name: .customLong("agents-outage-points"),
        help: "agents-outage: points sent while VictoriaMetrics is down (then it comes back).")
    var agentsOutagePoints = "500k"

    @Option(name: .customLong("agents-http-connections"), help: "agents-http: HTTP connections.")
    var agentsHTTPConnections = 4

    @Option(help: "The vmagent binary for the agents-* scenarios (looked up on PATH).")
    var vmagent = "vmagent"

    @Option(
        name: .customLong("statsd-rate"),
        help: "statsd scenarios: StatsD lines/s over UDP; repeat or give a list. Default: 1M,150k.")
    var statsdRates: [String] = []

    @Option(help: "statsd scenarios: collectd, the peer (Debian collectd-core); measured when present.")
    var collectd = "/usr/sbin/collectd"

    @Option(name: .customLong("rss-rate"), help: "e2e-rss UDP rate in points/s during the outage.")
    var rssRate = "200k"

    @Option(name: .customLong("replay-points"), help: "Points in the spool that spool-replay drains.")
    var replayPoints = "2M"

    @Option(name: .customLong("spool-batch"), help: "Points per batch in the spool scenarios.")
    var spoolBatch = 5000

    @Option(name: .customLong("proc-passes"), help: "proc-pass: passes per round for each of the gateway and psutil.")
    var procPasses = 50

    @Option(name: .customLong("jobdir-pairs"), help: "jobdir-scan: pairs in the storage root (twice as many files).")
    var jobdirPairs = 50_000

    @Option(
        name: .customLong("proc-extra"), help: "proc-pass: sleeping processes started so the pass has more to read.")
    var procExtra = 256

    @Option(
        name: .customLong("in-flight"),
        help: "e2e and spool-replay: the influx2 sink's max_in_flight (batches on the wire at once).")
    var inFlight = 2

    @Flag(help: "e2e and spool-replay: the influx2 sink sends plain bodies (gzip: false) instead of gzip.")
    var noGzip = false

    @Option(
        help: "Only these scenarios: names or prefixes (udp, http-4c, spool, e2e, e2e-udp...); repeat or give a list."
    )
    var scenario: [String] = []

    @Option(help: "The gateway binary.")
    var gateway = ".build/release/gateway"

    @Option(name: .customLong("victoria-metrics"), help: "The VictoriaMetrics binary (looked up on PATH).")
    var victoriaMetrics = "victoria-metrics"

    @Flag(help: "Measure the gateway alone (no VictoriaMetrics, no ratios).")
    var skipVm = false

    @Option(help: "Lines per UDP datagram.")
    var linesPerDatagram = 10

    @Option(help: "Lines per HTTP body.")
    var linesPerBody = 5000

    @Option(help: "UDP receive buffer of both targets, in MiB.")
    var receiveBufferMib = 32

    @Flag(
        help:
            "udp scenarios: also run the gateway with a live tap client attached that never reads (one series), in the same runs."
    )
    var stalledTap = false

    @Flag(help: "Do not pin the load generator and the targets to separate CPUs.")
    var noPin = false

    @Flag(help: "Keep the temporary directory (configurations, logs) even when everything succeeded.")
    var keepTemp = false

    // MARK: Validation

    /// The selected scenarios, in run order; under --skip-vm, those that need VictoriaMetrics are left out.
    var scenarios: [Scenario] {
        get throws {
            let rates = try Self.list(udpRates, default: "1M,200k", what: "--udp-rate")
            let connections = try Self.list(httpConnections, default: "4,1", what: "--http-connections")
            let e2e = try Self.list(e2eRates, default: "500k,200k", what: "--e2e-rate")
            let rss = try Self.list([rssRate], default: "200k", what: "--rss-rate")
            let replay = try Self.list([replayPoints], default: "2M", what: "--replay-points")
            let agentsUDP = try Self.list(agentsUDPRates, default: "300k", what: "--agents-udp-rate")
            let agentsHTTP = try Self.list([agentsHTTPPoints], default: "1M", what: "--agents-http-points")
            let agentsOutage = try Self.list([agentsOutagePoints], default: "500k", what: "--agents-outage-points")
            let statsd = try Self.list(statsdRates, default: "1M,150k", what: "--statsd-rate")
            let filters = scenario.flatMap { $0.split(separator: ",").map(String.init) }
            let all =
                rates.map { Scenario.udp(pointsPerSecond: $0) } + connections.map { Scenario.http(connections: $0) }
                + [.spoolWrite] + replay.map { Scenario.spoolReplay(points: $0) }
                + e2e.map { Scenario.e2eUDP(pointsPerSecond: $0) } + rss.map { Scenario.e2eRSS(pointsPerSecond: $0) }
                + [.procPass, .jobdirScan, .encode] + agentsUDP.map { Scenario.agentsUDP(pointsPerSecond: $0) }
                + agentsHTTP.map { Scenario.agentsHTTP(connections: agentsHTTPConnections, points: $0) }
                + agentsOutage.map { Scenario.agentsOutage(connections: agentsHTTPConnections, points: $0) }
                + statsd.map { Scenario.statsd(linesPerSecond: $0) }
            return all.filter { $0.isSelected(by: filters) && !(skipVm && $0.needsVictoriaMetrics) }
        }
    }

    /// What runs, in order: each selected scenario with its targets, plus the VictoriaMetrics-only
    /// http-<n>c runs the replay and e2e ratios need when those scenarios were not selected.
    var plan: [(scenario: Scenario, targets: [TargetKind])] {
        get throws {
            let selected = try scenarios
            let selectedConnections = selected.compactMap { scenario -> Int? in
                if case .http(let n) = scenario { return n }
                return nil
            }
            var references: [Int] = []
            for scenario in selected {
                for n in scenario.referenceConnections
                where !selectedConnections.contains(n) && !references.contains(n) {
                    references.append(n)
                }
            }
            var out: [(scenario: Scenario, targets: [TargetKind])] = []
            let ingestTargets: [TargetKind] =
                (stalledTap ? [.gateway, .gatewayTap] : [.gateway]) + (skipVm ? [] : [.vm])
            // HTTP: the gateway as shipped (ack: durable) and with ack: memory, in the same run.
            let httpTargets: [TargetKind] = skipVm ? [.gateway, .gatewayMemory] : [.gateway, .gatewayMemory, .vm]
            for scenario in selected {
                switch scenario {
                case .udp: out.append((scenario, ingestTargets))
                case .http: out.append((scenario, httpTargets))
                default: break
                }
            }
            for n in references.sorted(by: >) { out.append((.http(connections: n), [.vm])) }
            for scenario in selected {
                switch scenario {
                case .udp, .http: break
                case .spoolWrite: out.append((scenario, [.spool]))
                case .spoolReplay: out.append((scenario, [.replay]))
                case .e2eUDP: out.append((scenario, [.e2e]))
                case .e2eRSS: out.append((scenario, [.outage]))
                case .procPass, .encode: out.append((scenario, [.proc]))
                case .jobdirScan: out.append((scenario, [.jobdir]))
                case .agentsUDP, .agentsHTTP, .agentsOutage: out.append((scenario, AgentBench.targets))
                case .statsd: out.append((scenario, Files.isExecutable(collectd) ? [.gateway, .collectd] : [.gateway]))
                }
            }
            return out
        }
    }

    static func list(_ values: [String], default fallback: String, what: String) throws -> [Int] {
        let items = (values.isEmpty ? [fallback] : values).flatMap { $0.split(separator: ",") }.map(String.init)
        return try items.map { item in
            guard let value = Scenario.parseCount(item.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("\(what): expected a positive number such as 200k, 1M or 4, got \"\(item)\"")
            }
            return value
        }
    }

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard duration > 0 else { throw ValidationError("--duration must be above zero") }
        guard (1...1000).contains(linesPerDatagram) else { throw ValidationError("--lines-per-datagram: 1 to 1000") }
        guard linesPerBody >= 1 else { throw ValidationError("--lines-per-body must be at least 1") }
        guard spoolBatch >= 1 else { throw ValidationError("--spool-batch must be at least 1") }
        guard try !scenarios.isEmpty else {
            throw ValidationError(
                "--scenario selects no scenario"
                    + (skipVm ? " (spool-replay and e2e-udp need VictoriaMetrics: not with --skip-vm)" : ""))
        }
    }

    // MARK: Run

    func run() throws {
        ChildRegistry.installSignalHandlers()
        let settings: ServerSettings
        do {
            settings = try serverSettings(workDirectory: Self.makeTemporaryDirectory())
        } catch {
            FileHandle.standardError.write(Data("gateway-bench: error: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let workDirectory = settings.workDirectory
        do {
            try benchmark(settings: settings)
        } catch {
            FileHandle.standardError.write(Data("gateway-bench: error: \(error)\n".utf8))
            FileHandle.standardError.write(
                Data("gateway-bench: logs and configurations kept in \(workDirectory)\n".utf8))
            throw ExitCode.failure
        }
        if !keepTemp { try? FileManager.default.removeItem(atPath: workDirectory) }
    }

    private func benchmark(settings: ServerSettings) throws {
        let plan = try self.plan
        if let cpu = settings.benchCPU { CPUAffinity.pinCurrentThread(to: cpu) }
        printHeader(settings: settings, plan: plan)

        let timestamps = TimestampAllocator()
        let measurement = Measurement(settings: settings, timestamps: timestamps, duration: duration)
        let spoolBench = SpoolBench(
            settings: settings, timestamps: timestamps, measurement: measurement, duration: duration,
            batchSize: spoolBatch, gzip: !noGzip, maxInFlight: inFlight)
        let endToEnd = EndToEnd(
            settings: settings, measurement: measurement, duration: duration, gzip: !noGzip, maxInFlight: inFlight)
        let agents = AgentBench(
            settings: settings, measurement: measurement, timestamps: timestamps, duration: duration,
            vmagentPath: Files.resolveExecutable(vmagent) ?? vmagent, maxInFlight: inFlight)
        var summaries: [TargetSummary] = []
        for (scenario, targets) in plan {
            var results: [TargetKind: [RunResult]] = [:]
            /// Runs `measure` for every run and target, with fresh timestamps for all but the first.
            func repeatRuns(renew: () -> Void, _ measure: (TargetKind, String) throws -> RunResult) throws {
                for run in 1...runs {
                    for target in targets {
                        if run > 1 || target != targets.first { renew() }
                        var result = try measure(target, "\(scenario.name)-\(run)-\(target.rawValue)")
                        result.scenario = scenario.name
                        Report.progress(result, run: run, of: runs)
                        results[target, default: []].append(result)
                    }
                }
            }
            switch scenario {
            case .agentsUDP(let rate):
                let lines = Int((Double(rate) * duration).rounded(.up))
                log("\(scenario.name): generating \(Report.grouped(lines)) lines")
                let load = UDPLoad(
                    payload: Payload(lines: lines, linesPerChunk: linesPerDatagram, timestamps: timestamps))
                try repeatRuns(renew: { load.payload.renew(timestamps) }) { target, label in
                    try agents.run(target, load: .udp(load, pointsPerSecond: rate), label: label)
                }
            case .agentsHTTP(let connections, let points), .agentsOutage(let connections, let points):
                let bodies = max(1, points / (connections * linesPerBody))
                log("\(scenario.name): generating \(connections) x \(bodies) bodies of \(linesPerBody) lines")
                let load = HTTPLoad(
                    connections: connections, linesPerBody: linesPerBody, bodiesPerConnection: bodies,
                    timestamps: timestamps)
                try repeatRuns(renew: { load.pools.forEach { $0.renew(timestamps) } }) { target, label in
                    if case .agentsOutage = scenario { return try agents.outage(target, load: load, label: label) }
                    return try agents.run(target, load: .http(load), label: label)
                }
            case .udp(let rate), .e2eUDP(let rate), .e2eRSS(let rate):
                let lines = Int((Double(rate) * duration).rounded(.up))
                log("\(scenario.name): generating \(Report.grouped(lines)) lines")
                let load = UDPLoad(
                    payload: Payload(lines: lines, linesPerChunk: linesPerDatagram, timestamps: timestamps))
                try repeatRuns(renew: { load.payload.renew(timestamps) }) { target, label in
                    switch scenario {
                    case .e2eUDP: return try endToEnd.udp(load: load, pointsPerSecond: rate, label: label)
                    case .e2eRSS: return try endToEnd.rss(load: load, pointsPerSecond: rate, label: label)
                    default: return try measurement.udp(target, load: load, pointsPerSecond: rate, label: label)
                    }
                }
            case .http(let connections):
                let bodies = "\(connections) x \(Self.bodiesPerConnection) bodies of \(linesPerBody) lines"
                log(
                    "\(scenario.name): generating \(bodies)"
                        + (targets == [.vm] ? " (VictoriaMetrics only, reference)" : "")
                )
                let load = HTTPLoad(
                    connections: connections, linesPerBody: linesPerBody, bodiesPerConnection: Self.bodiesPerConnection,
                    timestamps: timestamps)
                try repeatRuns(renew: { load.pools.forEach { $0.renew(timestamps) } }) { target, label in
                    try measurement.http(target, load: load, label: label)
                }
            case .spoolWrite:
                let lines = Self.spoolPoolBatches * spoolBatch
                log("\(scenario.name): generating and decoding \(Report.grouped(lines)) lines (cycled)")
                let pool = try SpoolBench.batches(lines: lines, batchSize: spoolBatch, timestamps: timestamps)
                try repeatRuns(renew: {}) { _, label in try spoolBench.write(pool: pool, label: label) }
            case .encode:
                log("\(scenario.name): \(runs) rounds, influx2 and remote write alternating")
                try EncodeBench(runs: runs, batchSize: spoolBatch, timestamps: timestamps).run()
                continue
            case .procPass:
                log("\(scenario.name): \(runs) rounds of \(procPasses) passes, gateway and psutil alternating")
                try ProcBench(runs: runs, passes: procPasses, extraProcesses: procExtra).run()
                continue
            case .jobdirScan:
                log(
                    "\(scenario.name): \(runs) rounds over \(Report.grouped(2 * jobdirPairs)) files, find and the gateway alternating"
                )
                try JobdirBench(runs: runs, pairs: jobdirPairs).run()
                continue
            case .statsd(let rate):
                let lines = Int((Double(rate) * duration).rounded(.up))
                log(
                    "\(scenario.name): generating \(Report.grouped(lines)) StatsD lines over \(StatsDBench.seriesCount) series"
                )
                let load = UDPLoad(payload: StatsDBench.payload(lines: lines, linesPerDatagram: linesPerDatagram))
                try repeatRuns(renew: {}) { target, label in
                    let server: any StatsDTarget =
                        target == .collectd
                        ? try CollectdServer.start(label: label, settings: settings, executable: collectd)
                        : try StatsDGateway(label: label, settings: settings)
                    return try measurement.statsd(server, load: load, linesPerSecond: rate)
                }
            case .spoolReplay(let points):
                log("\(scenario.name): \(Report.grouped(points)) points per run, generated, spooled, then replayed")
                try repeatRuns(renew: {}) { _, label in try spoolBench.replay(points: points, label: label) }
            }
            for target in targets {
                summaries.append(TargetSummary(scenario: scenario.name, target: target, results: results[target] ?? []))
            }
        }
        Report.table(summaries, runs: runs)
        Report.notes(summaries)
        Report.statsdNotes(summaries)
        Report.machineLines(summaries)
    }

    /// Batches of points spool-write cycles through (decoded once, before the runs).
    static let spoolPoolBatches = 40

    /// Bodies pre-generated per HTTP connection (5,000 lines each: about 19 MB per connection); when all
    /// have been sent their timestamps move on and they are sent again.
    static let bodiesPerConnection = 40
}
