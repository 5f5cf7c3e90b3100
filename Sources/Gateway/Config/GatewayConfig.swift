import ConfigReading
import Foundation
import GatewayCore
import Logging
import Plugins
import Sinks

/// The whole configuration, validated: what `gateway run` builds the runtime from.
struct GatewayConfig: Sendable {
    var file: String
    var name: String
    var dataDir: String
    var defaultTags: [Tag]
    /// How long a graceful shutdown may take before requests on the wire are given up and
    /// everything left goes to the spools (then 5 s more before the process exits regardless).
    var shutdownTimeout = Duration.seconds(25)
    var logging = LoggingConfig()
    var listeners: [ListenerConfig]
    var sinks: [SinkConfig]
    var routes: [RouteConfig]
    var schemas: SchemaConfig
    var plugins: [PluginConfig]
    /// Accepted but worth a look (`gateway check` prints them; they fail nothing).
    var warnings: [ConfigProblem] = []
}

struct ListenerConfig: Sendable {
    var name: String
    var type: String
    var settings: any ListenerSettings
}

struct SinkConfig: Sendable {
    var name: String
    var type: String
    var settings: any SinkSettings
    var batchSize = 1000
    var flushInterval = Duration.seconds(1)
    var queueSize = 100_000
    /// The most memory the queued points may take (`queue_max_bytes`).
    var queueMaxBytes = SinkConfig.defaultQueueMaxBytes
    /// Whether a queue past half its bytes packs what arrives (`queue_pack`).
    var queuePack = false
    var whenFull = OverflowPolicy.block

    static let defaultQueueMaxBytes = 32 * 1024 * 1024

    /// The spool file this sink writes, if any.
    var spoolPath: String? { settings.spoolPath }
    /// A sink made of other sinks (`group`): made after them, stopped before them.
    var isComposed: Bool { settings is any ComposedSinkSettings }
    /// The sinks it hands points to, for a group.
    var memberNames: [String] { (settings as? any ComposedSinkSettings)?.memberNames ?? [] }
}

struct RouteConfig: Sendable {
    var name: String
    var series: [String]
    var tags: [(key: String, pattern: String)]
    var sources: [String]
    var to: [String]
    var stop: Bool
    /// A default route takes only the points no other route sent anywhere.
    var isDefault: Bool
}

struct SchemaConfig: Sendable {
    var builtin: [String] = []
    var series: [Schema] = []
    /// File where rejected points are kept (JSON lines); empty means not kept.
    var deadLetter = ""

    var schemaSet: SchemaSet {
        var set = SchemaSet()
        for name in builtin { set.add(SchemaSet.builtin(name) ?? []) }
        set.add(series)
        return set
    }
}

struct PluginConfig: Sendable {
    var name: String
    var type: String
    var enabled: Bool
    var settings: any PluginSettings
    var file: String
    var line: Int
}

extension GatewayConfig {
    /// Where every path of the configuration resolved (`gateway check`): relative paths start at
    /// the configuration file's folder, whatever the working directory.
    func pathReport() -> String {
        var rows: [(String, String, String)] = [("gateway", "data_dir", dataDir)]
        if let file = logging.file { rows.append(("logging", "file", file.path)) }
        if !schemas.deadLetter.isEmpty { rows.append(("schemas", "dead_letter", schemas.deadLetter)) }
        for listener in listeners {
            rows += listener.settings.paths.map { ("listener \(listener.name)", $0.key, $0.path) }
        }
        for sink in sinks { rows += sink.settings.paths.map { ("sink \(sink.name)", $0.key, $0.path) } }
        for plugin in plugins {
            rows.append(("plugin \(plugin.name)", "file", "\(plugin.file):\(plugin.line)"))
            rows += plugin.settings.paths.map { ("plugin \(plugin.name)", $0.key, $0.path) }
        }
        let base = URL(fileURLWithPath: file).standardizedFileURL.deletingLastPathComponent().path
        let width = rows.map { $0.0.count + $0.1.count + 1 }.max() ?? 0
        let lines = rows.map { row in
            let label = "\(row.0) \(row.1)"
            return "  " + label + String(repeating: " ", count: width - label.count + 2) + row.2
        }
        return (["paths (relative ones start at \(base)):"] + lines).joined(separator: "\n")
    }
}
