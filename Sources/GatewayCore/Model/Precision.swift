/// The unit of a timestamp in line protocol or a JSON point.
public enum Precision: String, Sendable, CaseIterable {
    case nanoseconds = "ns"
    case microseconds = "us"
    case milliseconds = "ms"
    case seconds = "s"

    /// Nanoseconds per unit.
    public var multiplier: Int64 {
        switch self {
        case .nanoseconds: return 1
        case .microseconds: return 1_000
        case .milliseconds: return 1_000_000
        case .seconds: return 1_000_000_000
        }
    }

    /// Parses the spellings InfluxDB accepts (`ns`, `us`, `µs`, `ms`, `s`; 1.x also `n`, `u`).
    public init?(influx text: String) {
        switch text {
        case "ns", "n", "": self = .nanoseconds
        case "us", "u", "µs", "µ": self = .microseconds
        case "ms": self = .milliseconds
        case "s": self = .seconds
        default: return nil
        }
    }
}
