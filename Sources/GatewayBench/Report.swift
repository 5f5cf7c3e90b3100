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
    }

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
        if let error = result.firstError { line += "\n    first error: \(error)" }
        if result.isDisturbed {
            line +=
                "\n    disturbed: other processes (or steal) took \(fixed(result.otherCPUSeconds, 1)) CPU-s "
                + "during this \(fixed(result.wallSeconds, 1)) s run"
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    static let columns: [(title: String, width: Int)] = [
        ("scenario", 10), ("target", 18), ("points/s", 11), ("sent", 12), ("counted", 12), ("loss", 10),
        ("loss %", 7), ("CPU s", 7), ("CPU us/pt", 10), ("peak RSS MB", 12), ("errors", 7),
    ]

    static func table(_ summaries: [TargetSummary], runs: Int) {
        print("")
        print("Medians of \(runs) run\(runs == 1 ? "" : "s") per scenario and target:")
        print(row(columns.map(\.title)))
        print(row(columns.map { String(repeating: "-", count: $0.width) }))
        var lastScenario: String?
        for summary in summaries {
            if let lastScenario, lastScenario != summary.scenario { ratioRow(summaries, scenario: lastScenario) }
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
        if let lastScenario { ratioRow(summaries, scenario: lastScenario) }
        if summaries.contains(where: { $0.disturbedRuns > 0 }) {
            print("* other processes (or hypervisor steal) took over a tenth of a CPU in some of these runs: disturbed")
        }
        print("")
    }

    /// The gateway's figures over VictoriaMetrics' for one scenario, when both ran.
    static func ratios(_ summaries: [TargetSummary], scenario: String) -> (rate: Double, cpu: Double)? {
        guard let gateway = summaries.first(where: { $0.scenario == scenario && $0.target == .gateway }),
            let vm = summaries.first(where: { $0.scenario == scenario && $0.target == .vm })
        else { return nil }
        return (gateway.pointsPerSecond / vm.pointsPerSecond, gateway.cpuMicrosPerPoint / vm.cpuMicrosPerPoint)
    }

    private static func ratioRow(_ summaries: [TargetSummary], scenario: String) {
        guard let ratio = ratios(summaries, scenario: scenario) else { return }
        var cells = [String](repeating: "", count: columns.count)
        cells[0] = scenario
        cells[1] = "gateway/vm"
        cells[2] = fixed(ratio.rate, 3) + "x"
        cells[8] = fixed(ratio.cpu, 3) + "x"
        print(row(cells))
    }

    static func machineLines(_ summaries: [TargetSummary]) {
        for s in summaries {
            print(
                "RESULT scenario=\(s.scenario) target=\(s.target.rawValue) runs=\(s.runs) "
                    + "points_per_s=\(plain(s.pointsPerSecond, 0)) sent=\(plain(s.sent, 0)) "
                    + "counted=\(plain(s.counted, 0)) "
                    + "loss=\(plain(s.loss, 0)) loss_pct=\(plain(s.lossPercent, 3)) cpu_s=\(plain(s.cpuSeconds, 3)) "
                    + "cpu_us_per_point=\(plain(s.cpuMicrosPerPoint, 4)) peak_rss_mb=\(plain(s.peakRSSMegabytes, 1)) "
                    + "errors=\(plain(s.errors, 0)) offered_per_s=\(plain(s.offeredPerSecond, 0)) "
                    + "kernel_drops=\(plain(s.kernelDrops, 0)) disturbed_runs=\(s.disturbedRuns)")
        }
        var seen: [String] = []
        for s in summaries where !seen.contains(s.scenario) {
            seen.append(s.scenario)
            guard let ratio = ratios(summaries, scenario: s.scenario) else { continue }
            print(
                "RATIO scenario=\(s.scenario) gateway/vm=\(plain(ratio.rate, 4)) "
                    + "cpu_us_per_point_gateway/vm=\(plain(ratio.cpu, 4))")
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
