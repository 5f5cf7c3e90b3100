import GatewayCore
import Synchronization

/// A window of per-process usage from every host that reaches this gateway: its own collector's
/// points and forwarded ones (`process_usage`, or the original monitor's `cpu_usage_percent` /
/// `mem_usage_percent`). Bounded: at most `maxSeries` host/process series, each at most
/// `maxSamplesPerSeries` samples, none older than the window. Answers means, history and alarms.
public final class UsageStore: Sendable {
    public struct Key: Hashable, Sendable, Comparable {
        /// The `host` tag (for the original monitor's series, which have none of their own: the `ip` tag).
        public var host: String
        public var process: String
        public var pid: String?
        /// The `ip` tag, when the points carry one: the key of the original monitor's paths.
        public var ip: String?

        public init(host: String, process: String, pid: String? = nil, ip: String? = nil) {
            self.host = host
            self.process = process
            self.pid = pid
            self.ip = ip
        }

        /// The address the original monitor's paths know this series by: its `ip` tag, else its host
        /// (senders that tagged their address as `host`).
        public var address: String { ip ?? host }

        public static func < (a: Key, b: Key) -> Bool {
            (a.host, a.process, a.pid ?? "", a.ip ?? "") < (b.host, b.process, b.pid ?? "", b.ip ?? "")
        }
    }

    /// One reading (40 bytes). Absent metrics are NaN (floats) or -1 (integers): a sample from the original
    /// monitor's series carries CPU or memory, not both, and a first pass carries no CPU.
    public struct Sample: Sendable, Equatable {
        public var time: Int64
        public var cpu: Double
        public var mem: Double
        public var rss: Int64
        public var threads: Int32

        public init(time: Int64, cpu: Double? = nil, mem: Double? = nil, rss: Int64? = nil, threads: Int? = nil) {
            self.time = time
            self.cpu = cpu ?? .nan
            self.mem = mem ?? .nan
            self.rss = rss ?? -1
            self.threads = threads.map { Int32(clamping: $0) } ?? -1
        }

        mutating func merge(_ other: Sample) {
            if !other.cpu.isNaN { cpu = other.cpu }
            if !other.mem.isNaN { mem = other.mem }
            if other.rss >= 0 { rss = other.rss }
            if other.threads >= 0 { threads = other.threads }
        }
    }

    public enum Metric: String, Sendable, CaseIterable {
        case cpu, mem
    }

    struct Series {
        var samples: [Sample] = []
        /// Index of the first live sample; trimmed ones are compacted away in bulk.
        var start = 0

        var live: ArraySlice<Sample> { samples[start...] }

        mutating func insert(_ sample: Sample, cap: Int) {
            if let last = samples.last, start < samples.count {
                if sample.time > last.time {
                    samples.append(sample)
                } else {
                    // Out of order or a repeat: merge into the sample of the same time, else insert sorted.
                    var low = start
                    var high = samples.count
                    while low < high {
                        let mid = (low + high) / 2
                        if samples[mid].time < sample.time { low = mid + 1 } else { high = mid }
                    }
                    if low < samples.count, samples[low].time == sample.time {
                        samples[low].merge(sample)
                    } else {
                        samples.insert(sample, at: low)
                    }
                }
            } else {
                samples.append(sample)
            }
            if samples.count - start > cap { start = samples.count - cap }
            compact()
        }

        mutating func trim(before cutoff: Int64) {
            while start < samples.count, samples[start].time < cutoff { start += 1 }
            compact()
        }

        mutating func compact() {
            if start > 64, start * 2 > samples.count {
                samples.removeFirst(start)
                start = 0
            }
        }
    }

    struct State {
        var series: [Key: Series] = [:]
        var evictedSeries: Int64 = 0
        var refusedFuture: Int64 = 0
    }

    /// How far ahead of this gateway's clock a sample may be (clock skew); later ones are refused.
    public static let maxFutureNanoseconds: Int64 = 300 * 1_000_000_000

    public let window: Int64
    public let maxSeries: Int
    public let maxSamplesPerSeries: Int
    private let state = Mutex(State())

    public init(window: Duration, maxSeries: Int, maxSamplesPerSeries: Int) {
        self.window = Units.nanoseconds(window)
        self.maxSeries = maxSeries
        self.maxSamplesPerSeries = maxSamplesPerSeries
    }

    /// The series the store takes copies of.
    public static let series = ["process_usage", "cpu_usage_percent", "mem_usage_percent"]

    /// Takes the usage points among `points`; others are ignored. Samples older than the window are
    /// not kept; samples more than five minutes ahead of `now` are refused and counted (a clock
    /// running ahead would otherwise pin "latest" values). When `maxSeries` series are held, a new
    /// series evicts the one updated longest ago (counted). Returns the samples refused.
    @discardableResult
    public func ingest(_ points: [Point], now: Int64) -> Int {
        var refused = 0
        state.withLock { state in
            for point in points {
                guard let (key, sample) = Self.sample(from: point) else { continue }
                if sample.time < now - window { continue }
                if sample.time > now + Self.maxFutureNanoseconds {
                    refused += 1
                    continue
                }
                if state.series[key] == nil, state.series.count >= maxSeries {
                    // Evict the series whose newest sample is oldest.
                    var oldest: (key: Key, time: Int64)?
                    for (k, s) in state.series {
                        let last = s.samples.last?.time ?? .min
                        if oldest == nil || last < oldest!.time { oldest = (k, last) }
                    }
                    if let oldest { state.series[oldest.key] = nil }
                    state.evictedSeries += 1
                }
                state.series[key, default: Series()].insert(sample, cap: maxSamplesPerSeries)
            }
            state.refusedFuture += Int64(refused)
        }
        return refused
    }

