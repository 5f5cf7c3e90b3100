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
    func duration(_ request: PluginRequest, _ name: String, fallback: Duration, boundedByStore: Bool = true)
        throws(PluginError) -> Int64
    {
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

    /// The most samples one history answer builds; a larger one is a 413 asking for a narrower query.
    static let maxAnswerSamples = 200_000

    func tooLarge(_ count: Int) -> PluginResponse {
        .error(
            413, code: "request too large",
            message:
                "the answer would hold \(count) samples (limit \(Self.maxAnswerSamples)): narrow it with window, host or process"
        )
    }

    // MARK: /api/v1/proc

    func usage(_ request: PluginRequest) -> PluginResponse {
        answer { () throws(PluginError) in
            let window = try duration(request, "window", fallback: settings.meanWindow)
            let host = request.query["host"].flatMap { $0.isEmpty ? nil : $0 }
            let means = plugin.store.means(since: plugin.now() - window, host: host)
            let processes = means.mapValues { mean in
                ProcUsageAnswer.Mean(
                    memPercent: JSONNumber(mean.mem), cpuPercent: JSONNumber(mean.cpu), memSamples: mean.memSamples,
                    cpuSamples: mean.cpuSamples, hosts: mean.hosts)
            }
            return .json(200, ProcUsageAnswer(windowSeconds: Self.seconds(window), host: host, processes: processes))
        }
    }

    func detailed(_ request: PluginRequest) -> PluginResponse {
        answer { () throws(PluginError) in
            let window = try duration(request, "window", fallback: settings.meanWindow)
            let host = request.query["host"].flatMap { $0.isEmpty ? nil : $0 }
            let process = request.query["process"].flatMap { $0.isEmpty ? nil : $0 }
            let since = plugin.now() - window
            let count = plugin.store.sampleCount(since: since, host: host, process: process)
            if count > Self.maxAnswerSamples { return tooLarge(count) }
            let history = plugin.store.history(since: since, host: host, process: process)
            let series = history.map { key, samples in
                ProcDetailedAnswer.Series(
                    host: key.host, process: key.process, pid: key.pid,
                    samples: samples.map { s in
                        ProcDetailedAnswer.Sample(
                            time: Self.seconds(s.time), cpuPercent: JSONNumber(s.cpu), memPercent: JSONNumber(s.mem),
                            rssBytes: s.rss >= 0 ? s.rss : nil, threads: s.threads >= 0 ? Int(s.threads) : nil)
                    })
            }
            return .json(
                200,
                ProcDetailedAnswer(windowSeconds: Self.seconds(window), host: host, process: process, series: series))
        }
    }

    func alarms(_ request: PluginRequest) -> PluginResponse {
        answer { () throws(PluginError) in
            let window = try duration(request, "window", fallback: settings.meanWindow)
            let horizon = try duration(request, "horizon", fallback: settings.horizon, boundedByStore: false)
            var rule = plugin.rule
            rule.horizonNanoseconds = horizon
            let host = request.query["host"].flatMap { $0.isEmpty ? nil : $0 }
            let alarms = plugin.store.alarms(since: plugin.now() - window, rule: rule, host: host)
            var counts: [String: Int] = Dictionary(uniqueKeysWithValues: AlarmLevel.allCases.map { ($0.rawValue, 0) })
            let list = alarms.map { alarm in
                counts[alarm.level.rawValue, default: 0] += 1
                return ProcAlarmsAnswer.Alarm(
                    host: alarm.key.host, process: alarm.key.process, pid: alarm.key.pid, level: alarm.level.rawValue,
                    cpu: Self.describe(alarm.cpu), mem: Self.describe(alarm.mem))
            }
            return .json(
                200,
                ProcAlarmsAnswer(
                    windowSeconds: Self.seconds(window), horizonSeconds: Self.seconds(horizon),
                    thresholds: .init(cpu: rule.cpuThreshold, mem: rule.memThreshold), counts: counts, alarms: list))
        }
    }

    static func describe(_ alarm: MetricAlarm?) -> ProcAlarmsAnswer.Metric? {
        guard let alarm else { return nil }
        return ProcAlarmsAnswer.Metric(
            level: alarm.level.rawValue, latest: JSONNumber(alarm.latest), latestTime: seconds(alarm.latestTime),
            threshold: alarm.threshold, slopePerMinute: JSONNumber(alarm.slopePerMinute),
            projected: JSONNumber(alarm.projected), samples: alarm.samples)
    }

    // MARK: The original server's paths

    /// `{"data": [{"timestamp", "value", "process_name", "type_data": "cpu"|"mem"}], "ipaddress": ...}`.
    /// Checked whole before anything is kept: one bad entry answers 400 naming it and nothing is written.
    func legacySave(_ request: PluginRequest) async -> PluginResponse {
        let points: [Point]
        switch Self.legacyPoints(request.body, receiveTime: plugin.now()) {
        case .success(let p): points = p
        case .failure(let e):
            // The original answers {"Response": "NOk"}; the gateway says what is wrong too.
            return .json(e.status, ProcLegacyRefusal(response: "NOk", code: "invalid", message: e.message))
        }
        let accepted = await plugin.context.emit(points)
        if accepted < points.count {
            return .json(
                422,
                ProcLegacySaveRefusal(
                    code: "unprocessable entity", saved: accepted, rejected: points.count - accepted,
                    message:
                        "\(points.count - accepted) of \(points.count) values failed the gateway's schemas (see its log)"
                ))
        }
        // The original answers {"Response": "Ok"}; `saved` is the gateway's addition.
        return .json(200, ProcLegacySaved(response: "Ok", saved: accepted))
    }

    static func legacyPoints(_ body: [UInt8], receiveTime: Int64) -> Result<[Point], PluginError> {
        let root: JSONValue
        do { root = try JSONValue.parse(body) } catch {
            return .failure(PluginError(400, "body is not valid JSON: \(error)"))
        }
        guard case .object = root else {
            return .failure(PluginError(400, "body must be a JSON object, got \(root.kindName)"))
        }
        guard case .string(let ip)? = root["ipaddress"], !ip.isEmpty else {
            return .failure(PluginError(400, "\"ipaddress\" is missing or not a string"))
        }
        guard case .array(let data)? = root["data"] else {
            return .failure(PluginError(400, "\"data\" is missing or not a list"))
        }
        var points: [Point] = []
        points.reserveCapacity(data.count)
        for (index, entry) in data.enumerated() {
            let at = "data[\(index)]"
            guard case .object = entry else {
                return .failure(PluginError(400, "\(at) is \(entry.kindName), not an object"))
            }
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
            guard value >= 0 else {
                return .failure(PluginError(400, "\(at).value \(value) is negative: not a percentage"))
            }
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
                guard let nanoseconds = Self.parseDate(text) else {
                    return .failure(
                        PluginError(400, "\(at).timestamp \"\(text)\" is neither epoch seconds nor an ISO 8601 date"))
                }
                time = nanoseconds
            case let other?:
                return .failure(PluginError(400, "\(at).timestamp is \(other.kindName), not a number or a date"))
            }
            if time > receiveTime + UsageStore.maxFutureNanoseconds {
                return .failure(
                    PluginError(
                        400, "\(at).timestamp is more than 5 minutes ahead of this gateway's clock (epoch seconds, UTC)"
                    ))
            }
            points.append(
                Point(
                    series: series, time: time, tags: [Tag("ip", ip), Tag("process", process)],
                    fields: [Field("value", .float(value))]))
        }
        return .success(points)
    }

    /// Unix nanoseconds of epoch seconds as text, or of an ISO 8601 date; without a zone
    /// (`2024-05-01T10:00:00[.123456]`, or with a space, as Python's `datetime.utcnow().isoformat()`
    /// writes) it is UTC.
    static func parseDate(_ text: String) -> Int64? {
        if let seconds = Double(text) {
            guard seconds.isFinite, abs(seconds) < 9.2e9 else { return nil }
            return Int64((seconds * 1e9).rounded())
        }
        return try? ISO8601.parse(text, missingZone: .utc)
    }

    /// As the original server answers: a JSON *string* holding `{"process": [mem_mean, cpu_mean]}`
    /// written by Python's `json.dumps` (its clients do `json.loads(response.json())`). A process
    /// with only one metric has a one-element list (the original merges the two lists so), mem
    /// processes first; never `null`.
    /// `ip` is the address the path names (the `ip` tag, or the host of senders that tag their address as `host`).
    func legacyMeans(_ request: PluginRequest, ip: String?) -> PluginResponse {
        answer { () throws(PluginError) in
            let window = try duration(request, "window", fallback: settings.meanWindow)
            if let ip, ip.isEmpty { return .error(400, code: "invalid", message: "no ip address in the path") }
            let means = plugin.store.means(since: plugin.now() - window, address: ip)
            let withMem = means.filter { $0.value.mem != nil }.sorted { $0.key < $1.key }
            let cpuOnly = means.filter { $0.value.mem == nil && $0.value.cpu != nil }.sorted { $0.key < $1.key }
            let entries = (withMem + cpuOnly).map {
                (key: $0.key, values: [$0.value.mem, $0.value.cpu].compactMap { $0 })
            }
            let inner = PythonJSON.dumps(entries)
            return PluginResponse(status: 200, body: Array(PythonJSON.string(inner, asciiOnly: false).utf8))
        }
    }

    /// As the original server answers: `{"process": [mem, mem, ...]}`, every memory sample kept in the
    /// window, oldest first, plain JSON (`/api/v1/<proc>/usage/detailed` has times, hosts and CPU).
    func legacyDetailed(_ request: PluginRequest) -> PluginResponse {
        answer { () throws(PluginError) in
            let window = try duration(request, "window", fallback: settings.window)
            let ip = request.query["ip"].map { $0.replacingOccurrences(of: "-", with: ".") }
            let since = plugin.now() - window
            let count = plugin.store.sampleCount(since: since, address: ip)
            if count > Self.maxAnswerSamples { return tooLarge(count) }
            var out: [String: [(time: Int64, mem: Double)]] = [:]
            for (key, samples) in plugin.store.history(since: since, address: ip) {
                out[key.process, default: []].append(
                    contentsOf: samples.filter { !$0.mem.isNaN }.map { ($0.time, $0.mem) })
            }
            return .json(200, out.mapValues { $0.sorted { $0.time < $1.time }.map(\.mem) })
        }
    }

    /// `[{"ip", "process", "status": "RED"|"AMBER"|"GREEN", "mem", "cpu"}]`, worst first.
    func legacyAlarms(_ request: PluginRequest) -> PluginResponse {
        let alarms = plugin.store.alarms(
            since: plugin.now() - Units.nanoseconds(settings.meanWindow), rule: plugin.rule)
        let sorted = alarms.sorted { a, b in a.level != b.level ? a.level > b.level : a.key < b.key }
        return .json(
            200,
            sorted.map { alarm in
                ProcLegacyAlarm(
                    ip: alarm.key.address, process: alarm.key.process, status: alarm.level.rawValue,
                    mem: JSONNumber(alarm.mem?.latest), cpu: JSONNumber(alarm.cpu?.latest),
                    memStatus: alarm.mem?.level.rawValue, cpuStatus: alarm.cpu?.level.rawValue)
            })
    }
}
