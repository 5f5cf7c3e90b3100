import GatewayCore

/// Alarm levels, worst last.
public enum AlarmLevel: String, Sendable, Comparable, CaseIterable {
    case green = "GREEN", amber = "AMBER", red = "RED"

    var rank: Int {
        switch self {
        case .green: return 0
        case .amber: return 1
        case .red: return 2
        }
    }

    public static func < (a: AlarmLevel, b: AlarmLevel) -> Bool { a.rank < b.rank }
}

/// One metric's alarm and the values behind it.
public struct MetricAlarm: Sendable, Equatable {
    public var level: AlarmLevel
    public var latest: Double
    public var latestTime: Int64
    public var threshold: Double
    /// Least-squares slope in percent per minute; nil with too few samples for a trend.
    public var slopePerMinute: Double?
    /// The trend line's value `horizon` after the latest sample; nil without a trend.
    public var projected: Double?
    public var samples: Int
}

public struct ProcessAlarm: Sendable, Equatable {
    public var key: UsageStore.Key
    public var cpu: MetricAlarm?
    public var mem: MetricAlarm?

    public var level: AlarmLevel { max(cpu?.level ?? .green, mem?.level ?? .green) }
}

/// RED when the latest value is strictly above the threshold; AMBER when the least-squares line
/// through the window's samples (at least `minSamples` spanning at least `minSpan`), projected
/// `horizon` past the latest sample, is strictly above it; GREEN otherwise.
public struct AlarmRule: Sendable {
    public var cpuThreshold: Double
    public var memThreshold: Double
    public var horizonNanoseconds: Int64
    public var minSamples: Int
    /// Shortest time the samples must span before a trend is fitted: a few seconds of noise
    /// projected minutes ahead would raise false alarms.
    public var minSpanNanoseconds: Int64

    public init(
        cpuThreshold: Double = 80, memThreshold: Double = 80, horizon: Duration = .seconds(300), minSamples: Int = 3,
        minSpan: Duration = .seconds(60)
    ) {
        self.cpuThreshold = cpuThreshold
        self.memThreshold = memThreshold
        horizonNanoseconds = Units.nanoseconds(horizon)
        self.minSamples = max(2, minSamples)
        minSpanNanoseconds = Units.nanoseconds(minSpan)
    }

    public func evaluate(_ values: [(time: Int64, value: Double)], threshold: Double) -> MetricAlarm? {
        guard let last = values.last else { return nil }
        var alarm = MetricAlarm(
            level: .green, latest: last.value, latestTime: last.time, threshold: threshold, slopePerMinute: nil,
            projected: nil,
            samples: values.count)
        if values.count >= minSamples, last.time - values[0].time >= minSpanNanoseconds,
            let fit = Self.leastSquares(values, origin: last.time)
        {
            alarm.slopePerMinute = fit.slope * 60
            alarm.projected = fit.intercept + fit.slope * Double(horizonNanoseconds) / 1e9
        }
        if last.value > threshold {
            alarm.level = .red
        } else if let projected = alarm.projected, projected > threshold {
            alarm.level = .amber
        }
        return alarm
    }

    /// The least-squares line `value = intercept + slope * seconds`, with seconds counted from
    /// `origin` (so the intercept is the line's value at the latest sample). nil when every sample
    /// has the same time.
    static func leastSquares(_ values: [(time: Int64, value: Double)], origin: Int64) -> (
        slope: Double, intercept: Double
    )? {
        let n = Double(values.count)
        var sx = 0.0
        var sy = 0.0
        for v in values {
            sx += Double(v.time - origin) / 1e9
            sy += v.value
        }
        let mx = sx / n
        let my = sy / n
        var sxx = 0.0
        var sxy = 0.0
        for v in values {
            let dx = Double(v.time - origin) / 1e9 - mx
            sxx += dx * dx
            sxy += dx * (v.value - my)
        }
        guard sxx > 0 else { return nil }
        let slope = sxy / sxx
        return (slope, my - slope * mx)
    }
}

extension UsageStore {
    /// Alarms per host and process from the samples at or after `since`.
    public func alarms(since: Int64, rule: AlarmRule, host: String? = nil, address: String? = nil) -> [ProcessAlarm] {
        history(since: since, host: host, address: address).map { key, samples in
            let cpu = samples.filter { !$0.cpu.isNaN }.map { (time: $0.time, value: $0.cpu) }
            let mem = samples.filter { !$0.mem.isNaN }.map { (time: $0.time, value: $0.mem) }
            return ProcessAlarm(
                key: key, cpu: rule.evaluate(cpu, threshold: rule.cpuThreshold),
                mem: rule.evaluate(mem, threshold: rule.memThreshold))
        }
    }
}

/// Remembers each host/process/metric's last level and reports the changes.
public struct AlarmTracker: Sendable {
    public struct Transition: Sendable, Equatable {
        public var key: UsageStore.Key
        public var metric: UsageStore.Metric
        public var from: AlarmLevel
        /// nil: the series has no samples left in the window (the host or process went quiet). That
        /// is reported as NO_DATA, not as GREEN: a host that died at 95 % CPU is not healthy.
        public var to: AlarmLevel?
        /// The alarm behind the new level; nil for NO_DATA.
        public var alarm: MetricAlarm?
    }

    struct Slot: Hashable {
        var key: UsageStore.Key
        var metric: UsageStore.Metric
    }

    private var levels: [Slot: AlarmLevel] = [:]

    public init() {}

    /// Compares `alarms` with the previous call. A series seen for the first time starts from
    /// GREEN; a series gone from the window while not GREEN is reported as NO_DATA (then forgotten).
    public mutating func update(_ alarms: [ProcessAlarm]) -> [Transition] {
        var out: [Transition] = []
        var seen = Set<Slot>()
        for alarm in alarms {
            for (metric, value) in [(UsageStore.Metric.cpu, alarm.cpu), (.mem, alarm.mem)] {
                guard let value else { continue }
                let slot = Slot(key: alarm.key, metric: metric)
                seen.insert(slot)
                let before = levels[slot] ?? .green
                if before != value.level {
                    out.append(Transition(key: alarm.key, metric: metric, from: before, to: value.level, alarm: value))
                }
                levels[slot] = value.level
            }
        }
        for (slot, level) in levels where !seen.contains(slot) {
            if level != .green {
                out.append(Transition(key: slot.key, metric: slot.metric, from: level, to: nil, alarm: nil))
            }
            levels[slot] = nil
        }
        return out.sorted { ($0.key, $0.metric.rawValue) < ($1.key, $1.metric.rawValue) }
    }
}
