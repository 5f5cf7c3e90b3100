import CoreMetrics
import Foundation
import Metrics
import Prometheus
import Synchronization

/// The gateway's self-metrics: one Prometheus registry per runtime (so tests can run several
/// gateways in one process), fed through swift-metrics handles made by its factory.
final class GatewayMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// Prometheus's factory, with the families `/api/v1/status` reports also kept in ``tally``.
    let factory: any MetricsFactory
    let tally = MetricsTally()
    /// Refreshers run before every export (kernel drop counts, queue depths).
    private let refreshers = Mutex<[(key: String?, refresh: @Sendable () -> Void)]>([])
    let startTime = Date()

    init() {
        factory = TallyMetricsFactory(inner: PrometheusMetricsFactory(registry: registry), tally: tally)
    }

    /// Brings the figures read at export time (kernel drop counts, queue depths) up to date.
    func refresh() {
        for entry in refreshers.withLock({ $0 }) { entry.refresh() }
    }

    /// Adds a refresher; one with a `key` replaces the refreshers added before under that key (a
    /// sink that a reload made anew reports its new queue, not the old one).
    func addRefresher(key: String? = nil, _ refresh: @escaping @Sendable () -> Void) {
        refreshers.withLock { entries in
            if let key { entries.removeAll { $0.key == key } }
            entries.append((key, refresh))
        }
    }

    /// Removes the refreshers added under `key` (a sink a reload removed).
    func removeRefreshers(key: String) {
        refreshers.withLock { $0.removeAll { $0.key == key } }
    }

    /// Prometheus text exposition: families sorted by name, each with its `# HELP` line, then the
    /// process's own figures (`process_*`) and `gateway_build_info`.
    func exposition() -> [UInt8] {
        refresh()
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self) + Self.processFamilies()
        return Array(Self.withHelp(text).utf8)
    }

    /// Splits the exposition into families (a `# TYPE` line and its samples), sorts them by name and
    /// puts each family's help text before it.
    static func withHelp(_ text: String) -> String {
        var families: [(name: String, lines: [Substring])] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let name = line.dropFirst(7).prefix { $0 != " " }
                families.append((String(name), [line]))
            } else if !line.hasPrefix("#"), !families.isEmpty {
                families[families.count - 1].lines.append(line)
            }
        }
        var out = ""
        for family in families.sorted(by: { $0.name < $1.name }) {
            let help = MetricHelp.text[family.name] ?? "\(family.name) (no help text: a defect, see MetricHelp.swift)"
            out += "# HELP \(family.name) \(help)\n"
            for line in family.lines { out += line + "\n" }
        }
        return out
    }

    /// What every Prometheus exporter reports of its process (from /proc/self), and the build.
    static func processFamilies() -> String {
        var out =
            "# TYPE gateway_build_info gauge\ngateway_build_info{version=\"\(GatewayVersion.current)\",commit=\"\(BuildInfo.commit)\",built=\"\(BuildInfo.date)\"} 1\n"
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        {
            // After the name, state is field 3: utime 14, stime 15, starttime 22, vsize 23, rss 24.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 22, let utime = Double(fields[11]), let stime = Double(fields[12]),
                let start = Double(fields[19]), let vsize = Double(fields[20]), let rss = Double(fields[21])
            {
                out +=
                    "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total \((utime + stime) / ticks)\n"
                out += "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes \(vsize)\n"
                out += "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes \(rss * pageSize)\n"
                if let boot = bootTime() {
                    out +=
                        "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds \(boot + start / ticks)\n"
                }
            }
        }
        if let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            out += "# TYPE process_open_fds gauge\nprocess_open_fds \(fds.count)\n"
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            out += "# TYPE process_max_fds gauge\nprocess_max_fds \(limit.rlim_cur)\n"
        }
        return out
    }

    /// The system's boot time (`btime` in /proc/stat), in seconds since the epoch.
    static func bootTime() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// The current samples, parsed back from the exposition (for tests that check what `/metrics`
    /// shows; `/api/v1/status` reads ``tally``).
    func snapshot() -> MetricsSnapshot {
        MetricsSnapshot(text: String(decoding: exposition(), as: UTF8.self))
    }
}

/// Parsed Prometheus samples.
struct MetricsSnapshot: Sendable {
    struct Sample: Sendable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var samples: [Sample] = []

    init(text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            let head = line[..<space]
            var labels: [String: String] = [:]
            var name = String(head)
            if let brace = head.firstIndex(of: "{"), head.hasSuffix("}") {
                name = String(head[..<brace])
                labels = Self.parseLabels(head[head.index(after: brace)..<head.index(before: head.endIndex)])
            }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
    }

    static func parseLabels(_ text: Substring) -> [String: String] {
        var labels: [String: String] = [:]
        var index = text.startIndex
        while index < text.endIndex {
            guard let equals = text[index...].firstIndex(of: "=") else { break }
            let key = String(text[index..<equals]).trimmingCharacters(in: CharacterSet(charactersIn: ", "))
            var i = text.index(equals, offsetBy: 2, limitedBy: text.endIndex) ?? text.endIndex  // past ="
            var value = ""
            while i < text.endIndex, text[i] != "\"" {
                if text[i] == "\\", text.index(after: i) < text.endIndex {
                    i = text.index(after: i)
                    value.append(text[i] == "n" ? "\n" : text[i])
                } else {
                    value.append(text[i])
                }
                i = text.index(after: i)
            }
            labels[key] = value
            index = i < text.endIndex ? text.index(after: i) : i
        }
        return labels
    }

    /// Sum of the samples named `name` whose labels include `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples.filter { sample in
            sample.name == name && labels.allSatisfy { key, v in sample.labels[key] == v }
        }.reduce(0) { $0 + $1.value }
    }
}
