import Foundation
import GatewayCore
import Logging
import Plugins
import Sinks
import Yams

/// Reads `gateway.yaml` and the plugin files it includes, strictly.
struct ConfigLoader {
    var environment: [String: String] = ProcessInfo.processInfo.environment

    /// Loads and validates; throws ``ConfigErrors`` listing every problem found.
    func load(path: String) throws(ConfigErrors) -> GatewayConfig {
        let problems = ProblemList()
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
            file: path, name: Self.hostName(), dataDir: "./data", defaultTags: [], logLevel: .info,
            listeners: [], sinks: [], routes: [], schemas: SchemaConfig(), plugins: [])

        if let gateway = top["gateway"]?.map() {
            if let name = gateway["name"]?.string() { config.name = name }
            if let dir = gateway["data_dir"]?.string() { config.dataDir = dir }
            if let tags = gateway["default_tags"]?.entries() {
                config.defaultTags = tags.compactMap { entry in entry.value.string().map { Tag(entry.key, $0) } }
            }
            if let level = gateway["log_level"]?.oneOf(Logger.Level.allCases.map { ($0.rawValue, $0) }) {
                config.logLevel = level
            }
            gateway.finish()
        }
        if !config.defaultTags.contains(where: { $0.key == "host" }), !config.name.isEmpty {
            config.defaultTags.append(Tag("host", config.name))
        }
        config.listeners = readListeners(top["listeners"])
        config.sinks = readSinks(top["sinks"])
        config.routes = readRoutes(top["routes"], sinks: Set(config.sinks.map(\.name)), root: root)
        if let schemas = top["schemas"] { config.schemas = readSchemas(schemas) }
        if let plugins = top["plugins"] {
            config.plugins = readPlugins(plugins, configPath: path, problems: problems)
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

    // MARK: Listeners

    func readListeners(_ node: ConfigNode?) -> [ListenerConfig] {
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
                var http = HTTPListenerConfig()
                if let v = map["listen"]?.hostPort() { http.listen = v }
                if let v = map["token"]?.string() { http.token = v }
                if let v = map["max_body"]?.size() { http.maxBody = v }
                out.append(ListenerConfig(name: name, kind: .http(http)))
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

    // MARK: Sinks

    func readSinks(_ node: ConfigNode?) -> [SinkConfig] {
        guard let node, let entries = node.entries() else { return [] }
        var out: [SinkConfig] = []
        for (name, value) in entries {
            guard let map = value.map() else { continue }
            let types = [("stdout", "stdout"), ("blackhole", "blackhole")]
            guard let type = map.required("type", what: "stdout or blackhole")?.oneOf(types) else {
                map.finish()
                continue
            }
            var sink: SinkConfig
            switch type {
            case "stdout":
                let format = map["format"]?.oneOf(StdoutSink.Format.allCases.map { ($0.rawValue, $0) }) ?? .line
                sink = SinkConfig(name: name, kind: .stdout(format))
            default:
                sink = SinkConfig(name: name, kind: .blackhole)
                sink.batchSize = 5000
                sink.queueSize = 1_000_000
            }
            if let v = map["batch_size"]?.positiveInt() { sink.batchSize = v }
            if let v = map["flush_interval"]?.duration() {
                if v <= .zero { map["flush_interval"]?.problem("expected a duration above zero") } else { sink.flushInterval = v }
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

    func readPlugins(_ node: ConfigNode, configPath: String, problems: ProblemList) -> [PluginConfig] {
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
            let enabled = plugin["enabled"]?.bool() ?? true
            guard let type = plugin.required("type", what: "the plugin type")?.string() else { continue }
            guard PluginRegistry.types.contains(type) else {
                let known = PluginRegistry.types.isEmpty ? "none in this build" : PluginRegistry.types.sorted().joined(separator: ", ")
                plugin["type"]?.problem("unknown plugin type \"\(type)\" (known: \(known))")
                continue
            }
            out.append(PluginConfig(name: name, type: type, enabled: enabled, file: value.file, line: value.line))
        }
        return out
    }

    static func glob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard Glibc.glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }
}
