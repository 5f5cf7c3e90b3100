import Foundation
import GatewayCore

/// The `proc` plugin's HTTP API: `/api/v1/<instance>/...` (`/api/v1/proc/...` for the usual
/// instance name), and the original resource-usage server's paths (`/ressources-usage/...`, served
/// by the first instance) so its collectors and clients keep working unchanged. The server answered
/// `query-alarm/` with a trailing slash; the HTTP router treats both spellings as one path.
struct ProcAPI: Sendable {
    let plugin: ProcPlugin

    var routes: [PluginRoute] {
        let api = self
        let base = "/api/v1/\(plugin.name)"
        return [
            PluginRoute(.get, "\(base)/usage") { api.usage($0) },
            PluginRoute(.get, "\(base)/usage/detailed") { api.detailed($0) },
            PluginRoute(.get, "\(base)/alarms") { api.alarms($0) },
            PluginRoute(.get, "\(base)/hosts") { _ in .json(200, ["hosts": api.plugin.store.hosts]) },
            PluginRoute(.put, "/ressources-usage/save-all", isWrite: true) { await api.legacySave($0) },
            PluginRoute(.post, "/ressources-usage/save-all", isWrite: true) { await api.legacySave($0) },
            PluginRoute(.get, "/ressources-usage/get-all") { api.legacyMeans($0, ip: nil) },
            PluginRoute(.get, "/ressources-usage/get-all/:ip") { request in
                api.legacyMeans(request, ip: (request.parameters["ip"] ?? "").replacingOccurrences(of: "-", with: "."))
            },
            PluginRoute(.get, "/ressources-usage/get-all-detailed") { api.legacyDetailed($0) },
            PluginRoute(.get, "/ressources-usage/query-alarm") { api.legacyAlarms($0) },
        ]
    }

    var settings: ProcSettings { plugin.settings }

    /// A query duration (`window`, `horizon`): absent means `fallback`; bad text is a 400 naming it.
    func duration(_ request: PluginRequest, _ name: String, fallback: Duration, boundedByStore: Bool = true) throws(PluginError) -> Int64 {
        guard let text = request.query[name], !text.isEmpty else { return Units.nanoseconds(fallback) }
        guard let value = Units.duration(text), value > .zero else {
            throw PluginError(400, "invalid \(name) \"\(text)\": expected a duration such as 30s, 5m or 1h")
        }
        let nanos = Units.nanoseconds(value)
        if boundedByStore, nanos > plugin.store.window {
            throw PluginError(400, "\(name) \(text) is longer than the usage store keeps (window \(settings.window))")
        }
        return nanos
    }

    /// Runs a handler body; a parameter error becomes its 400.
    func answer(_ body: () throws(PluginError) -> PluginResponse) -> PluginResponse {
        do { return try body() } catch { return error.response }
    }

    struct PluginError: Error {
        var status: Int
        var message: String
        init(_ status: Int, _ message: String) {
            self.status = status
            self.message = message
        }
        var response: PluginResponse { .error(status, code: status == 404 ? "not found" : "invalid", message: message) }
    }

    static func seconds(_ nanos: Int64) -> Double { Double(nanos) / 1e9 }

    static func value(_ v: Double) -> Any { v.isNaN ? NSNull() : v }

    /// The most samples one history answer builds; a larger one is a 413 asking for a narrower query.
    static let maxAnswerSamples = 200_000

    func tooLarge(_ count: Int) -> PluginResponse {
        .error(
            413, code: "request too large",
            message: "the answer would hold \(count) samples (limit \(Self.maxAnswerSamples)): narrow it with window, host or process")
    }

    // MARK: /api/v1/proc

    func usage(_ request: PluginRequest) -> PluginResponse { answer { () throws(PluginError) in
        let window = try duration(request, "window", fallback: settings.meanWindow)
        let host = request.query["host"].flatMap { $0.isEmpty ? nil : $0 }
        let means = plugin.store.means(since: plugin.now() - window, host: host)
        var processes: [String: Any] = [:]
        for (process, mean) in means {
            processes[process] = [
                "mem_percent": mean.mem as Any, "cpu_percent": mean.cpu as Any, "mem_samples": mean.memSamples,
                "cpu_samples": mean.cpuSamples, "hosts": mean.hosts,
            ]
        }
        return .json(
            200, ["window_seconds": Self.seconds(window), "host": host as Any, "processes": processes])
    } }

