import Foundation

/// The median of each figure over a scenario's runs for one target: one run may be disturbed (a
/// page-cache flush, a timer), the median ignores it where a mean would not.
struct TargetSummary {
    var scenario: String
    var target: TargetKind
    var runs: Int
    var pointsPerSecond: Double
    var offeredPerSecond: Double
    var sent: Double
    var counted: Double
    var loss: Double
    var lossPercent: Double
    var cpuSeconds: Double
    var cpuMicrosPerPoint: Double
    var peakRSSMegabytes: Double
    var errors: Double
    var kernelDrops: Double
    /// Runs during which other processes used much CPU (see ``RunResult/isDisturbed``).
    var disturbedRuns: Int
    /// Medians of the scenario's own figures, in the order the runs gave them.
    var extras: [Extra]

    init(scenario: String, target: TargetKind, results: [RunResult]) {
        self.scenario = scenario
        self.target = target
        runs = results.count
        pointsPerSecond = Self.median(results.map(\.pointsPerSecond))
        offeredPerSecond = Self.median(results.map(\.offeredPerSecond))
        sent = Self.median(results.map { Double($0.sent) })
        counted = Self.median(results.map { Double($0.counted) })
        loss = Self.median(results.map { Double($0.loss) })
        lossPercent = Self.median(results.map(\.lossPercent))
        cpuSeconds = Self.median(results.map(\.cpuSeconds))
        cpuMicrosPerPoint = Self.median(results.map(\.cpuMicrosPerPoint))
        peakRSSMegabytes = Self.median(results.map(\.peakRSSMegabytes))
        errors = Self.median(results.map { Double($0.errors) })
        kernelDrops = Self.median(results.map { Double($0.kernelDrops) })
        disturbedRuns = results.filter(\.isDisturbed).count
        var keys: [Extra] = []
        for result in results {
            for extra in result.extras where !keys.contains(where: { $0.key == extra.key }) { keys.append(extra) }
        }
        extras = keys.map { key in
            Extra(key.key, Self.median(results.compactMap { $0.extra(key.key) }), key.unit)
        }
    }

    func extra(_ key: String) -> Double? { extras.first { $0.key == key }?.value }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}

