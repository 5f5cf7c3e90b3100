/// The plugin types this build knows, by the `type` name used in configuration, in one explicit
/// table (node_exporter's `registerCollector`). `dwmon` and `jobdir` are planned.
public enum PluginRegistry {
    public static let types: Set<String> = ["proc"]

    /// A plugin's settings, read and validated from its YAML by the gateway's config loader.
    public enum Settings: Sendable {
        case proc(ProcSettings)
    }

    public static func make(name: String, settings: Settings, context: PluginContext) -> any GatewayPlugin {
        switch settings {
        case .proc(let proc): return ProcPlugin(name: name, settings: proc, context: context)
        }
    }
}
