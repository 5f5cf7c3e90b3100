import Foundation

/// One kind of load, named as in the report (`udp-1M`, `udp-200k`, `http-4c`, `http-1c`, `spool-write`,
/// `spool-replay`, `e2e-udp-1M`, `e2e-rss-200k`, `statsd-1M`).
enum Scenario: Sendable, Equatable {
    /// Datagrams of 10 lines, paced to this many points per second.
    case udp(pointsPerSecond: Int)
    /// Bodies of 5,000 lines, as fast as the target answers, over this many keep-alive connections.
    case http(connections: Int)
    /// The spool's write path in process: encode, gzip and append batches to a fresh `SpoolStore`.
    case spoolWrite
    /// A spool of this many points replayed by an in-process `InfluxSink` to VictoriaMetrics.
    case spoolReplay(points: Int)
    /// UDP to the gateway, its influx2 sink to VictoriaMetrics' `/api/v2/write`, paced to this rate.
    case e2eUDP(pointsPerSecond: Int)
    /// UDP at this rate to a gateway whose influx2 sink's server is down: its RSS while it spools.
    case e2eRSS(pointsPerSecond: Int)
    /// One proc-plugin collection pass, per process, against psutil's `process_iter`.
    case procPass
    /// The jobdir plugin's scan of a storage root of 100,000 files, against `find`.
    case jobdirScan
    /// UDP at this rate -> agent -> VictoriaMetrics: the gateway (influx2, prometheus_remote_write) and vmagent.
    case agentsUDP(pointsPerSecond: Int)
    /// This many points over `connections` HTTP connections -> agent -> VictoriaMetrics, each body once.
    case agentsHTTP(connections: Int, points: Int)
    /// This many points over `connections` HTTP connections to an agent whose VictoriaMetrics is
    /// down; then VictoriaMetrics comes back: the outage held (spool, disk queue) and drained.
    case agentsOutage(connections: Int, points: Int)
    /// In process: a batch encoded for influx2 (line protocol + gzip) and for remote write.
    case encode
    /// StatsD lines over UDP (10 per datagram, 10,000 series) paced to this many lines per second, to
    /// the gateway's `statsd` listener and to collectd's `statsd` plugin (``StatsDBench``).
    case statsd(linesPerSecond: Int)

    var name: String {
        switch self {
        case .udp(let rate): return "udp-\(Self.shortNumber(rate))"
        case .http(let connections): return "http-\(connections)c"
        case .spoolWrite: return "spool-write"
        case .spoolReplay: return "spool-replay"
        case .e2eUDP(let rate): return "e2e-udp-\(Self.shortNumber(rate))"
        case .e2eRSS(let rate): return "e2e-rss-\(Self.shortNumber(rate))"
        case .procPass: return "proc-pass"
        case .jobdirScan: return "jobdir-scan"
        case .agentsUDP(let rate): return "agents-udp-\(Self.shortNumber(rate))"
        case .agentsHTTP(let connections, _): return "agents-http-\(connections)c"
        case .agentsOutage(_, let points): return "agents-outage-\(Self.shortNumber(points))"
        case .encode: return "encode"
        case .statsd(let rate): return "statsd-\(Self.shortNumber(rate))"
        }
    }

    /// Whether the scenario needs VictoriaMetrics (it is left out under `--skip-vm`).
    var needsVictoriaMetrics: Bool {
        switch self {
        case .udp, .http, .spoolWrite, .e2eRSS, .procPass, .jobdirScan, .encode, .statsd: return false
        case .spoolReplay, .e2eUDP, .agentsUDP, .agentsHTTP, .agentsOutage: return true
        }
    }

    /// VictoriaMetrics' direct `/api/v2/write` rates (connection counts) this scenario's ratios are
    /// taken against: the http-<n>c scenarios' VictoriaMetrics figures of the same benchmark run.
    var referenceConnections: [Int] {
        switch self {
        case .spoolReplay: return [1]
        case .e2eUDP: return [1, 4]
        default: return []
        }
    }

    /// Whether one of `filters` selects this scenario: its whole name, or a prefix (`udp` selects every
    /// UDP rate). No filter selects everything.
    func isSelected(by filters: [String]) -> Bool {
        filters.isEmpty || filters.contains { name == $0 || name.hasPrefix($0) }
    }

    /// 1000000 → "1M", 200000 → "200k", 1500000 → "1.5M", 12345 → "12345".
    static func shortNumber(_ value: Int) -> String {
        for (unit, suffix) in [(1_000_000, "M"), (1000, "k")] where value >= unit {
            if value % unit == 0 { return "\(value / unit)\(suffix)" }
            if value % (unit / 10) == 0 { return "\(value / unit).\(value % unit / (unit / 10))\(suffix)" }
        }
        return "\(value)"
    }

    /// Reads "1M", "200k", "1.5M", "250000" or "1_000_000".
    static func parseCount(_ text: String) -> Int? {
        var digits = text.replacingOccurrences(of: "_", with: "")
        var multiplier = 1.0
        if let last = digits.last, "kKmM".contains(last) {
            multiplier = last == "k" || last == "K" ? 1e3 : 1e6
            digits.removeLast()
        }
        guard let value = Double(digits), value > 0 else { return nil }
        return Int((value * multiplier).rounded())
    }
}
