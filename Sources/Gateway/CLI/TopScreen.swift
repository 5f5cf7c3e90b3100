import Foundation

/// One screen of `gateway top`, made from two reads of `/api/v1/status` (rates are their differences).
/// Counters are printed whole (digits grouped by commas) so they can be compared with the status.
struct TopScreen {
    let status: [String: Any]
    let previous: [String: Any]?
    let seconds: Double
    let width: Int

    var lines: [String] {
        var out: [String] = []
        let name = status["name"] as? String ?? "gateway"
        let state = (status["status"] as? String) == "pass" ? "running" : status["status"] as? String ?? "?"
        let uptime = Self.int(status["uptime_seconds"]) ?? 0
        var header = "gateway \(name): \(state), up \(Self.duration(uptime))"
        if let taps = Self.int(status["tap_clients"]), taps > 0 { header += ", \(taps) tap clients" }
        out.append(header + "   (q quits)")
        out.append("")

        let listeners = status["listeners"] as? [String: Any] ?? [:]
        let oldListeners = previous?["listeners"] as? [String: Any]
        out.append(Self.row(["LISTENER", "RECEIVED/S", "REJECTED/S", "RECEIVED", "REJECTED", "KERNEL DROPS"]))
        for key in listeners.keys.sorted() {
            let now = listeners[key] as? [String: Any] ?? [:]
            let old = oldListeners?[key] as? [String: Any]
            let received = Self.int(now["points_received"]) ?? 0
            let rejected = Self.sum(now["points_rejected"])
            out.append(
                Self.row([
                    key, rate(received, old.map { Self.int($0["points_received"]) ?? 0 }),
                    rate(rejected, old.map { Self.sum($0["points_rejected"]) }), Self.grouped(received),
                    Self.grouped(rejected), Self.int(now["udp_kernel_drops"]).map(Self.grouped) ?? "-",
                ]))
        }
        out.append("")

        let routes = status["routes"] as? [String: Any] ?? [:]
        let oldRoutes = previous?["routes"] as? [String: Any]
        out.append(Self.row(["ROUTE", "ROUTED/S", "ROUTED"]))
        for key in routes.keys.sorted() {
            let routed = Self.int(routes[key]) ?? 0
            out.append(Self.row([key, rate(routed, oldRoutes.map { Self.int($0[key]) ?? 0 }), Self.grouped(routed)]))
        }
        let unrouted = Self.int(status["points_unrouted"]) ?? 0
        out.append(
            Self.row([
                "(unrouted)", rate(unrouted, previous.map { Self.int($0["points_unrouted"]) ?? 0 }),
                Self.grouped(unrouted),
            ]))
        out.append("")

        let sinks = status["sinks"] as? [String: Any] ?? [:]
        let oldSinks = previous?["sinks"] as? [String: Any]
        out.append(
            Self.row(
                [
                    "SINK", "WRITTEN/S", "WRITTEN", "QUEUE", "QUEUE MEMORY", "SPOOL BATCHES", "SPOOL POINTS",
                    "SPOOL BYTES", "OLDEST",
                    "REPLAYED", "DEAD", "HEALTH",
                ], textLast: true))
        for key in sinks.keys.sorted() {
            let now = sinks[key] as? [String: Any] ?? [:]
            let old = oldSinks?[key] as? [String: Any]
            let spool = now["spool"] as? [String: Any]
            let written = Self.int(now["points_written"]) ?? 0
            var queue = Self.grouped(Self.int(now["sink_queue_points"]) ?? 0)
            if let capacity = Self.int(now["sink_queue_capacity"]) { queue += "/" + Self.grouped(capacity) }
            var memory = "-"
            if let limit = Self.int(now["sink_queue_max_bytes"]) {
                memory = Self.mebibytes(Self.int(now["sink_queue_bytes"]) ?? 0) + "/" + Self.mebibytes(limit)
            }
            out.append(
                Self.row(
                    [
                        key, rate(written, old.map { Self.int($0["points_written"]) ?? 0 }), Self.grouped(written),
                        queue, memory,
                        spool.flatMap { Self.int($0["batches"]) }.map(Self.grouped) ?? "-",
                        spool.flatMap { Self.int($0["points"]) }.map(Self.grouped) ?? "-",
                        spool.flatMap { Self.int($0["bytes"]) }.map(Self.grouped) ?? "-",
                        spool.flatMap { Self.int($0["oldest_age_seconds"]) }.map { $0 > 0 ? Self.duration($0) : "-" }
                            ?? "-",
                        Self.grouped(Self.int(now["points_replayed"]) ?? 0),
                        Self.grouped(Self.int(now["points_dead_lettered"]) ?? 0), now["health"] as? String ?? "-",
                    ], textLast: true))
        }

        let plugins = status["plugins"] as? [String: Any] ?? [:]
        if !plugins.isEmpty {
            out.append("")
            out.append("PLUGINS")
            for key in plugins.keys.sorted() {
                out.append("  " + Self.plugin(key, plugins[key] as? [String: Any] ?? [:]))
            }
        }
        let log = status["recent_log"] as? [[String: Any]] ?? []
        if !log.isEmpty {
            out.append("")
            out.append("RECENT WARNINGS AND ERRORS")
            for entry in log.suffix(5).reversed() {
                let parts = ["time", "level", "message", "metadata"].compactMap { entry[$0] as? String }
                out.append("  " + parts.joined(separator: " "))
            }
        }
        return out
    }

