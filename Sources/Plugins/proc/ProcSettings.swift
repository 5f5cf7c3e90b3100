import GatewayCore

/// The `proc` plugin's settings (`plugins.d/proc.yaml`); defaults are the documented ones.
public struct ProcSettings: Sendable {
    public enum Grouping: String, Sendable, CaseIterable { case name, pid }
    public enum Format: String, Sendable, CaseIterable {
        /// `process_usage` with `cpu_percent`, `mem_percent`, `rss_bytes`, `threads`.
        case processUsage = "process_usage"
        /// The original monitor's series: `cpu_usage_percent` and `mem_usage_percent`, tag `ip`, field `value`.
        case legacy
    }

    /// Collect this host's processes (off on a gateway that only answers for others).
    public var collect = true
    public var interval: Duration = .seconds(10)
    public var groupBy: Grouping = .name
    /// Divide CPU % by the number of cores (100 % = every core busy) instead of 100 % = one core.
    public var cpuPerCore = false
    public var include: [String] = []
    public var exclude: [String] = []
    /// Keep the N busiest processes per pass (by CPU, then resident memory); 0 keeps all.
    public var top = 50
    public var format: Format = .processUsage
    /// The `host` tag of this host's points; empty leaves it to the gateway's default `host` tag
    /// (`gateway.name`, else the machine's host name), the same as every other component's.
    public var host = ""
    /// This host's address in the `ip` tag, and its key in the original monitor's paths
    /// (`/ressources-usage/get-all/:ip`); empty means its primary IPv4 address.
    public var ip = ""
    /// Where process files are read (tests point it elsewhere).
    public var procRoot = "/proc"

    /// Keep a usage store, answer the HTTP API and evaluate alarms.
    public var serve = true
    /// How much history the usage store keeps.
    public var window: Duration = .seconds(3 * 3600)
    /// Bounds of the usage store: host/process series (a new one evicts the one updated longest
    /// ago), and samples per series (the oldest go first).
    public var maxSeries = 2_000
    public var maxSamplesPerSeries = 2_160
    /// Default window of the means (`/usage`, `get-all`) and of the alarm trend.
    public var meanWindow: Duration = .seconds(300)
    public var cpuThreshold = 80.0
    public var memThreshold = 80.0
    /// How far ahead the alarm trend is projected.
    public var horizon: Duration = .seconds(300)
    /// Fewest samples a trend is fitted to.
    public var trendMinSamples = 5
    /// Shortest span of samples a trend is fitted to.
    public var trendMinSpan: Duration = .seconds(60)
    /// How often alarm levels are evaluated for transitions.
    public var alarmInterval: Duration = .seconds(10)

    public init() {}
}