    func detailed(_ request: PluginRequest) -> PluginResponse { answer { () throws(PluginError) in
        let window = try duration(request, "window", fallback: settings.meanWindow)
        let host = request.query["host"].flatMap { $0.isEmpty ? nil : $0 }
        let process = request.query["process"].flatMap { $0.isEmpty ? nil : $0 }
        let since = plugin.now() - window
        let count = plugin.store.sampleCount(since: since, host: host, process: process)
        if count > Self.maxAnswerSamples { return tooLarge(count) }
        let history = plugin.store.history(since: since, host: host, process: process)
        let series: [[String: Any]] = history.map { key, samples in
            var entry: [String: Any] = [
                "host": key.host, "process": key.process,
                "samples": samples.map { s -> [String: Any] in
                    [
                        "time": Self.seconds(s.time), "cpu_percent": Self.value(s.cpu), "mem_percent": Self.value(s.mem),
                        "rss_bytes": s.rss >= 0 ? s.rss : NSNull(), "threads": s.threads >= 0 ? Int(s.threads) : NSNull(),
                    ]
                },
            ]
            if let pid = key.pid { entry["pid"] = pid }
            return entry
        }
        return .json(
            200,
            ["window_seconds": Self.seconds(window), "host": host as Any, "process": process as Any, "series": series])
    } }

    func alarms(_ request: PluginRequest) -> PluginResponse { answer { () throws(PluginError) in
        let window = try duration(request, "window", fallback: settings.meanWindow)
        let horizon = try duration(request, "horizon", fallback: settings.horizon, boundedByStore: false)
        var rule = plugin.rule
        rule.horizonNanoseconds = horizon
        let host = request.query["host"].flatMap { $0.isEmpty ? nil : $0 }
        let alarms = plugin.store.alarms(since: plugin.now() - window, rule: rule, host: host)
        var counts: [String: Int] = Dictionary(uniqueKeysWithValues: AlarmLevel.allCases.map { ($0.rawValue, 0) })
        let list: [[String: Any]] = alarms.map { alarm in
            counts[alarm.level.rawValue, default: 0] += 1
            var entry: [String: Any] = [
                "host": alarm.key.host, "process": alarm.key.process, "level": alarm.level.rawValue,
                "cpu": Self.describe(alarm.cpu), "mem": Self.describe(alarm.mem),
            ]
            if let pid = alarm.key.pid { entry["pid"] = pid }
            return entry
        }
        return .json(
            200,
            [
                "window_seconds": Self.seconds(window), "horizon_seconds": Self.seconds(horizon),
                "thresholds": ["cpu": rule.cpuThreshold, "mem": rule.memThreshold], "counts": counts, "alarms": list,
            ])
    } }

    static func describe(_ alarm: MetricAlarm?) -> Any {
        guard let alarm else { return NSNull() }
        return [
            "level": alarm.level.rawValue, "latest": alarm.latest, "latest_time": seconds(alarm.latestTime),
            "threshold": alarm.threshold, "slope_per_minute": alarm.slopePerMinute as Any,
            "projected": alarm.projected as Any, "samples": alarm.samples,
        ] as [String: Any]
    }

    // MARK: The original server's paths

    /// `{"data": [{"timestamp", "value", "process_name", "type_data": "cpu"|"mem"}], "ipaddress": ...}`.
    /// Checked whole before anything is kept: one bad entry answers 400 naming it and nothing is written.
    func legacySave(_ request: PluginRequest) async -> PluginResponse {
        let points: [Point]
        switch Self.legacyPoints(request.body, receiveTime: plugin.now()) {
        case .success(let p): points = p
        case .failure(let e): return e.response
        }
        let accepted = await plugin.context.emit(points)
        if accepted < points.count {
            return .json(
                422,
                [
                    "code": "unprocessable entity", "saved": accepted, "rejected": points.count - accepted,
                    "message": "\(points.count - accepted) of \(points.count) values failed the gateway's schemas (see its log)",
                ])
        }
        return .json(200, ["saved": accepted])
    }

