import Glibc

/// CPU time and peak memory of a target process, read from `/proc` (what `time` and `top` use), so
/// the two targets are measured the same way whatever they report about themselves.
enum ProcessStats {
    /// Clock ticks per second: the unit of `utime` and `stime` in `/proc/<pid>/stat`.
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// User plus system CPU seconds used so far by all threads of `pid`.
    static func cpuSeconds(pid: pid_t) throws -> Double {
        guard let stat = Files.readText("/proc/\(pid)/stat") else {
            throw BenchError("cannot read /proc/\(pid)/stat: the process has exited")
        }
        // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
        guard let close = stat.lastIndex(of: ")") else { throw BenchError("malformed /proc/\(pid)/stat") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After ')' come field 3 (state) onwards: utime is field 14, stime field 15.
        guard fields.count > 12, let utime = Double(fields[11]), let stime = Double(fields[12]) else {
            throw BenchError("malformed /proc/\(pid)/stat")
        }
        return (utime + stime) / ticksPerSecond
    }

    /// The process's resident set size in bytes now (`VmRSS`); nil once it has exited.
    static func rss(pid: pid_t) -> Int? {
        guard let status = Files.readText("/proc/\(pid)/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kilobytes = Int(parts[1]) { return kilobytes * 1024 }
        }
        return nil
    }

    /// The process's peak resident set size in bytes (`VmHWM`): its high-water mark since it started.
    static func peakRSS(pid: pid_t) throws -> Int {
        guard let status = Files.readText("/proc/\(pid)/status") else {
            throw BenchError("cannot read /proc/\(pid)/status: the process has exited")
        }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kilobytes = Int(parts[1]) { return kilobytes * 1024 }
        }
        throw BenchError("no VmHWM in /proc/\(pid)/status")
    }
}

/// What every process together used, to tell when something besides the benchmark and its target ran
/// during a measurement (another build on a shared machine disturbs the figures: they are then marked).
struct CPUUsage {
    /// User and system seconds of all CPUs (`/proc/stat`; interrupt time excluded, since the loopback
    /// traffic's own softirq work lands there).
    var system: Double
    /// Seconds the hypervisor ran something else while these CPUs wanted to run (`steal`).
    var steal: Double
    /// The benchmark process's own user and system seconds.
    var bench: Double

    static func now() -> CPUUsage {
        var system = 0.0
        var steal = 0.0
        if let text = Files.readText("/proc/stat"), let line = text.split(separator: "\n").first,
            line.hasPrefix("cpu ")
        {
            // user nice system idle iowait irq softirq steal ...
            let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
            if fields.count >= 8 {
                system = (fields[0] + fields[1] + fields[2]) / ProcessStats.ticksPerSecond
                steal = fields[7] / ProcessStats.ticksPerSecond
            }
        }
        return CPUUsage(system: system, steal: steal, bench: (try? ProcessStats.cpuSeconds(pid: getpid())) ?? 0)
    }

    /// CPU seconds taken between `start` and `self` from neither the benchmark nor the target: other
    /// processes, and the hypervisor's steal.
    func others(since start: CPUUsage, targetSeconds: Double) -> Double {
        max(0, (system - start.system) - (bench - start.bench) - targetSeconds) + (steal - start.steal)
    }
}