    func rate(_ now: Int, _ before: Int?) -> String {
        guard let before, seconds > 0 else { return "-" }
        return Self.grouped(Int((Double(max(0, now - before)) / seconds).rounded()))
    }

    static func plugin(_ name: String, _ entry: [String: Any]) -> String {
        let type = entry["type"] as? String ?? "?"
        guard entry["enabled"] as? Bool ?? true else { return "\(name) (\(type)): disabled" }
        switch type {
        case "proc":
            let alarms = entry["alarms"] as? [String: Any] ?? [:]
            return "\(name) (proc): RED \(int(alarms["RED"]) ?? 0), AMBER \(int(alarms["AMBER"]) ?? 0), "
                + "passes \(grouped(int(entry["passes"]) ?? 0))"
                + ((entry["error"] as? String).map { ", error: \($0)" } ?? "")
        case "dwmon":
            let runs = entry["last_runs"] as? [String: Any] ?? [:]
            let checkers = (entry["checkers"] as? [String] ?? []).map { checker -> String in
                guard let run = runs[checker] as? [String: Any] else { return "\(checker) not run" }
                if let error = run["error"] as? String { return "\(checker) error: \(error)" }
                let bad = int(run["bad"]) ?? 0
                return "\(checker) \(bad > 0 ? "BAD \(bad)" : "GOOD") of \(int(run["checks"]) ?? 0)"
            }
            return "\(name) (dwmon): " + (checkers.isEmpty ? "no checkers" : checkers.joined(separator: ", "))
        case "jobdir":
            let jobs = entry["jobs"] as? [String: Any] ?? [:]
            let dead = entry["processors_dead"] as? [String] ?? []
            return "\(name) (jobdir): jobs "
                + jobs.keys.sorted().map { "\($0) \(grouped(int(jobs[$0]) ?? 0))" }.joined(separator: ", ")
                + ", waiting for a processor \(grouped(int(entry["waiting_for_processor"]) ?? 0))"
                + ", dead processors: \(dead.isEmpty ? "none" : dead.joined(separator: ","))"
        default:
            return "\(name) (\(type))"
        }
    }

    /// Left-aligned first column, the others right-aligned; with `textLast`, the last one is text
    /// (the sinks' health), left-aligned after a gap.
    static func row(_ cells: [String], textLast: Bool = false) -> String {
        var line = cells[0].padding(toLength: max(14, cells[0].count + 1), withPad: " ", startingAt: 0)
        let numeric = textLast ? cells.dropFirst().dropLast() : cells.dropFirst()
        for cell in numeric { line += String(repeating: " ", count: max(1, 13 - cell.count)) + cell }
        if textLast, let last = cells.last { line += "  " + last }
        return line
    }

    static func int(_ value: Any?) -> Int? {
        if let number = value as? NSNumber { return number.intValue }
        return nil
    }

    static func sum(_ value: Any?) -> Int {
        (value as? [String: Any] ?? [:]).values.compactMap { int($0) }.reduce(0, +)
    }

    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return (value < 0 ? "-" : "") + out
    }

    /// Bytes as MiB with one decimal: "4.2M".
    static func mebibytes(_ bytes: Int) -> String {
        let tenths = (bytes * 10 + (1 << 19)) >> 20
        return "\(tenths / 10).\(tenths % 10)M"
    }

    static func duration(_ seconds: Int) -> String {
        if seconds < 120 { return "\(seconds) s" }
        if seconds < 7200 { return "\(seconds / 60) min" }
        return "\(seconds / 3600) h \(seconds % 3600 / 60) min"
    }
}