    static func legacyPoints(_ body: [UInt8], receiveTime: Int64) -> Result<[Point], PluginError> {
        let root: JSONValue
        do { root = try JSONValue.parse(body) } catch {
            return .failure(PluginError(400, "body is not valid JSON: \(error)"))
        }
        guard case .object = root else { return .failure(PluginError(400, "body must be a JSON object, got \(root.kindName)")) }
        guard case .string(let ip)? = root["ipaddress"], !ip.isEmpty else {
            return .failure(PluginError(400, "\"ipaddress\" is missing or not a string"))
        }
        guard case .array(let data)? = root["data"] else { return .failure(PluginError(400, "\"data\" is missing or not a list")) }
        var points: [Point] = []
        points.reserveCapacity(data.count)
        for (index, entry) in data.enumerated() {
            let at = "data[\(index)]"
            guard case .object = entry else { return .failure(PluginError(400, "\(at) is \(entry.kindName), not an object")) }
            guard case .string(let type)? = entry["type_data"] else {
                return .failure(PluginError(400, "\(at).type_data is missing or not a string"))
            }
            let series: String
            switch type {
            case "cpu": series = "cpu_usage_percent"
            case "mem": series = "mem_usage_percent"
            default: return .failure(PluginError(400, "\(at).type_data \"\(type)\" is not one of cpu, mem"))
            }
            guard case .string(let process)? = entry["process_name"], !process.isEmpty else {
                return .failure(PluginError(400, "\(at).process_name is missing or empty"))
            }
            guard let value = entry["value"]?.double, value.isFinite else {
                return .failure(PluginError(400, "\(at).value is missing or not a number"))
            }
            guard value >= 0 else { return .failure(PluginError(400, "\(at).value \(value) is negative: not a percentage")) }
            let time: Int64
            switch entry["timestamp"] {
            case nil, .null?: time = receiveTime
            case .number?:
                let seconds = entry["timestamp"]?.double ?? .nan
                guard seconds.isFinite, abs(seconds) < 9.2e9 else {
                    return .failure(PluginError(400, "\(at).timestamp is out of range"))
                }
                time = Int64((seconds * 1e9).rounded())
            case .string(let text)?:
                guard let date = Self.parseDate(text) else {
                    return .failure(
                        PluginError(400, "\(at).timestamp \"\(text)\" is neither epoch seconds nor an ISO 8601 date"))
                }
                time = Int64((date.timeIntervalSince1970 * 1e9).rounded())
            case let other?:
                return .failure(PluginError(400, "\(at).timestamp is \(other.kindName), not a number or a date"))
            }
            if time > receiveTime + UsageStore.maxFutureNanoseconds {
                return .failure(
                    PluginError(400, "\(at).timestamp is more than 5 minutes ahead of this gateway's clock (epoch seconds, UTC)"))
            }
            points.append(
                Point(
                    series: series, time: time, tags: [Tag("ip", ip), Tag("process", process)],
                    fields: [Field("value", .float(value))]))
        }
        return .success(points)
    }

    static func parseDate(_ text: String) -> Date? {
        if let seconds = Double(text) { return Date(timeIntervalSince1970: seconds) }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        // "2024-05-01T10:00:00[.123456]" or with a space, without a zone: UTC (as Python's
        // `datetime.utcnow().isoformat()` writes).
        formatter.timeZone = TimeZone(identifier: "UTC")
        let normalised = text.replacingOccurrences(of: " ", with: "T")
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate]
        if let dot = normalised.firstIndex(of: ".") {
            guard let fraction = Double("0" + normalised[dot...]), let whole = formatter.date(from: String(normalised[..<dot]))
            else { return nil }
            return whole.addingTimeInterval(fraction)
        }
        return formatter.date(from: normalised)
    }

    /// `{"process": [mem_mean, cpu_mean]}`, plain JSON; a metric without samples is null.
    /// `ip` is the address the path names (the `ip` tag, or the host of senders that tag their address as `host`).
    func legacyMeans(_ request: PluginRequest, ip: String?) -> PluginResponse { answer { () throws(PluginError) in
        let window = try duration(request, "window", fallback: settings.meanWindow)
        if let ip, ip.isEmpty { return .error(400, code: "invalid", message: "no ip address in the path") }
        let means = plugin.store.means(since: plugin.now() - window, address: ip)
        var out: [String: Any] = [:]
        for (process, mean) in means { out[process] = [mean.mem as Any, mean.cpu as Any] }
        return .json(200, out)
    } }

    /// `{"process": [{"ip", "timestamp", "mem", "cpu"}, ...]}` over the window (default: all kept).
    func legacyDetailed(_ request: PluginRequest) -> PluginResponse { answer { () throws(PluginError) in
        let window = try duration(request, "window", fallback: settings.window)
        let ip = request.query["ip"].map { $0.replacingOccurrences(of: "-", with: ".") }
        let since = plugin.now() - window
        let count = plugin.store.sampleCount(since: since, address: ip)
        if count > Self.maxAnswerSamples { return tooLarge(count) }
        var out: [String: [[String: Any]]] = [:]
        for (key, samples) in plugin.store.history(since: since, address: ip) {
            out[key.process, default: []].append(
                contentsOf: samples.map { ["ip": key.address, "timestamp": Self.seconds($0.time), "mem": Self.value($0.mem), "cpu": Self.value($0.cpu)] })
        }
        return .json(200, out)
    } }

    /// `[{"ip", "process", "status": "RED"|"AMBER"|"GREEN", "mem", "cpu"}]`, worst first.
    func legacyAlarms(_ request: PluginRequest) -> PluginResponse {
        let alarms = plugin.store.alarms(since: plugin.now() - Units.nanoseconds(settings.meanWindow), rule: plugin.rule)
        let sorted = alarms.sorted { a, b in a.level != b.level ? a.level > b.level : a.key < b.key }
        return .json(
            200,
            sorted.map { alarm -> [String: Any] in
                [
                    "ip": alarm.key.address, "process": alarm.key.process, "status": alarm.level.rawValue,
                    "mem": alarm.mem?.latest as Any, "cpu": alarm.cpu?.latest as Any,
                    "mem_status": alarm.mem?.level.rawValue as Any, "cpu_status": alarm.cpu?.level.rawValue as Any,
                ]
            })
    }
}
