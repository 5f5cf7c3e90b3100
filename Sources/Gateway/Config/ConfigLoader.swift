import Foundation
import GatewayCore
import Logging
import Plugins
import Sinks
import Yams

/// Reads `gateway.yaml` and the plugin files it includes, strictly.
struct ConfigLoader {
    var environment: [String: String] = ProcessInfo.processInfo.environment
    /// For offline commands: unset environment variables read as empty, without a problem.
    var offline = false

    /// Loads and validates; throws ``ConfigErrors`` listing every problem found.
    func load(path: String) throws(ConfigErrors) -> GatewayConfig {
        let problems = ProblemList(tolerateUnsetVariables: offline)
        let config = read(path: path, problems: problems)
        if !problems.problems.isEmpty || config == nil {
            throw ConfigErrors(problems: problems.problems)
        }
        return config!
    }

    func read(path: String, problems: ProblemList) -> GatewayConfig? {
        guard let root = parse(file: path, problems: problems) else { return nil }
        guard let top = root.map() else { return nil }
        var config = GatewayConfig(
            file: path, name: Self.hostName(), dataDir: "./data", defaultTags: [],
            listeners: [], sinks: [], routes: [], schemas: SchemaConfig(), plugins: [])

        if let gateway = top["gateway"]?.map() {
            if let name = gateway["name"]?.string() { config.name = name }
            if let dir = gateway["data_dir"]?.string() { config.dataDir = dir }
            if let v = gateway["shutdown_timeout"]?.positiveDuration() { config.shutdownTimeout = v }
            if let tags = gateway["default_tags"]?.entries() {
                config.defaultTags = tags.compactMap { entry in entry.value.string().map { Tag(entry.key, $0) } }
            }
            if let level = gateway["log_level"]?.oneOf(Logger.Level.allCases.map { ($0.rawValue, $0) }) {
                config.logging.level = level
                if let twice = top["logging"]?.map()?["level"] {
                    twice.problem("the stderr level is set twice: keep logging.level and remove gateway.log_level")
                }
            }
            gateway.finish()
        }
        if let logging = top["logging"]?.map() { readLogging(logging, into: &config.logging) }
        if !config.defaultTags.contains(where: { $0.key == "host" }), !config.name.isEmpty {
            config.defaultTags.append(Tag("host", config.name))
        }
        config.listeners = readListeners(top["listeners"], dataDir: config.dataDir)
        config.sinks = readSinks(top["sinks"], dataDir: config.dataDir)
        config.routes = readRoutes(top["routes"], sinks: Set(config.sinks.map(\.name)), root: root)
        if let schemas = top["schemas"] { config.schemas = readSchemas(schemas) }
        if let plugins = top["plugins"] {
            config.plugins = readPlugins(plugins, configPath: path, dataDir: config.dataDir, problems: problems)
        }
        top.finish()
        return config
    }

