import ConfigReading

/// A plugin type: how its settings are read from YAML and how an instance is made. Each plugin's
/// folder defines one (`proc/ProcSettings+Config.swift`, ...); ``PluginRegistry/builtin`` lists them.
public struct PluginFactory: Sendable {
    /// The `type` users write.
    public let type: String
    /// Reads the plugin's own keys (`type` and `enabled` are the gateway's) and reports problems on
    /// the nodes; the result is used only when no problem was found.
    public let read: @Sendable (ConfigMap, ConfigContext) -> any PluginSettings

    public init(type: String, read: @escaping @Sendable (ConfigMap, ConfigContext) -> any PluginSettings) {
        self.type = type
        self.read = read
    }
}

/// A plugin instance's validated settings.
public protocol PluginSettings: Sendable, NamesPaths {
    /// Makes the plugin; throws when it cannot open what it needs (dwmon's and jobdir's state files).
    func make(name: String, context: PluginContext) throws -> any GatewayPlugin
}

extension PluginSettings {
    public var paths: [(key: String, path: String)] { [] }
}

/// The plugin types this build knows, by the `type` name used in configuration, in one table
/// (node_exporter's `registerCollector`).
public typealias PluginRegistry = ComponentTable<PluginFactory>

extension PluginFactory: ComponentFactory {}

extension ComponentTable where Factory == PluginFactory {
    public static var builtin: Self { Self([ProcSettings.factory, DwmonSettings.factory, JobdirSettings.factory]) }
}
