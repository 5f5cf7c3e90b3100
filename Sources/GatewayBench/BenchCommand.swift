import ArgumentParser
import Foundation
import Glibc

/// `gateway-bench`: the gateway's ingest rate and cost next to VictoriaMetrics' own line-protocol
/// ingest, under the same load on the same machine, so that a figure means something on its own.
@main
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway-bench",
        abstract: "Compare the gateway's line-protocol ingest (to a blackhole sink) with VictoriaMetrics'.",
        discussion: """
            Starts a fresh gateway and a fresh VictoriaMetrics for every run on free loopback ports, sends \
            them the same pre-generated load, and reads what each counted from its own /metrics. Scenarios: \
            udp-<rate> (10 lines per datagram with sendmmsg, paced) and http-<n>c (POST /api/v2/write, 5,000 \
            lines per body, n keep-alive connections, as fast as answered). With two or more CPUs the load \
            generator runs on CPU 0 and the targets on CPU 1. Prints a table of medians, then one RESULT line \
            per scenario and target and one RATIO line (gateway/VictoriaMetrics) per scenario.
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

    @Option(help: "Only these scenarios: names or prefixes (udp, udp-1M, http-4c); repeat or give a list.")
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

    @Flag(help: "Do not pin the load generator and the targets to separate CPUs.")
    var noPin = false

    @Flag(help: "Keep the temporary directory (configurations, logs) even when everything succeeded.")
    var keepTemp = false

    // MARK: Validation

    var scenarios: [Scenario] {
        get throws {
            let rates = try Self.list(udpRates, default: "1M,200k", what: "--udp-rate")
            let connections = try Self.list(httpConnections, default: "4,1", what: "--http-connections")
            let filters = scenario.flatMap { $0.split(separator: ",").map(String.init) }
            let all =
                rates.map { Scenario.udp(pointsPerSecond: $0) } + connections.map { Scenario.http(connections: $0) }
            return all.filter { $0.isSelected(by: filters) }
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
        guard try !scenarios.isEmpty else { throw ValidationError("--scenario selects no scenario") }
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
        let scenarios = try self.scenarios
        let targets: [TargetKind] = skipVm ? [.gateway] : [.gateway, .vm]
        if let cpu = settings.benchCPU { CPUAffinity.pinCurrentThread(to: cpu) }
        printHeader(settings: settings, scenarios: scenarios)

        let timestamps = TimestampAllocator()
        let measurement = Measurement(settings: settings, timestamps: timestamps, duration: duration)
        var summaries: [TargetSummary] = []
        for scenario in scenarios {
            var results: [TargetKind: [RunResult]] = [:]
            switch scenario {
            case .udp(let rate):
                let lines = Int((Double(rate) * duration).rounded(.up))
                log("\(scenario.name): generating \(Report.grouped(lines)) lines")
                let load = UDPLoad(
                    payload: Payload(lines: lines, linesPerChunk: linesPerDatagram, timestamps: timestamps))
                for run in 1...runs {
                    for target in targets {
                        if run > 1 || target != targets.first { load.payload.renew(timestamps) }
                        var result = try measurement.udp(
                            target, load: load, pointsPerSecond: rate,
                            label: "\(scenario.name)-\(run)-\(target.rawValue)")
                        result.scenario = scenario.name
                        Report.progress(result, run: run, of: runs)
                        results[target, default: []].append(result)
                    }
                }
            case .http(let connections):
                let bodies = "\(connections) x \(Self.bodiesPerConnection) bodies of \(linesPerBody) lines"
                log("\(scenario.name): generating \(bodies)")
                let load = HTTPLoad(
                    connections: connections, linesPerBody: linesPerBody, bodiesPerConnection: Self.bodiesPerConnection,
                    timestamps: timestamps)
                for run in 1...runs {
                    for target in targets {
                        if run > 1 || target != targets.first { load.pools.forEach { $0.renew(timestamps) } }
                        var result = try measurement.http(
                            target, load: load, label: "\(scenario.name)-\(run)-\(target.rawValue)")
                        result.scenario = scenario.name
                        Report.progress(result, run: run, of: runs)
                        results[target, default: []].append(result)
                    }
                }
            }
            for target in targets {
                summaries.append(TargetSummary(scenario: scenario.name, target: target, results: results[target] ?? []))
            }
        }
        Report.table(summaries, runs: runs)
        Report.machineLines(summaries)
    }

    /// Bodies pre-generated per HTTP connection (5,000 lines each: about 19 MB per connection); when all
    /// have been sent their timestamps move on and they are sent again.
    static let bodiesPerConnection = 40

    /// Checks both binaries before anything starts; the temporary directory is made only then.
    private func serverSettings(workDirectory makeDirectory: @autoclosure () throws -> String) throws -> ServerSettings
    {
        guard Files.isExecutable(gateway) else {
            throw BenchError(
                "no gateway binary at \(gateway): build it with `swift build -c release --product gateway` "
                    + "or pass --gateway PATH")
        }
        var vmPath: String?
        if !skipVm {
            guard let found = Files.resolveExecutable(victoriaMetrics) else {
                throw BenchError(
                    "VictoriaMetrics not found (\(victoriaMetrics)): install the Debian package "
                        + "(apt-get install victoria-metrics), pass --victoria-metrics PATH, or measure the gateway "
                        + "alone with --skip-vm")
            }
            vmPath = found
        }
        let pin = !noPin && CPUAffinity.cpuCount >= 2
        return ServerSettings(
            gatewayPath: gateway, victoriaMetricsPath: vmPath, workDirectory: try makeDirectory(),
            targetCPU: pin ? 1 : nil, benchCPU: pin ? 0 : nil, udpReceiveBuffer: receiveBufferMib << 20)
    }

    private func printHeader(settings: ServerSettings, scenarios: [Scenario]) {
        let plural = runs == 1 ? "" : "s"
        print("gateway-bench: \(runs) run\(plural) of \(Report.fixed(duration, 1)) s per scenario and target")
        print("  scenarios: \(scenarios.map(\.name).joined(separator: ", "))")
        print("  gateway: \(settings.gatewayPath) (blackhole sink, queue 4,000,000, batch 5,000, when_full: block)")
        if let vm = settings.victoriaMetricsPath { print("  victoria-metrics: \(vm)") }
        if let bench = settings.benchCPU, let target = settings.targetCPU {
            print("  load generator pinned to CPU \(bench), targets to CPU \(target)")
        } else {
            print("  no CPU pinning")
        }
        var buffer = "  UDP receive buffer: \(receiveBufferMib) MiB for the gateway"
        if !skipVm {
            buffer +=
                ReceiveBufferDefault.isWritable
                ? " and VictoriaMetrics (net.core.rmem_default raised while it starts)"
                : "; VictoriaMetrics gets the system default (not root: cannot raise net.core.rmem_default)"
        }
        print(buffer)
        let sample = Payload(lines: 10_000, linesPerChunk: 10_000, timestamps: TimestampAllocator())
        print(
            "  lines: \(LineGenerator.seriesCount) series, \(LineGenerator.fieldsPerLine) fields, "
                + "\(sample.byteCount / sample.lineCount) bytes on average; \(linesPerDatagram) per datagram, "
                + "\(linesPerBody) per HTTP body")
        print("  logs and configurations: \(settings.workDirectory)")
        fflush(nil)
    }

    private func log(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    static func makeTemporaryDirectory() throws -> String {
        var template = Array("/tmp/gateway-bench.XXXXXX".utf8CString)
        guard let path = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw BenchError.system("mkdtemp")
        }
        return String(cString: path)
    }
}