    static func sample(from point: Point) -> (Key, Sample)? {
        func number(_ key: String) -> Double? {
            switch point.field(key) {
            case .float(let v)?: return v.isFinite ? v : nil
            case .int(let v)?: return Double(v)
            case .uint(let v)?: return Double(v)
            default: return nil
            }
        }
        /// A count that fits (RSS bytes, threads); anything else is left out rather than trusted.
        func whole(_ key: String) -> Int64? {
            guard let v = number(key), v >= 0, v < 9.2e18 else { return nil }
            return Int64(v)
        }
        guard let process = point.tag("process") else { return nil }
        switch point.series {
        case "process_usage":
            guard let host = point.tag("host") else { return nil }
            let sample = Sample(
                time: point.time, cpu: number("cpu_percent"), mem: number("mem_percent"),
                rss: whole("rss_bytes"), threads: whole("threads").map { Int(clamping: $0) })
            if sample.cpu.isNaN, sample.mem.isNaN { return nil }
            return (Key(host: host, process: process, pid: point.tag("pid"), ip: point.tag("ip")), sample)
        case "cpu_usage_percent", "mem_usage_percent":
            guard let host = point.tag("ip") ?? point.tag("host"), let value = number("value") else { return nil }
            let isCPU = point.series == "cpu_usage_percent"
            let sample = Sample(time: point.time, cpu: isCPU ? value : nil, mem: isCPU ? nil : value)
            return (Key(host: host, process: process, pid: point.tag("pid"), ip: point.tag("ip")), sample)
        default:
            return nil
        }
    }

    /// Drops samples older than the window and series left empty.
    public func expire(now: Int64) {
        state.withLock { state in
            let cutoff = now - window
            for key in Array(state.series.keys) {
                state.series[key]!.trim(before: cutoff)
                if state.series[key]!.live.isEmpty { state.series[key] = nil }
            }
        }
    }

    public var counts: (series: Int, samples: Int, evictedSeries: Int64, refusedFuture: Int64) {
        state.withLock { state in
            (
                state.series.count, state.series.values.reduce(0) { $0 + $1.live.count }, state.evictedSeries,
                state.refusedFuture
            )
        }
    }

    public var hosts: [String] {
        state.withLock { Set($0.series.keys.map(\.host)).sorted() }
    }

    /// The live samples at or after `since`, per series, optionally for one host (or one address,
    /// ``Key/address``) and one process. The lock is held only to take each series' slice (no element
    /// copies), so a large answer does not hold up ingestion.
    public func history(
        since: Int64, host: String? = nil, address: String? = nil, process: String? = nil
    ) -> [(key: Key, samples: [Sample])] {
        let slices: [(Key, ArraySlice<Sample>)] = state.withLock { state in
            var out: [(Key, ArraySlice<Sample>)] = []
            for (key, series) in state.series {
                if let host, key.host != host { continue }
                if let address, key.address != address { continue }
                if let process, key.process != process { continue }
                out.append((key, series.live))
            }
            return out
        }
        var out: [(Key, [Sample])] = []
        for (key, slice) in slices {
            let samples = slice.filter { $0.time >= since }
            if !samples.isEmpty { out.append((key, samples)) }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// How many samples `history` would return (to refuse answers too large to build).
    public func sampleCount(since: Int64, host: String? = nil, address: String? = nil, process: String? = nil) -> Int {
        state.withLock { state in
            var total = 0
            for (key, series) in state.series {
                if let host, key.host != host { continue }
                if let address, key.address != address { continue }
                if let process, key.process != process { continue }
                total += series.live.reduce(0) { $0 + ($1.time >= since ? 1 : 0) }
            }
            return total
        }
    }

    public struct Mean: Sendable, Equatable {
        public var cpu: Double?
        public var mem: Double?
        public var cpuSamples: Int
        public var memSamples: Int
        public var hosts: [String]
    }

    /// Mean CPU % and memory % per process name over samples at or after `since`, over every host
    /// (or one host, or one address). A metric with no samples has no mean (nil), never a false 0.
    public func means(since: Int64, host: String? = nil, address: String? = nil) -> [String: Mean] {
        var sums: [String: (cpu: Double, cpuN: Int, mem: Double, memN: Int, hosts: Set<String>)] = [:]
        for (key, samples) in history(since: since, host: host, address: address) {
            var entry = sums[key.process] ?? (0, 0, 0, 0, [])
            for s in samples {
                if !s.cpu.isNaN {
                    entry.cpu += s.cpu
                    entry.cpuN += 1
                }
                if !s.mem.isNaN {
                    entry.mem += s.mem
                    entry.memN += 1
                }
            }
            entry.hosts.insert(key.host)
            sums[key.process] = entry
        }
        return sums.mapValues { e in
            Mean(
                cpu: e.cpuN > 0 ? e.cpu / Double(e.cpuN) : nil, mem: e.memN > 0 ? e.mem / Double(e.memN) : nil,
                cpuSamples: e.cpuN, memSamples: e.memN, hosts: e.hosts.sorted())
        }
    }
}
