import ArgumentParser
import Foundation
import Glibc

/// What `gateway-bench` sets up before the scenarios: the binaries, CPU pinning, the work folder,
/// and the header that says how the run was made.
extension BenchCommand {
    /// Checks both binaries before anything starts; the temporary directory is made only then.
    func serverSettings(workDirectory makeDirectory: @autoclosure () throws -> String) throws -> ServerSettings {
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

    func printHeader(settings: ServerSettings, plan: [(scenario: Scenario, targets: [TargetKind])]) {
        let plural = runs == 1 ? "" : "s"
        print("gateway-bench: \(runs) run\(plural) of \(Report.fixed(duration, 1)) s per scenario and target")
        let names = plan.map {
            $0.targets == [.vm] ? "\($0.scenario.name) (VictoriaMetrics only: reference)" : $0.scenario.name
        }
        print("  scenarios: \(names.joined(separator: ", "))")
        let scenarios = plan.map(\.scenario)
        if plan.contains(where: { $0.targets.contains(.gateway) }) {
            print("  gateway: \(settings.gatewayPath) (blackhole sink, queue 4,000,000, batch 5,000, when_full: block)")
        }
        if let vm = settings.victoriaMetricsPath { print("  victoria-metrics: \(vm)") }
        if let bench = settings.benchCPU, let target = settings.targetCPU {
            print("  load generator pinned to CPU \(bench), targets to CPU \(target)")
        } else {
            print("  no CPU pinning")
        }
        if scenarios.contains(where: {
            if case .spoolWrite = $0 { return true }; if case .spoolReplay = $0 { return true }; return false
        }) {
            print(
                "  spool: batches of \(spoolBatch) points, SpoolStore in this process (CPU "
                    + "\(settings.benchCPU.map(String.init) ?? "any")), gzip level 1, SQLite WAL, sync normal")
        }
        if scenarios.contains(where: {
            if case .e2eUDP = $0 { return true }; if case .e2eRSS = $0 { return true }; return false
        }) {
            var line =
                "  e2e: gateway influx2 sink (batch \(GatewayServer.batchSize), gzip \(noGzip ? "off" : "on"), max_in_flight \(inFlight), "
                + "flush 200ms, "
                + "spool on, queue 500,000, when_full: block)"
            if let bench = settings.benchCPU, let target = settings.targetCPU {
                line +=
                    "\n    e2e-udp: gateway on CPU \(bench) with the load generator, VictoriaMetrics on CPU \(target); "
                    + "e2e-rss: gateway on CPU \(target), nothing listening on its sink's port"
            }
            print(line)
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

    func log(_ message: String) {
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