    func parse(file: String, problems: ProblemList) -> ConfigNode? {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            problems.add(ConfigProblem(file: file, line: 0, path: "", message: "cannot read the file: \(error.localizedDescription)"))
            return nil
        }
        do {
            guard let node = try Yams.compose(yaml: text) else {
                return ConfigNode(
                    node: .mapping(.init([])), file: file, path: "", problems: problems, environment: environment)
            }
            return ConfigNode(node: node, file: file, path: "", problems: problems, environment: environment)
        } catch let error as YamlError {
            problems.add(ConfigProblem(file: file, line: Self.line(of: error), path: "", message: "invalid YAML: \(Self.summary(of: error))"))
            return nil
        } catch {
            problems.add(ConfigProblem(file: file, line: 0, path: "", message: "invalid YAML: \(error)"))
            return nil
        }
    }

    static func line(of error: YamlError) -> Int {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return mark.line
        default:
            return 0
        }
    }

    static func summary(of error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
            .composer(let context, let problem, _, _):
            return [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
        default:
            return "\(error)"
        }
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        if gethostname(&buffer, buffer.count) == 0 {
            let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !name.isEmpty { return name }
        }
        return "localhost"
    }

    // MARK: Logging

    /// `logging:` stderr level and format, and an optional rotating file with its own.
    func readLogging(_ map: ConfigMap, into logging: inout LoggingConfig) {
        let levels = Logger.Level.allCases.map { ($0.rawValue, $0) }
        func format(_ node: ConfigNode?) -> LogFormat? {
            guard let node, let text = node.string() else { return nil }
            switch LogFormat.parse(text) {
            case .success(let format): return format
            case .failure(let error):
                node.problem(error.message)
                return nil
            }
        }
        if let v = map["level"]?.oneOf(levels) { logging.level = v }
        if let v = format(map["format"]) { logging.format = v }
        if let file = map["file"]?.map() {
            let path = file.required("path", what: "the log file, e.g. ./data/gateway.log")?.string()
            var f = LoggingConfig.FileConfig(path: path ?? "")
            if let node = file["max_size"], let v = node.size() {
                if v >= 4096 { f.maxSize = v } else { node.problem("expected at least 4KiB, got \(v) bytes") }
            }
            if let v = file["backups"]?.int(min: 0) { f.backups = v }
            f.level = file["level"]?.oneOf(levels) ?? logging.level
            f.format = format(file["format"]) ?? logging.format
            if path?.isEmpty == true {
                file["path"]?.problem("expected a file path (remove logging.file for no log file)")
            } else if path != nil {
                logging.file = f
            }
            file.finish()
        }
        map.finish()
    }

    // MARK: Listeners

    func readListeners(_ node: ConfigNode?, dataDir: String) -> [ListenerConfig] {
        guard let node, let entries = node.entries() else { return [] }
        var out: [ListenerConfig] = []
        for (name, value) in entries {
            guard let map = value.map() else { continue }
            guard let type = map.required("type", what: "udp or http")?.oneOf([("udp", "udp"), ("http", "http")]) else {
                map.finish()
                continue
            }
            switch type {
            case "udp":
                var udp = UDPListenerConfig()
                if let v = map["listen"]?.hostPort() { udp.listen = v }
                if let v = map["receive_buffer"]?.size() { udp.receiveBuffer = v }
                if let v = map["max_datagram"]?.size() {
                    if v < 512 || v > 65_536 {
                        map["max_datagram"]?.problem("expected a size from 512 to 64KiB, got \(v)")
                    } else {
                        udp.maxDatagram = v
                    }
                }
                if let v = map["vector_reads"]?.positiveInt() { udp.vectorReads = min(v, 1024) }
                if let v = map["precision"]?.oneOf(Precision.allCases.map { ($0.rawValue, $0) }) { udp.precision = v }
                out.append(ListenerConfig(name: name, kind: .udp(udp)))
            default:
                out.append(ListenerConfig(name: name, kind: .http(readHTTPListener(map, node: value, name: name, dataDir: dataDir))))
            }
            map.finish()
        }
        var seenPorts: [String: String] = [:]
        for listener in out {
            let (proto, address): (String, String)
            switch listener.kind {
            case .udp(let c): (proto, address) = ("udp", c.listen.description)
            case .http(let c): (proto, address) = ("tcp", c.listen.description)
            }
            if address.hasSuffix(":0") { continue }
            if let other = seenPorts["\(proto)/\(address)"] {
                node.problem("listeners \"\(other)\" and \"\(listener.name)\" both listen on \(proto) \(address)")
            }
            seenPorts["\(proto)/\(address)"] = listener.name
        }
        return out
    }

    func readHTTPListener(_ map: ConfigMap, node: ConfigNode, name: String, dataDir: String) -> HTTPListenerConfig {
        var http = HTTPListenerConfig()
        if let v = map["listen"]?.hostPort() { http.listen = v }
        if let v = map["token"]?.string() { http.token = Secret(v) }
        if let v = map["read_token"]?.string() { http.readToken = Secret(v) }
        if let v = map["insecure"]?.bool() { http.insecure = v }
        if let v = map["max_body"]?.size() { http.maxBody = v }
        if let v = map["read_header_timeout"]?.positiveDuration() { http.readHeaderTimeout = v }
        if let v = map["body_timeout"]?.positiveDuration() { http.bodyTimeout = v }
        if let v = map["idle_timeout"]?.positiveDuration() { http.idleTimeout = v }
        if let v = map["max_connections"]?.positiveInt() { http.maxConnections = v }
        if let v = map["queue_wait"]?.positiveDuration() { http.queueWait = v }
        if let v = map["ack"]?.oneOf(HTTPListenerConfig.AckMode.allCases.map { ($0.rawValue, $0) }) { http.ack = v }
        http.journal.path = "\(dataDir)/journal/\(name)"
        if let journal = map["journal"]?.map() {
            if let v = journal["path"]?.string() { http.journal.path = v }
            if let v = journal["sync"]?.oneOf(IngestJournal.Configuration.Sync.allCases.map { ($0.rawValue, $0) }) {
                http.journal.sync = v
            }
            if let node = journal["max_size"], let v = node.size() {
                if v >= 1 << 20 { http.journal.maxSize = v } else { node.problem("expected at least 1MiB, got \(v) bytes") }
            }
            journal.finish()
        }
        // Segments small enough that settled ones are deleted well before max_size.
        http.journal.segmentSize = min(64 << 20, max(256 << 10, http.journal.maxSize / 8))
        if !http.readToken.isEmpty, http.token.isEmpty {
            (map["read_token"] ?? node).problem(
                "read_token is set but token is not: writes and spool purges would be open while reads are not; set token too")
        }
        if http.token.isEmpty, !http.insecure, !http.listen.isLoopback {
            (map["listen"] ?? node).problem(
                "listens on \(http.listen) (not loopback) without a token: anyone who reaches it could write points and purge spools; set token (e.g. token: ${GATEWAY_TOKEN}), listen on 127.0.0.1, or set insecure: true to accept that"
            )
        }
        return http
    }

    // MARK: Sinks

    func readSinks(_ node: ConfigNode?, dataDir: String) -> [SinkConfig] {
        guard let node, let entries = node.entries() else { return [] }
        var out: [SinkConfig] = []
        var spoolFiles: [String: String] = [:]
        for (name, value) in entries {
            guard let map = value.map() else { continue }
            let types = [("stdout", "stdout"), ("blackhole", "blackhole"), ("influx2", "influx2"), ("spool", "spool")]
            guard let type = map.required("type", what: "stdout, blackhole, influx2 or spool")?.oneOf(types) else {
                map.finish()
                continue
            }
            let defaultSpoolPath = "\(dataDir)/spool/\(name).db"
            var sink: SinkConfig
            switch type {
            case "stdout":
                let format = map["format"]?.oneOf(StdoutSink.Format.allCases.map { ($0.rawValue, $0) }) ?? .line
                sink = SinkConfig(name: name, kind: .stdout(format))
            case "influx2":
                sink = SinkConfig(name: name, kind: .influx(readInflux(map, defaultSpoolPath: defaultSpoolPath)))
                sink.batchSize = 5000
                sink.queueSize = 500_000
            case "spool":
                var spool = SpoolConfig(path: defaultSpoolPath)
                readSpoolSettings(map, into: &spool)
                sink = SinkConfig(name: name, kind: .spool(spool))
                sink.batchSize = 5000
                sink.queueSize = 500_000
            default:
                sink = SinkConfig(name: name, kind: .blackhole)
                sink.batchSize = 5000
                sink.queueSize = 1_000_000
            }
            if let path = sink.spoolPath {
                let key = URL(fileURLWithPath: path).standardizedFileURL.path
                if let other = spoolFiles[key] {
                    value.problem("sinks \"\(other)\" and \"\(name)\" both use the spool file \(path)")
                }
                spoolFiles[key] = name
            }
            if let v = map["batch_size"]?.positiveInt() { sink.batchSize = v }
            if let v = map["flush_interval"]?.positiveDuration() {
                sink.flushInterval = v
            }
            if let v = map["queue_size"]?.positiveInt() { sink.queueSize = v }
            if let v = map["when_full"]?.oneOf(OverflowPolicy.allCases.map { ($0.rawValue, $0) }) { sink.whenFull = v }
            if sink.queueSize < sink.batchSize {
                value.problem("queue_size (\(sink.queueSize)) must be at least batch_size (\(sink.batchSize))")
            }
            out.append(sink)
            map.finish()
        }
        return out
    }

    func readInflux(_ map: ConfigMap, defaultSpoolPath: String) -> InfluxSinkConfig {
        var target = InfluxTarget(url: "", org: "", bucket: "", token: "")
        if let url = map.required("url", what: "the InfluxDB base URL, e.g. http://127.0.0.1:8086")?.string() {
            if url.isEmpty {
                map["url"]?.problem("the URL is empty (is the environment variable it comes from set?)")
            } else if let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil {
                target.url = url
            } else {
                map["url"]?.problem("expected an http:// or https:// URL, got \"\(Redact.url(url))\"")
            }
        }
        if let org = map.required("org", what: "the InfluxDB organization")?.string() { target.org = org }
        if let bucket = map.required("bucket", what: "the InfluxDB bucket")?.string() { target.bucket = bucket }
        if let token = map["token"]?.string() { target.token = Secret(token) }
        if let gzip = map["gzip"]?.bool() { target.gzip = gzip }
        if let timeout = map["timeout"]?.positiveDuration() {
            target.timeout = timeout
        }
        if let v = map["connect_timeout"]?.positiveDuration() { target.connectTimeout = v }
        if let v = map["idle_timeout"]?.positiveDuration() { target.idleTimeout = v }
        var config = InfluxSinkConfig(target: target)
        config.spool.path = defaultSpoolPath
        if let v = map["precision"]?.oneOf(Precision.allCases.map { ($0.rawValue, $0) }) { config.precision = v }
        if let v = map["max_in_flight"]?.int(min: 1) {
            if v > 16 { map["max_in_flight"]?.problem("expected 1 to 16 batches on the wire at once, got \(v)") } else { config.maxInFlight = v }
        }
        if let retry = map["retry"]?.map() {
            if let v = retry["max_retries"]?.int(min: 0) { config.retry.maxRetries = v }
            if let v = retry["initial_backoff"]?.duration() { config.retry.initialBackoff = v }
            if let v = retry["max_backoff"]?.duration() { config.retry.maxBackoff = v }
            if let v = retry["max_wait"]?.duration() { config.retry.maxWait = v }
            if let v = retry["max_retry_after"]?.duration() { config.retry.maxRetryAfter = v }
            if config.retry.initialBackoff <= .zero || config.retry.initialBackoff > config.retry.maxBackoff {
                retry.node.problem("initial_backoff must be above zero and at most max_backoff")
            }
            retry.finish()
        }
        if let spool = map["spool"] {
            if case .scalar = spool.node {
                if let enabled = spool.bool() { config.spool.enabled = enabled }
            } else if let spoolMap = spool.map() {
                if let enabled = spoolMap["enabled"]?.bool() { config.spool.enabled = enabled }
                readSpoolSettings(spoolMap, into: &config.spool)
                spoolMap.finish()
            }
        }
        return config
    }

    func readSpoolSettings(_ map: ConfigMap, into spool: inout SpoolConfig) {
        if let v = map["path"]?.string() { spool.path = v }
        if let v = map["max_size"]?.size() {
            if v < 1 << 20 { map["max_size"]?.problem("expected at least 1MiB, got \(v) bytes") } else { spool.maxSize = v }
        }
        if let v = map["when_full"]?.oneOf(SpoolStore.FullPolicy.allCases.map { ($0.rawValue, $0) }) { spool.whenFull = v }
        if let v = map["sync"]?.oneOf(SpoolStore.SyncMode.allCases.map { ($0.rawValue, $0) }) { spool.sync = v }
    }

    // MARK: Routes

    func readRoutes(_ node: ConfigNode?, sinks: Set<String>, root: ConfigNode) -> [RouteConfig] {
        guard let node else {
            root.problem("no routes: add at least one, e.g. routes: [{to: [console]}]")
            return []
        }
        guard let items = node.sequence() else { return [] }
        var out: [RouteConfig] = []
        var names = Set<String>()
        for (index, item) in items.enumerated() {
            guard let map = item.map() else { continue }
            var route = RouteConfig(
                name: "route_\(index + 1)", series: [], tags: [], sources: [], to: [], stop: false, isDefault: false)
            if let name = map["name"]?.string() { route.name = name }
            if !names.insert(route.name).inserted { item.problem("route name \"\(route.name)\" is used twice") }
            if let match = map["match"]?.map() {
                if let series = match["series"]?.stringList() { route.series = series }
                if let tags = match["tags"]?.entries() {
                    route.tags = tags.compactMap { entry in entry.value.string().map { (entry.key, $0) } }
                }
                if let sources = match["source"]?.stringList() { route.sources = sources }
                match.finish()
            }
            if let to = map.required("to", what: "the sinks this route sends to")?.stringList() {
                route.to = to
                for sink in to where !sinks.contains(sink) {
                    map["to"]?.problem("unknown sink \"\(sink)\" (defined: \(sinks.sorted().joined(separator: ", ")))")
                }
            }
            if let stop = map["stop"]?.bool() { route.stop = stop }
            if let isDefault = map["default"]?.bool() { route.isDefault = isDefault }
            if route.isDefault, !route.series.isEmpty || !route.tags.isEmpty || !route.sources.isEmpty {
                item.problem("a default route takes the points no other route sent anywhere: it has no match")
            }
            map.finish()
            out.append(route)
        }
        if out.filter(\.isDefault).count > 1 { node.problem("more than one route has default: true") }
        return out
    }

    // MARK: Schemas

    func readSchemas(_ node: ConfigNode) -> SchemaConfig {
        var config = SchemaConfig()
        guard let map = node.map() else { return config }
        if let builtin = map["builtin"]?.stringList() {
            for name in builtin where SchemaSet.builtin(name) == nil {
                map["builtin"]?.problem(
                    "unknown built-in schema set \"\(name)\" (known: \(SchemaSet.builtinNames.joined(separator: ", ")))")
            }
            config.builtin = builtin.filter { SchemaSet.builtin($0) != nil }
        }
        if let file = map["dead_letter"]?.string() { config.deadLetter = file }
        if let series = map["series"]?.entries() {
            for (name, value) in series {
                guard let s = value.map() else { continue }
                var schema = Schema(series: name)
                if let tags = s["tags"]?.stringList() { schema.requiredTags = tags }
                if let values = s["tag_values"]?.entries() {
                    for (key, list) in values { schema.tagValues[key] = list.stringList() ?? [] }
                }
                let types = FieldType.allCases.map { ($0.rawValue, $0) }
                for (key, required) in [("fields", true), ("optional_fields", false)] {
                    for (field, typeNode) in s[key]?.entries() ?? [] {
                        if let type = typeNode.oneOf(types) { schema.fields[field] = .init(type, required: required) }
                    }
                }
                if let v = s["extra_tags"]?.bool() { schema.extraTags = v }
                if let v = s["extra_fields"]?.bool() { schema.extraFields = v }
                s.finish()
                config.series.append(schema)
            }
        }
        map.finish()
        return config
    }

    // MARK: Plugins

    func readPlugins(_ node: ConfigNode, configPath: String, dataDir: String, problems: ProblemList) -> [PluginConfig] {
        guard let map = node.map() else { return [] }
        var out: [PluginConfig] = []
        var instances: [(key: String, value: ConfigNode)] = []
        for key in map.keys where key != "include" {
            if let value = map[key] { instances.append((key, value)) }
        }
        if let include = map["include"]?.stringList() {
            let base = URL(fileURLWithPath: configPath).deletingLastPathComponent().path
            for pattern in include {
                let full = pattern.hasPrefix("/") ? pattern : "\(base)/\(pattern)"
                for file in Self.glob(full) {
                    guard let root = parse(file: file, problems: problems), let entries = root.entries() else { continue }
                    instances.append(contentsOf: entries)
                }
            }
        }
        var seen = Set<String>()
        for (name, value) in instances {
            guard let plugin = value.map() else { continue }
            if !seen.insert(name).inserted {
                value.problem("plugin \"\(name)\" is defined twice")
                continue
            }
            // The name is part of the plugin's API paths (`/api/v1/<name>/...`).
            let reserved: Set<String> = ["points", "status", "spool", "write"]
            if name.isEmpty || !name.utf8.allSatisfy({ Self.isNameByte($0) }) || reserved.contains(name) {
                value.problem(
                    "plugin name \"\(name)\" must be letters, digits, '_' or '-' and not one of \(reserved.sorted().joined(separator: ", ")) (it names the plugin's API path)")
                continue
            }
            let enabled = plugin["enabled"]?.bool() ?? true
            guard let type = plugin.required("type", what: "the plugin type")?.string() else { continue }
            guard PluginRegistry.types.contains(type) else {
                let known = PluginRegistry.types.isEmpty ? "none in this build" : PluginRegistry.types.sorted().joined(separator: ", ")
                plugin["type"]?.problem("unknown plugin type \"\(type)\" (known: \(known))")
                continue
            }
            let settings: PluginRegistry.Settings
            switch type {
            case "dwmon":
                settings = .dwmon(
                    readDwmon(plugin, name: name, configPath: configPath, dataDir: dataDir, problems: problems))
            case "jobdir": settings = .jobdir(readJobdir(plugin, name: name, dataDir: dataDir))
            default: settings = .proc(readProc(plugin))
            }
            plugin.finish()
            out.append(
                PluginConfig(name: name, type: type, enabled: enabled, settings: settings, file: value.file, line: value.line))
        }
        return out
    }

    /// `type: proc` (see `plugins.d/proc.yaml`).
    func readProc(_ map: ConfigMap) -> ProcSettings {
        var s = ProcSettings()
        if let v = map["collect"]?.bool() { s.collect = v }
        if let v = map["interval"]?.positiveDuration() { s.interval = v }
        if let v = map["group_by"]?.oneOf(ProcSettings.Grouping.allCases.map { ($0.rawValue, $0) }) { s.groupBy = v }
        if let v = map["cpu_per_core"]?.bool() { s.cpuPerCore = v }
        if let v = map["include"]?.stringList() { s.include = v }
        if let v = map["exclude"]?.stringList() { s.exclude = v }
        if let v = map["top"]?.int(min: 0) { s.top = v }
        if let v = map["format"]?.oneOf(ProcSettings.Format.allCases.map { ($0.rawValue, $0) }) { s.format = v }
        if let v = map["host"]?.string() { s.host = v }
        if let v = map["ip"]?.string() { s.ip = v }
        if let v = map["proc_root"]?.string() { s.procRoot = v }
        if let v = map["serve"]?.bool() { s.serve = v }
        if let v = map["window"]?.positiveDuration() { s.window = v }
        if let v = map["max_series"]?.positiveInt() { s.maxSeries = v }
        if let v = map["max_samples_per_series"]?.positiveInt() { s.maxSamplesPerSeries = v }
        if let v = map["mean_window"]?.positiveDuration() { s.meanWindow = v }
        if let alarms = map["alarms"]?.map() {
            if let node = alarms["cpu_threshold"], let text = node.string() {
                if let value = Double(text), value > 0, value <= 10_000 { s.cpuThreshold = value } else {
                    node.problem("expected a percentage above 0, got \"\(text)\"")
                }
            }
            if let node = alarms["mem_threshold"], let text = node.string() {
                if let value = Double(text), value > 0, value <= 100 { s.memThreshold = value } else {
                    node.problem("expected a percentage above 0 and at most 100, got \"\(text)\"")
                }
            }
            if let value = alarms["horizon"]?.positiveDuration() { s.horizon = value }
            if let v = alarms["min_samples"]?.int(min: 2) { s.trendMinSamples = v }
            if let node = alarms["min_span"], let value = node.duration() { s.trendMinSpan = value }
            if let value = alarms["interval"]?.positiveDuration() { s.alarmInterval = value }
            alarms.finish()
        }
        if s.meanWindow > s.window {
            map.node.problem("mean_window (\(s.meanWindow)) is longer than window (\(s.window)): the store would not hold it")
        }
        if s.trendMinSpan >= s.meanWindow {
            map.node.problem(
                "alarms.min_span (\(s.trendMinSpan)) must be shorter than mean_window (\(s.meanWindow)): no trend could ever be fitted, so nothing would be AMBER")
        }
        if !s.collect && !s.serve {
            map.node.problem("collect and serve are both off: the plugin would do nothing (use enabled: false)")
        }
        return s
    }

    /// `type: dwmon` (see `plugins.d/dwmon.yaml`). Every `*.dwmon` file of `checkers_dir` is parsed
    /// too, so `gateway check` reports their problems as `FILE:LINE: token X: ...`.
    func readDwmon(_ map: ConfigMap, name: String, configPath: String, dataDir: String, problems: ProblemList)
        -> DwmonSettings
    {
        let base = URL(fileURLWithPath: configPath).deletingLastPathComponent().path
        var directory = "\(base)/plugins.d"
        if let text = map["checkers_dir"]?.string() { directory = text.hasPrefix("/") ? text : "\(base)/\(text)" }
        var s = DwmonSettings(checkersDir: directory, statePath: "\(dataDir)/dwmon/\(name).db")
        if let zone = map["timezone"]?.timeZone() { s.timeZone = zone }
        if let v = map["state"]?.string() { s.statePath = v }
        if let v = map["query_timeout"]?.positiveDuration() { s.queryTimeout = v }
        if let v = map["slow_query"]?.positiveDuration() { s.slowQuery = v }
        if let v = map["retention"]?.positiveDuration() { s.retention = v }
        if let v = map["max_rows"]?.positiveInt() { s.maxRows = v }
        for (sourceName, node) in map["sources"]?.entries() ?? [] {
            guard let source = node.map() else { continue }
            let timeout = source["timeout"]?.positiveDuration()
            guard let type = source.required("type", what: "sqlite, postgres, command or http")?.oneOf(
                ["sqlite", "postgres", "command", "http"].map { ($0, $0) })
            else { continue }
            var kind: DwmonSettings.Source.Kind?
            switch type {
            case "sqlite":
                if let path = source.required("path", what: "the database file")?.string() { kind = .sqlite(path: path) }
            case "postgres":
                if let urlNode = source.required("url", what: "postgres://user:password@host:5432/database"),
                    let url = urlNode.string()
                {
                    if case .failure(let error) = DwmonSettings.validatePostgresURL(url) {
                        urlNode.problem(error.description)
                    } else {
                        kind = .postgres(url: url)
                    }
                }
            case "command":
                if let node = source.required("command", what: "the program and its arguments, as a list"),
                    let argv = node.stringList()
                {
                    if argv.isEmpty || argv[0].isEmpty {
                        node.problem("expected the program and its arguments, e.g. [\"/usr/local/bin/rows\", \"--since\", \"1h\"]")
                    } else {
                        kind = .command(argv)
                    }
                }
            default:
                let urlNode = source.required("url", what: "the base URL the checkers' queries are paths under")
                var headers: [String: String] = [:]
                for (header, value) in source["headers"]?.entries() ?? [] { headers[header] = value.string() }
                if let urlNode, let url = urlNode.string() {
                    if url.hasPrefix("http://") || url.hasPrefix("https://") {
                        kind = .http(url: url, headers: headers)
                    } else {
                        urlNode.problem("expected an http:// or https:// URL, got \"\(Redact.url(url))\"")
                    }
                }
            }
            source.finish()
            if let kind { s.sources[sourceName] = .init(kind: kind, timeout: timeout) }
        }
        let checkerEntries = map["checkers"]?.entries() ?? []
        for (checker, node) in checkerEntries {
            guard let entry = node.map() else { continue }
            if let v = entry["retention"]?.positiveDuration() { s.checkerRetention[checker] = v }
            entry.finish()
        }
        if let webhookNode = map["webhook"], let webhook = webhookNode.map() {
            if let urlNode = webhook.required("url", what: "where BAD checks are POSTed"), let url = urlNode.string() {
                if url.hasPrefix("http://") || url.hasPrefix("https://") {
                    var w = DwmonSettings.Webhook(url: url)
                    for (header, value) in webhook["headers"]?.entries() ?? [] { w.headers[header] = value.string() }
                    if let v = webhook["timeout"]?.positiveDuration() { w.timeout = v }
                    if let v = webhook["attempts"]?.positiveInt() { w.attempts = v }
                    if let v = webhook["backoff"]?.positiveDuration() { w.backoff = v }
                    if let v = webhook["queue_size"]?.positiveInt() { w.queueSize = v }
                    s.webhook = w
                } else {
                    urlNode.problem("expected an http:// or https:// URL, got \"\(Redact.url(url))\"")
                }
            }
            webhook.finish()
        }
        // The checker files themselves.
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue {
            (map["checkers_dir"] ?? map.node).problem("checkers_dir \(directory) is not a directory")
            return s
        }
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".dwmon") }
        for file in files.sorted() {
            let path = "\(directory)/\(file)"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                problems.add(ConfigProblem(file: path, line: 0, path: "", message: "cannot read the checker file (or it is not UTF-8)"))
                continue
            }
            if case .failure(let found) = DwmonRunner.load(text, path: path, name: String(file.dropLast(6)), sources: s.sources) {
                for problem in found.problems {
                    problems.add(ConfigProblem(file: problem.file, line: problem.line, path: "", message: problem.message))
                }
            }
        }
        let names = Set(files.map { String($0.dropLast(6)) })
        for (checker, node) in checkerEntries where !names.contains(checker) {
            node.problem("no checker file \(checker).dwmon in \(directory)")
        }
        return s
    }

    /// `type: jobdir` (see `plugins.d/jobdir.yaml`). Relative paths are taken from the working
    /// directory, as `data_dir` is, and made absolute (processors get them in claimed jobs).
    func readJobdir(_ map: ConfigMap, name: String, dataDir: String) -> JobdirSettings {
        func absolute(_ path: String) -> String {
            path.isEmpty ? "" : URL(fileURLWithPath: path).standardizedFileURL.path
        }
        let rootNode = map.required("storage_root", what: "the directory collectors drop <uuid>.json + <uuid>.dump pairs in")
        let root = absolute(rootNode?.string() ?? "")
        var s = JobdirSettings(storageRoot: root, statePath: absolute("\(dataDir)/jobdir/\(name).db"))
        if let v = map["deferred_storage_root"]?.string() { s.deferredStorageRoot = absolute(v) }
        if let v = map["success_dir"]?.string() { s.successDir = absolute(v) }
        if let v = map["failed_dir"]?.string() { s.failedDir = absolute(v) }
        for (key, keyPath) in [("json_suffix", \JobdirSettings.jsonSuffix), ("dump_suffix", \JobdirSettings.dumpSuffix)] {
            guard let node = map[key], let text = node.string() else { continue }
            if text.isEmpty || text.contains("/") {
                node.problem("expected a file name ending such as .json, got \"\(text)\"")
            } else {
                s[keyPath: keyPath] = text
            }
        }
        if let v = map["scan_interval"]?.positiveDuration() { s.scanInterval = v }
        if let v = map["cleanup_interval"]?.positiveDuration() { s.cleanupInterval = v }
        if let v = map["priority_interval"]?.positiveDuration() { s.priorityInterval = v }
        if let v = map["processor_check_in"]?.positiveDuration() { s.processorCheckIn = v }
        if let v = map["history_retention"]?.positiveDuration() { s.historyRetention = v }
        if let v = map["job_timeout"]?.duration() { s.jobTimeout = v > .zero ? v : nil }
        if let v = map["state"]?.string() { s.statePath = absolute(v) }
        if let zone = map["timezone"]?.timeZone() { s.timeZone = zone }
        if s.jsonSuffix == s.dumpSuffix {
            (map["dump_suffix"] ?? map.node).problem("json_suffix and dump_suffix are both \"\(s.jsonSuffix)\": a pair needs two files")
        }
        if !root.isEmpty {
            for (key, path) in [("deferred_storage_root", s.deferredStorageRoot), ("success_dir", s.successDir), ("failed_dir", s.failedDir)]
            where path == root {
                (map[key] ?? map.node).problem("\(key) is storage_root itself (\(root)): it must be another directory")
            }
            if !s.deferredStorageRoot.isEmpty, s.deferredStorageRoot.hasPrefix(root + "/") {
                (map["deferred_storage_root"] ?? map.node).problem(
                    "deferred_storage_root is under storage_root: its pairs would be scanned and queued as normal jobs")
            }
        }
        return s
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
    }

    static func glob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard Glibc.glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }
}
