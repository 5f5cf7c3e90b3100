import ConfigReading
import Foundation
import GatewayCore
import Logging
import Plugins
import Sinks

/// Reads `gateway.yaml` and the plugin files it includes, strictly. Each component's own keys are
/// read by its type's factory in the component's folder (``Registries``); this reads the rest.
/// Every relative path is resolved from the folder of `gateway.yaml`.
struct ConfigLoader {
    var environment: [String: String] = ProcessInfo.processInfo.environment
    /// For offline commands: unset environment variables read as empty, without a problem.
    var offline = false
    var registries = Registries.builtin

    /// Loads and validates; throws ``ConfigErrors`` listing every problem found.
    func load(path: String) throws(ConfigErrors) -> GatewayConfig {
        let problems = ProblemList(tolerateUnsetVariables: offline)
        let config = read(path: path, problems: problems)
        guard problems.problems.isEmpty, var config else {
            throw ConfigErrors(problems: problems.problems)
        }
        config.warnings = problems.warnings
        return config
    }

    func read(path: String, problems: ProblemList) -> GatewayConfig? {
        guard let root = ConfigFile.parse(file: path, problems: problems, environment: environment) else { return nil }
        guard let top = root.map() else { return nil }
        let base = URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent().path
        var context = ConfigContext(name: "", base: base, dataDir: "", problems: problems, environment: environment)
        var config = GatewayConfig(
            file: path, name: Self.hostName(), dataDir: context.path("data"), defaultTags: [],
            listeners: [], sinks: [], routes: [], schemas: SchemaConfig(), plugins: [])

        if let gateway = top["gateway"]?.map() {
            if let name = gateway["name"]?.string() { config.name = name }
            if let dir = gateway["data_dir"]?.string() { config.dataDir = context.path(dir) }
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
        context.dataDir = config.dataDir
        if let logging = top["logging"]?.map() { readLogging(logging, into: &config.logging, context) }
        if !config.defaultTags.contains(where: { $0.key == "host" }), !config.name.isEmpty {
            config.defaultTags.append(Tag("host", config.name))
        }
        config.listeners = readListeners(top["listeners"], context)
        config.sinks = readSinks(top["sinks"], context)
        let types = Dictionary(config.sinks.map { ($0.name, $0.type) }, uniquingKeysWith: { first, _ in first })
        var members: [String: String] = [:]  // member: its group
        let composed = config.sinks.compactMap { sink in
            (sink.settings as? any ComposedSinkSettings).map { (sink.name, $0) }
        }
        for (name, settings) in composed {
            settings.checkMembers(types, problems: problems)
            // A group named as a member is reported above; routing to it stays allowed.
            for member in settings.memberNames where !composed.contains(where: { $0.0 == member }) {
                members[member] = name
            }
        }
        config.routes = readRoutes(top["routes"], sinks: Set(config.sinks.map(\.name)), members: members, root: root)
        if let schemas = top["schemas"] { config.schemas = readSchemas(schemas, context) }
        if let plugins = top["plugins"] { config.plugins = readPlugins(plugins, context) }
        top.finish()
        return config
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        if gethostname(&buffer, buffer.count) == 0 {
            let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !name.isEmpty { return name }
        }
        return "localhost"
    }

    /// The `type` of a component, checked against its registry: an unknown type names the known ones.
    func type(of map: ConfigMap, kind: String, known: [String]) -> String? {
        guard let node = map.required("type", what: known.joined(separator: ", ")), let type = node.string() else {
            return nil
        }
        guard known.contains(type) else {
            let list = known.isEmpty ? "none in this build" : known.joined(separator: ", ")
            node.problem("unknown \(kind) type \"\(type)\" (known: \(list))")
            return nil
        }
        return type
    }

    // MARK: Logging

    /// `logging:` stderr level and format, and an optional rotating file with its own.
    func readLogging(_ map: ConfigMap, into logging: inout LoggingConfig, _ context: ConfigContext) {
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
            var f = LoggingConfig.FileConfig(path: context.path(path ?? ""))
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

    func readListeners(_ node: ConfigNode?, _ context: ConfigContext) -> [ListenerConfig] {
        guard let node, let entries = node.entries() else { return [] }
        var out: [ListenerConfig] = []
        var seenPorts: [String: String] = [:]
        for (name, value) in entries {
            guard let map = value.map() else { continue }
            guard let type = type(of: map, kind: "listener", known: registries.listeners.types),
                let factory = registries.listeners[type]
            else { continue }
            var own = context
            own.name = name
            let settings = factory.read(map, own)
            let (proto, address) = settings.socket
            if address.port != 0 {
                let key = "\(proto)/\(address)"
                if let other = seenPorts[key] {
                    node.problem("listeners \"\(other)\" and \"\(name)\" both listen on \(proto) \(address)")
                }
                seenPorts[key] = name
            }
            map.finish()
            out.append(ListenerConfig(name: name, type: type, settings: settings))
        }
        return out
    }

    // MARK: Sinks

    func readSinks(_ node: ConfigNode?, _ context: ConfigContext) -> [SinkConfig] {
        guard let node, let entries = node.entries() else { return [] }
        var out: [SinkConfig] = []
        var spoolFiles: [String: String] = [:]
        for (name, value) in entries {
            guard let map = value.map() else { continue }
            guard let type = type(of: map, kind: "sink", known: registries.sinks.types),
                let factory = registries.sinks[type]
            else { continue }
            var own = context
            own.name = name
            var sink = SinkConfig(name: name, type: type, settings: factory.read(map, own))
            sink.batchSize = factory.batchSize
            sink.queueSize = factory.queueSize
            if let path = sink.spoolPath {
                if let other = spoolFiles[path] {
                    value.problem("sinks \"\(other)\" and \"\(name)\" both use the spool file \(path)")
                }
                spoolFiles[path] = name
            }
            if let v = map["batch_size"]?.positiveInt() { sink.batchSize = v }
            if let v = map["flush_interval"]?.positiveDuration() { sink.flushInterval = v }
            if let v = map["queue_size"]?.positiveInt() { sink.queueSize = v }
            if let node = map["queue_max_bytes"], let v = node.size() {
                if v < 1024 * 1024 {
                    node.problem("queue_max_bytes must be at least 1MiB, got \(v) bytes")
                } else {
                    sink.queueMaxBytes = v
                }
            }
            if let v = map["queue_pack"]?.bool() { sink.queuePack = v }
            if let v = map["when_full"]?.oneOf(OverflowPolicy.allCases.map { ($0.rawValue, $0) }) { sink.whenFull = v }
            if sink.queueSize < sink.batchSize {
                value.problem("queue_size (\(sink.queueSize)) must be at least batch_size (\(sink.batchSize))")
            }
            map.finish()
            out.append(sink)
        }
        return out
    }

    // MARK: Routes

    /// `members` maps each group member to its group: routes send to the group, not to a member.
    func readRoutes(
        _ node: ConfigNode?, sinks: Set<String>, members: [String: String] = [:], root: ConfigNode
    ) -> [RouteConfig] {
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
                for sink in to {
                    if let group = members[sink] {
                        map["to"]?.problem(
                            "sink \"\(sink)\" is a member of group \"\(group)\": route to the group (a point routed to both would be stored twice)"
                        )
                    }
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

    func readSchemas(_ node: ConfigNode, _ context: ConfigContext) -> SchemaConfig {
        var config = SchemaConfig()
        guard let map = node.map() else { return config }
        if let builtin = map["builtin"]?.stringList() {
            for name in builtin where SchemaSet.builtin(name) == nil {
                map["builtin"]?.problem(
                    "unknown built-in schema set \"\(name)\" (known: \(SchemaSet.builtinNames.joined(separator: ", ")))"
                )
            }
            config.builtin = builtin.filter { SchemaSet.builtin($0) != nil }
        }
        if let file = map["dead_letter"]?.string() { config.deadLetter = context.path(file) }
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

    func readPlugins(_ node: ConfigNode, _ context: ConfigContext) -> [PluginConfig] {
        guard let map = node.map() else { return [] }
        var out: [PluginConfig] = []
        var instances: [(key: String, value: ConfigNode)] = []
        for key in map.keys where key != "include" {
            if let value = map[key] { instances.append((key, value)) }
        }
        for pattern in map["include"]?.stringList() ?? [] {
            for file in ConfigFile.glob(context.path(pattern)) {
                guard let root = context.parse(file: file), let entries = root.entries() else { continue }
                instances.append(contentsOf: entries)
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
                    "plugin name \"\(name)\" must be letters, digits, '_' or '-' and not one of \(reserved.sorted().joined(separator: ", ")) (it names the plugin's API path)"
                )
                continue
            }
            let enabled = plugin["enabled"]?.bool() ?? true
            guard let type = type(of: plugin, kind: "plugin", known: registries.plugins.types),
                let factory = registries.plugins[type]
            else { continue }
            var own = context
            own.name = name
            let settings = factory.read(plugin, own)
            plugin.finish()
            out.append(
                PluginConfig(
                    name: name, type: type, enabled: enabled, settings: settings, file: value.file, line: value.line))
        }
        return out
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
    }
}
