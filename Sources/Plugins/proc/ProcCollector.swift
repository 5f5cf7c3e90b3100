import GatewayCore

#if canImport(Glibc)
    import Glibc
#endif

/// One process (or one name's processes together) after a pass.
public struct ProcessUsage: Sendable, Equatable {
    public var name: String
    public var pid: Int32?
    /// nil on the first pass that sees it: there is no interval to measure over yet.
    public var cpuPercent: Double?
    public var memPercent: Double
    public var rssBytes: Int64
    public var threads: Int
    /// How many processes this entry stands for (per-name grouping).
    public var processes: Int
}

/// What one pass found.
public struct ProcPass: Sendable {
    public var usage: [ProcessUsage]
    /// Processes read, and processes listed but gone before their stat could be read.
    public var processesRead: Int
    public var vanished: Int
    /// Entries left out by the include/exclude patterns or the top-N limit.
    public var filteredOut: Int
    public var durationNanoseconds: Int64
    public var time: Int64
}

/// Collects per-process CPU and memory from /proc. Keeps the previous pass's CPU ticks per pid
/// (with the pid's start time, so a reused pid is not mistaken for the old process). Not
/// thread-safe: one task owns it.
public final class ProcCollector {
    let settings: ProcSettings
    private let reader: ProcReader
    private let include: [Glob]
    private let exclude: [Glob]
    let ticksPerSecond: Double
    let pageSize: Int64
    let cores: Int
    public private(set) var memTotal: Int64
    private var previous: [Int32: (ticks: UInt64, start: UInt64)] = [:]
    private var previousMonotonic: Int64?
    private var previousBootTicks: UInt64 = 0
    private var stats: [ProcStat] = []

    public init(settings: ProcSettings) throws {
        self.settings = settings
        reader = ProcReader(root: settings.procRoot)
        include = settings.include.map(Glob.init)
        exclude = settings.exclude.map(Glob.init)
        ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        pageSize = Int64(sysconf(Int32(_SC_PAGESIZE)))
        cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        memTotal = try ProcReader.memTotal(root: settings.procRoot)
        stats.reserveCapacity(512)
    }

    static func clock(_ id: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// One pass over /proc.
    public func pass() throws -> ProcPass {
        let started = Self.clock(CLOCK_MONOTONIC)
        let time = Self.clock(CLOCK_REALTIME)
        stats.removeAll(keepingCapacity: true)
        let (_, vanished) = try reader.readAll(into: &stats)
        let monotonic = Self.clock(CLOCK_MONOTONIC)
        let bootTicks = UInt64(max(0, Double(Self.clock(CLOCK_BOOTTIME)) / 1e9 * ticksPerSecond))
        let elapsed = previousMonotonic.map { Double(monotonic - $0) / 1e9 }

        var current: [Int32: (ticks: UInt64, start: UInt64)] = [:]
        current.reserveCapacity(stats.count)
        var groups: [String: Int] = [:]
        var usage: [ProcessUsage] = []
        usage.reserveCapacity(stats.count)
        var cpuTicks: [Double?] = []
        cpuTicks.reserveCapacity(stats.count)
        for stat in stats {
            current[stat.pid] = (stat.ticks, stat.startTicks)
            // Ticks spent during the interval: against the previous reading of the same process,
            // or all of them for a process started since the previous pass.
            var delta: Double?
            if elapsed != nil {
                if let before = previous[stat.pid], before.start == stat.startTicks {
                    delta = Double(stat.ticks &- min(stat.ticks, before.ticks))
                } else if stat.startTicks >= previousBootTicks {
                    delta = Double(stat.ticks)
                }
            }
            let rss = stat.rssPages * pageSize
            if settings.groupBy == .name, let index = groups[stat.name] {
                usage[index].rssBytes += rss
                usage[index].threads += Int(stat.threads)
                usage[index].processes += 1
                if let delta { cpuTicks[index] = (cpuTicks[index] ?? 0) + delta }
            } else {
                if settings.groupBy == .name { groups[stat.name] = usage.count }
                usage.append(
                    ProcessUsage(
                        name: stat.name, pid: settings.groupBy == .pid ? stat.pid : nil, cpuPercent: nil, memPercent: 0,
                        rssBytes: rss, threads: Int(stat.threads), processes: 1))
                cpuTicks.append(delta)
            }
        }
        let divisor = settings.cpuPerCore ? Double(cores) : 1
        for index in usage.indices {
            usage[index].memPercent = Double(usage[index].rssBytes) / Double(memTotal) * 100
            if let elapsed, elapsed > 0, let ticks = cpuTicks[index] {
                usage[index].cpuPercent = ticks / ticksPerSecond / elapsed * 100 / divisor
            }
        }
        let total = usage.count
        if !include.isEmpty || !exclude.isEmpty {
            usage.removeAll { entry in
                (!include.isEmpty && !include.contains(where: { $0.matches(entry.name) }))
                    || exclude.contains(where: { $0.matches(entry.name) })
            }
        }
        if settings.top > 0, usage.count > settings.top {
            usage.sort { a, b in
                let ca = a.cpuPercent ?? -1
                let cb = b.cpuPercent ?? -1
                if ca != cb { return ca > cb }
                if a.rssBytes != b.rssBytes { return a.rssBytes > b.rssBytes }
                return a.name < b.name
            }
            usage.removeLast(usage.count - settings.top)
        }
        previous = current
        previousMonotonic = monotonic
        previousBootTicks = bootTicks
        return ProcPass(
            usage: usage, processesRead: stats.count, vanished: vanished, filteredOut: total - usage.count,
            durationNanoseconds: Self.clock(CLOCK_MONOTONIC) - started, time: time)
    }

    /// The pass as points, in the configured shape, tagged with this host's identity: its address
    /// in `ip`, and `host` when one is given (otherwise the gateway's default `host` tag applies).
    public static func points(_ pass: ProcPass, settings: ProcSettings, host: String?, ip: String) -> [Point] {
        var points: [Point] = []
        points.reserveCapacity(pass.usage.count * (settings.format == .legacy ? 2 : 1))
        for entry in pass.usage {
            switch settings.format {
            case .processUsage:
                var tags = [Tag("ip", ip), Tag("process", entry.name)]
                if let host { tags.insert(Tag("host", host), at: 0) }
                if let pid = entry.pid { tags.append(Tag("pid", String(pid))) }
                var fields: [Field] = []
                if let cpu = entry.cpuPercent { fields.append(Field("cpu_percent", .float(cpu))) }
                fields.append(Field("mem_percent", .float(entry.memPercent)))
                fields.append(Field("rss_bytes", .int(entry.rssBytes)))
                fields.append(Field("threads", .int(Int64(entry.threads))))
                points.append(Point(series: "process_usage", time: pass.time, tags: tags, fields: fields))
            case .legacy:
                var tags = [Tag("ip", ip), Tag("process", entry.name)]
                if let host { tags.insert(Tag("host", host), at: 0) }
                if let pid = entry.pid { tags.append(Tag("pid", String(pid))) }
                if let cpu = entry.cpuPercent {
                    points.append(
                        Point(
                            series: "cpu_usage_percent", time: pass.time, tags: tags,
                            fields: [Field("value", .float(cpu))]))
                }
                points.append(
                    Point(
                        series: "mem_usage_percent", time: pass.time, tags: tags,
                        fields: [Field("value", .float(entry.memPercent))]))
            }
        }
        return points
    }
}
