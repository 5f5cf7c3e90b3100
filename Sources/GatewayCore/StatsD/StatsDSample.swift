/// The StatsD metric types, by the letters clients write after the `|`.
public enum StatsDKind: String, Sendable, Hashable, CaseIterable {
    case counter = "c"
    case gauge = "g"
    case timing = "ms"
    case histogram = "h"
    case distribution = "d"
    case set = "s"

    /// The `metric_type` tag of the points this kind aggregates into (Telegraf's names).
    public var metricType: String {
        switch self {
        case .counter: return "counter"
        case .gauge: return "gauge"
        case .timing: return "timing"
        case .histogram: return "histogram"
        case .distribution: return "distribution"
        case .set: return "set"
        }
    }

    /// Timings, histograms and distributions keep samples and report statistics.
    public var isSampled: Bool { self == .timing || self == .histogram || self == .distribution }
}

/// One value of one StatsD line: `name,tag=v:value|type|@rate|#tag:v`.
public struct StatsDSample: Sendable, Hashable {
    public var name: String
    /// Sorted by key, unique keys (the last one written wins).
    public var tags: [Tag]
    public var kind: StatsDKind
    /// The number (counters, gauges, timings); 0 for sets.
    public var value: Double
    /// A gauge written `+N` or `-N`: `value` is added to the current value.
    public var isDelta: Bool
    /// A set's member, as written.
    public var member: String
    /// The client's sample rate, 0 < rate <= 1 (1 when none was written).
    public var rate: Double

    public init(
        name: String, tags: [Tag] = [], kind: StatsDKind, value: Double = 0, isDelta: Bool = false, member: String = "",
        rate: Double = 1
    ) {
        self.name = name
        self.tags = tags
        self.kind = kind
        self.value = value
        self.isDelta = isDelta
        self.member = member
        self.rate = rate
    }
}

extension RejectReason {
    /// StatsD: a line without `:` between name and value.
    public static let noColon = RejectReason("no_colon")
    /// StatsD: a value without `|type`.
    public static let noPipe = RejectReason("no_pipe")
    public static let unknownType = RejectReason("unknown_type")
    public static let invalidValue = RejectReason("invalid_value")
    /// A sample rate outside (0, 1] or not a number.
    public static let badRate = RejectReason("bad_rate")
    /// An empty tag key or value, or an Influx-style tag without `=`.
    public static let badTag = RejectReason("bad_tag")
    public static let unknownSection = RejectReason("unknown_section")
    public static let badEvent = RejectReason("bad_event")
    public static let badServiceCheck = RejectReason("bad_service_check")
    /// A new series while the aggregator holds `max_series`.
    public static let maxSeries = RejectReason("max_series")
}
