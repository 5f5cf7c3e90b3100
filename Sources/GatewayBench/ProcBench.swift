import Foundation
import Plugins

/// `proc-pass`: the cost of one collection pass of the proc plugin per process, next to psutil's
/// `process_iter` reading the same figures (name, CPU times, memory, threads) over the same
/// processes, in the same run. Rounds alternate between the two so machine noise falls on both.
struct ProcBench {
    let runs: Int
    let passes: Int
    let extraProcesses: Int

    struct Round {
        var microsPerProcess: [Double] = []
        var processes: [Int] = []
    }

    func run() throws {
        var sleepers: [Process] = []
        defer {
            for sleeper in sleepers { kill(sleeper.processIdentifier, SIGKILL) }
            for sleeper in sleepers { sleeper.waitUntilExit() }
        }
        for _ in 0..<extraProcesses {
            let sleeper = Process()
            sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
            sleeper.arguments = ["3600"]
            try sleeper.run()
            sleepers.append(sleeper)
        }
        let python = try Self.pythonWithPsutil()
        var settings = ProcSettings()
        settings.top = 0
        let collector = try ProcCollector(settings: settings)
        for _ in 0..<3 { _ = try collector.pass() }  // warm: file cache, dictionaries at size

        var gateway = Round()
        var psutil = Round()
        for round in 1...runs {
            for _ in 0..<passes {
                let pass = try collector.pass()
                gateway.microsPerProcess.append(Double(pass.durationNanoseconds) / 1e3 / Double(pass.processesRead))
                gateway.processes.append(pass.processesRead)
            }
            let (micros, counts) = try Self.psutilRound(python: python, passes: passes)
            psutil.microsPerProcess.append(contentsOf: micros)
            psutil.processes.append(contentsOf: counts)
            FileHandle.standardError.write(
                Data(
                    ("proc-pass run \(round)/\(runs): gateway \(Report.fixed(Self.median(gateway.microsPerProcess), 2)) us/process, "
                        + "psutil \(Report.fixed(Self.median(psutil.microsPerProcess), 2)) us/process\n").utf8))
        }
        let g = Self.median(gateway.microsPerProcess)
        let p = Self.median(psutil.microsPerProcess)
        let processes = Self.median(gateway.processes.map(Double.init))
        print("")
        print(
            "proc-pass: one pass over /proc per process (median of \(runs) x \(passes) passes each; \(Int(processes)) processes, \(extraProcesses) of them started by the benchmark)"
        )
        print(
            "  gateway ProcCollector.pass (stat only):   \(Report.fixed(g, 2)) us/process   (min \(Report.fixed(gateway.microsPerProcess.min() ?? 0, 2)), max \(Report.fixed(gateway.microsPerProcess.max() ?? 0, 2)))"
        )
        print(
            "  psutil process_iter (\(python)):  \(Report.fixed(p, 2)) us/process   (min \(Report.fixed(psutil.microsPerProcess.min() ?? 0, 2)), max \(Report.fixed(psutil.microsPerProcess.max() ?? 0, 2)))"
        )
        print("  target: under 10 us/process: \(g < 10 ? "met" : "NOT met")")
        print(
            "RESULT scenario=proc-pass target=proc runs=\(runs) passes=\(passes) processes=\(Int(processes)) us_per_process=\(Report.fixed(g, 3))"
        )
        print(
            "RESULT scenario=proc-pass target=psutil runs=\(runs) passes=\(passes) processes=\(Int(processes)) us_per_process=\(Report.fixed(p, 3))"
        )
        print("RATIO scenario=proc-pass psutil/gateway=\(Report.fixed(p / g, 2))")
        fflush(nil)
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// psutil reads, per process, what a pass needs: name, CPU times, memory info (RSS), threads,
    /// and memory percent. Warm-up passes first, as for the gateway.
    static let script = """
        import sys, time, psutil
        passes = int(sys.argv[1])
        attrs = ['name', 'cpu_times', 'memory_info', 'num_threads', 'memory_percent']
        for _ in range(3):
            list(psutil.process_iter(attrs))
        for _ in range(passes):
            t = time.perf_counter_ns()
            n = 0
            for p in psutil.process_iter(attrs):
                n += 1
            d = time.perf_counter_ns() - t
            print(d / 1000 / n, n)
        """

    static func psutilRound(python: String, passes: Int) throws -> ([Double], [Int]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, String(passes)]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError("psutil script failed (exit \(process.terminationStatus))")
        }
        var micros: [Double] = []
        var counts: [Int] = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let m = Double(parts[0]), let n = Int(parts[1]) {
                micros.append(m)
                counts.append(n)
            }
        }
        return (micros, counts)
    }

    /// A Python 3 that can import psutil: `python3` on PATH, else Debian's /usr/bin/python3
    /// (package python3-psutil, which scripts/install-deps.sh installs).
    static func pythonWithPsutil() throws -> String {
        for candidate in [Files.resolveExecutable("python3"), "/usr/bin/python3"].compactMap({ $0 }) {
            let check = Process()
            check.executableURL = URL(fileURLWithPath: candidate)
            check.arguments = ["-c", "import psutil"]
            check.standardError = FileHandle.nullDevice
            if (try? check.run()) != nil {
                check.waitUntilExit()
                if check.terminationStatus == 0 { return candidate }
            }
        }
        throw BenchError("no python3 with psutil: apt-get install python3-psutil (scripts/install-deps.sh does)")
    }
}