/// The printed report: a progress line per run (stderr), then the table of medians and the
/// machine-readable RESULT and RATIO lines (stdout).
enum Report {
    static func progress(_ result: RunResult, run: Int, of runs: Int) {
        var line =
            "  \(result.scenario) run \(run)/\(runs) \(result.target.displayName): sent \(grouped(result.sent)) "
            + "(\(grouped(result.offeredPerSecond))/s), counted \(grouped(result.counted)), "
            + "loss \(grouped(result.loss)) (\(fixed(result.lossPercent, 2)) %), "
            + "\(grouped(result.pointsPerSecond)) points/s, CPU \(fixed(result.cpuSeconds, 2)) s = "
            + "\(fixed(result.cpuMicrosPerPoint, 3)) us/point, peak RSS \(fixed(result.peakRSSMegabytes, 1)) MB"
        if result.kernelDrops > 0 { line += ", kernel dropped \(grouped(result.kernelDrops)) datagrams" }
        if result.errors > 0 { line += ", \(grouped(result.errors)) errors" }
        if let note = result.note { line += "\n    \(note)" }
        if let error = result.firstError { line += "\n    first error: \(error)" }
        if result.isDisturbed {
            line +=
                "\n    disturbed: other processes (or steal) took \(fixed(result.otherCPUSeconds, 1)) CPU-s "
                + "during this \(fixed(result.wallSeconds, 1)) s run"
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    static let columns: [(title: String, width: Int)] = [
        ("scenario", 13), ("target", 18), ("points/s", 11), ("sent", 12), ("counted", 12), ("loss", 10),
        ("loss %", 7), ("CPU s", 7), ("CPU us/pt", 10), ("peak RSS MB", 12), ("errors", 7),
    ]

    static func table(_ summaries: [TargetSummary], runs: Int) {
        guard !summaries.isEmpty else { return }  // proc-pass alone prints its own lines
        print("")
        print("Medians of \(runs) run\(runs == 1 ? "" : "s") per scenario and target:")
        print(row(columns.map(\.title)))
        print(row(columns.map { String(repeating: "-", count: $0.width) }))
        var lastScenario: String?
        for summary in summaries {
            if let lastScenario, lastScenario != summary.scenario { ratioRows(summaries, scenario: lastScenario) }
            lastScenario = summary.scenario
            print(
                row([
                    summary.scenario, summary.target.displayName + (summary.disturbedRuns > 0 ? " *" : ""),
                    grouped(summary.pointsPerSecond), grouped(summary.sent),
                    grouped(summary.counted), grouped(summary.loss), fixed(summary.lossPercent, 2),
                    fixed(summary.cpuSeconds, 2), fixed(summary.cpuMicrosPerPoint, 3),
                    fixed(summary.peakRSSMegabytes, 1), grouped(summary.errors),
                ]))
        }
        if let lastScenario { ratioRows(summaries, scenario: lastScenario) }
        if summaries.contains(where: { $0.disturbedRuns > 0 }) {
            print("* other processes (or hypervisor steal) took over a tenth of a CPU in some of these runs: disturbed")
        }
        print("")
    }

    /// One ratio of a scenario: the gateway over VictoriaMetrics (udp, http), a rate over its target
    /// (spool-write), or a rate over VictoriaMetrics' direct `/api/v2/write` rate of the same
    /// benchmark run (spool-replay, e2e-udp).
    struct Ratio {
        /// In the table's target column: "gateway/vm", "e2e/vm-http-1c".
        var label: String
        /// On the RATIO line: "gateway/vm", "e2e/vm_http_1c".
        var key: String
        var rate: Double
        /// CPU-µs per point over the reference's, where that compares like with like.
        var cpu: Double?
        /// The ratio the project aims for, if any.
        var target: Double?
    }

    /// The share of VictoriaMetrics' direct rate issue 3 asks the end-to-end path to reach.
    static let e2eTargetRatio = 0.75

    static func ratios(_ summaries: [TargetSummary], scenario: String) -> [Ratio] {
        func find(_ name: String, _ target: TargetKind) -> TargetSummary? {
            summaries.first { $0.scenario == name && $0.target == target }
        }
        if let gateway = find(scenario, .gateway),
            find(scenario, .vm) != nil || find(scenario, .gatewayMemory) != nil || find(scenario, .gatewayTap) != nil
        {
            var out: [Ratio] = []
            if let tapped = find(scenario, .gatewayTap) {
                out.append(
                    Ratio(
                        label: "stalled tap/none", key: "stalled_tap/no_tap",
                        rate: tapped.pointsPerSecond / gateway.pointsPerSecond,
                        cpu: tapped.cpuMicrosPerPoint / gateway.cpuMicrosPerPoint))
            }
            if let vm = find(scenario, .vm) {
                out.append(
                    Ratio(
                        label: "gateway/vm", key: "gateway/vm", rate: gateway.pointsPerSecond / vm.pointsPerSecond,
                        cpu: gateway.cpuMicrosPerPoint / vm.cpuMicrosPerPoint))
            }
            if let memory = find(scenario, .gatewayMemory) {
                out.append(
                    Ratio(
                        label: "durable/memory", key: "ack_durable/ack_memory",
                        rate: gateway.pointsPerSecond / memory.pointsPerSecond,
                        cpu: gateway.cpuMicrosPerPoint / memory.cpuMicrosPerPoint))
            }
            return out
        }
        if let rw = find(scenario, .agentRemoteWrite) {
            return agentRatios(
                rw: rw, influx: find(scenario, .agentInflux2), vmagent: find(scenario, .vmagent),
                outage: scenario.hasPrefix("agents-outage"))
        }
        if let gateway = find(scenario, .gateway), let collectd = find(scenario, .collectd) {
            return [
                Ratio(
                    label: "gateway/collectd", key: "gateway/collectd",
                    rate: gateway.pointsPerSecond / collectd.pointsPerSecond,
                    cpu: gateway.cpuMicrosPerPoint / collectd.cpuMicrosPerPoint)
            ]
        }
        if let spool = find(scenario, .spool) {
            return [
                Ratio(
                    label: "spool/target", key: "spool/target",
                    rate: spool.pointsPerSecond / SpoolBench.targetPointsPerSecond)
            ]
        }
        var out: [Ratio] = []
        let measured = find(scenario, .replay) ?? find(scenario, .e2e)
        if let measured {
            let name = measured.target == .replay ? "replay" : "e2e"
            let connections = measured.target == .replay ? [1] : [1, 4]
            for n in connections {
                guard let vm = find("http-\(n)c", .vm) else { continue }
                out.append(
                    Ratio(
                        label: "\(name)/vm-http-\(n)c", key: "\(name)/vm_http_\(n)c",
                        rate: measured.pointsPerSecond / vm.pointsPerSecond,
                        target: measured.target == .e2e ? e2eTargetRatio : nil))
            }
        }
        return out
    }

    /// Whether the pipeline, not the offered rate, set an e2e run's rate: it lost points, or it took
    /// notably longer than the load to deliver them (a backlog built up in its queue). Only then does
    /// the ratio to VictoriaMetrics' direct rate say what the pipeline can do.
    static func isSaturated(_ summary: TargetSummary) -> Bool {
        summary.lossPercent > 1 || summary.pointsPerSecond < 0.95 * summary.offeredPerSecond
    }

    private static func ratioRows(_ summaries: [TargetSummary], scenario: String) {
        for ratio in ratios(summaries, scenario: scenario) {
            var cells = [String](repeating: "", count: columns.count)
            cells[0] = scenario
            cells[1] = ratio.label
            cells[2] = fixed(ratio.rate, 3) + "x"
            if let cpu = ratio.cpu { cells[8] = fixed(cpu, 3) + "x" }
            if let target = ratio.target { cells[3] = "target " + fixed(target, 2) + "x" }
            print(row(cells))
        }
    }

    /// Under the table: the spool and end-to-end scenarios' own figures, in words.
    static func notes(_ summaries: [TargetSummary]) {
        let own = summaries.filter { ![.gateway, .gatewayMemory, .gatewayTap, .vm, .collectd].contains($0.target) }
        guard !own.isEmpty else { return }
        print("Spool and end-to-end scenarios (medians):")
        for s in own {
            var line = "  \(s.scenario): \(grouped(s.pointsPerSecond)) points/s"
            switch s.target {
            case .spool:
                let met = s.pointsPerSecond >= SpoolBench.targetPointsPerSecond
                line +=
                    " (target >= \(grouped(SpoolBench.targetPointsPerSecond)) points/s: \(met ? "met" : "NOT met"))"
                    + ", \(fixed(s.extra("mb_per_s") ?? .nan, 1)) MB/s of gzip payload (MB = 10^6 bytes); "
                    + "\(fixed(s.extra("compressed_bytes_per_point") ?? .nan, 1)) B/point gzip of "
                    + "\(fixed(s.extra("raw_bytes_per_point") ?? .nan, 1)) B/point line protocol"
                    + "\n    per point \(fixed(s.cpuMicrosPerPoint, 3)) CPU-us; wall time per step: encode "
                    + "\(fixed(s.extra("encode_us_per_point") ?? .nan, 3)) us, gzip "
                    + "\(fixed(s.extra("gzip_us_per_point") ?? .nan, 3)) us, SQLite append "
                    + "\(fixed(s.extra("append_us_per_point") ?? .nan, 3)) us"
            case .replay:
                line += " drained from a spool of \(grouped(s.sent)) points by InfluxSink.replay()"
                for ratio in ratios(summaries, scenario: s.scenario) {
                    line += ": \(fixed(ratio.rate, 3))x VictoriaMetrics' direct /api/v2/write with 1 connection"
                }
                line +=
                    "\n    replay client \(fixed(s.cpuMicrosPerPoint, 3)) CPU-us/point, VictoriaMetrics "
                    + "\(fixed(s.extra("vm_cpu_us_per_point") ?? .nan, 3)) CPU-us/point, busy "
                    + "\(fixed((s.extra("vm_busy") ?? .nan) * 100, 1)) % of the replay's wall time"
                    + "\n    VictoriaMetrics sent the same bodies directly (same connections): "
                    + "\(grouped(s.extra("vm_same_bodies_points_per_s") ?? .nan)) points/s; replay "
                    + "\(fixed(s.extra("replay_vs_vm_same_bodies") ?? .nan, 3))x that (target >= 1x: "
                    + "\((s.extra("replay_vs_vm_same_bodies") ?? 0) >= 0.995 ? "met" : "NOT met"))"
            case .e2e:
                line +=
                    " delivered of \(grouped(s.offeredPerSecond))/s offered (loss \(fixed(s.lossPercent, 2)) %, "
                    + "kernel drops \(grouped(s.kernelDrops)) datagrams)"
                    + "\n    gateway \(fixed(s.cpuMicrosPerPoint, 3)) CPU-us/point, peak RSS "
                    + "\(fixed(s.peakRSSMegabytes, 1)) MB; VictoriaMetrics "
                    + "\(fixed(s.extra("vm_cpu_us_per_point") ?? .nan, 3)) CPU-us/point"
                for ratio in ratios(summaries, scenario: s.scenario) {
                    line += "\n    \(ratio.label): \(fixed(ratio.rate, 3))x"
                    if let target = ratio.target {
                        line +=
                            isSaturated(s)
                            ? " (target >= \(fixed(target, 2))x: \(ratio.rate >= target ? "met" : "NOT met"))"
                            : " (all delivered at the offered rate: the load, not the pipeline, set this rate; "
                                + "target not judged)"
                    }
                }
            case .outage:
                line +=
                    " taken into the spool of \(grouped(s.offeredPerSecond))/s offered "
                    + "(loss \(fixed(s.lossPercent, 2)) %)"
                    + "\n    RSS first \(fixed(s.extra("rss_first_mb") ?? .nan, 1)) MB, after 1 s "
                    + "\(fixed(s.extra("rss_1s_mb") ?? .nan, 1)) MB, last "
                    + "\(fixed(s.extra("rss_last_mb") ?? .nan, 1)) MB, max "
                    + "\(fixed(s.extra("rss_max_mb") ?? .nan, 1)) MB (growth after the first second "
                    + "\(fixed(s.extra("rss_growth_after_1s_mb") ?? .nan, 1)) MB); spool "
                    + "\(fixed(s.extra("spool_mb") ?? .nan, 1)) MB; \(fixed(s.cpuMicrosPerPoint, 3)) CPU-us/point"
            case .agentInflux2, .agentRemoteWrite, .vmagent:
                line +=
                    " through \(s.target.displayName) (loss \(fixed(s.lossPercent, 3)) %): agent "
                    + "\(fixed(s.cpuMicrosPerPoint, 3)) CPU-us/point, peak RSS \(fixed(s.peakRSSMegabytes, 1)) MB; "
                    + "VictoriaMetrics \(fixed(s.extra("vm_cpu_us_per_point") ?? .nan, 3)) CPU-us/point"
            case .gateway, .gatewayMemory, .gatewayTap, .vm, .proc, .jobdir, .collectd:
                break
            }
            print(line)
        }
        print("")
    }

    static func machineLines(_ summaries: [TargetSummary]) {
        for s in summaries {
            var line =
                "RESULT scenario=\(s.scenario) target=\(s.target.rawValue) runs=\(s.runs) "
                + "points_per_s=\(plain(s.pointsPerSecond, 0)) sent=\(plain(s.sent, 0)) "
                + "counted=\(plain(s.counted, 0)) "
                + "loss=\(plain(s.loss, 0)) loss_pct=\(plain(s.lossPercent, 3)) cpu_s=\(plain(s.cpuSeconds, 3)) "
                + "cpu_us_per_point=\(plain(s.cpuMicrosPerPoint, 4)) peak_rss_mb=\(plain(s.peakRSSMegabytes, 1)) "
                + "errors=\(plain(s.errors, 0)) offered_per_s=\(plain(s.offeredPerSecond, 0)) "
                + "kernel_drops=\(plain(s.kernelDrops, 0)) disturbed_runs=\(s.disturbedRuns)"
            for extra in s.extras {
                line += " \(extra.key)=\(plain(extra.value, extra.value.rounded() == extra.value ? 0 : 3))"
            }
            print(line)
        }
        var seen: [String] = []
        for s in summaries where !seen.contains(s.scenario) {
            seen.append(s.scenario)
            let ratios = ratios(summaries, scenario: s.scenario)
            guard !ratios.isEmpty else { continue }
            var line = "RATIO scenario=\(s.scenario)"
            for ratio in ratios {
                line += " \(ratio.key)=\(plain(ratio.rate, 4))"
                if let cpu = ratio.cpu { line += " cpu_us_per_point_\(ratio.key)=\(plain(cpu, 4))" }
            }
            if s.target == .spool {
                let met = s.pointsPerSecond >= SpoolBench.targetPointsPerSecond
                line +=
                    " target_points_per_s=\(plain(SpoolBench.targetPointsPerSecond, 0)) "
                    + "target_met=\(met ? "yes" : "no")"
            }
            if s.target == .e2e {
                let saturated = isSaturated(s)
                line += " target=\(plain(e2eTargetRatio, 2)) limited_by=\(saturated ? "pipeline" : "offered_rate")"
                for ratio in ratios {
                    let verdict = !saturated ? "n/a" : ratio.rate >= e2eTargetRatio ? "yes" : "no"
                    line += " target_met_\(ratio.key.replacingOccurrences(of: "e2e/", with: ""))=\(verdict)"
                }
            }
            print(line)
        }
    }

    // MARK: Formatting

    private static func row(_ cells: [String]) -> String {
        zip(cells, columns).enumerated().map { index, pair in
            let (cell, column) = pair
            // Text columns left-aligned, numbers right-aligned.
            return index < 2
                ? cell.padding(toLength: column.width, withPad: " ", startingAt: 0)
                : String(repeating: " ", count: max(0, column.width - cell.count)) + cell
        }.joined(separator: "  ")
    }

    /// 1234567.8 → "1,234,568".
    static func grouped<N: BinaryInteger>(_ value: N) -> String { grouped(Double(value)) }

    static func grouped(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        let digits = String(Int(value.rounded()).magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (value.rounded() < 0 ? "-" : "") + out
    }

    static func fixed(_ value: Double, _ decimals: Int) -> String {
        value.isFinite ? String(format: "%.\(decimals)f", value) : "-"
    }

    private static func plain(_ value: Double, _ decimals: Int) -> String {
        value.isFinite ? String(format: "%.\(decimals)f", value) : "nan"
    }
}
