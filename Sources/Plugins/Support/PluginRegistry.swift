/// The plugin types this build knows, by the `type` name used in configuration, in one explicit
/// table (node_exporter's `registerCollector`).
public enum PluginRegistry {
    public static let types: Set<String> = ["proc", "dwmon", "jobdir"]

    /// A plugin's settings, read and validated from its YAML by the gateway's config loader.
    public enum Settings: Sendable {
        case proc(ProcSettings)
        case dwmon(DwmonSettings)
        case jobdir(JobdirSettings)
    }

    /// Makes a plugin; throws when it cannot open what it needs (dwmon's and jobdir's state files).
    public static func make(name: String, settings: Settings, context: PluginContext) throws -> any GatewayPlugin {
        switch settings {
        case .proc(let proc): return ProcPlugin(name: name, settings: proc, context: context)
        case .dwmon(let dwmon): return try DwmonPlugin(name: name, settings: dwmon, context: context)
        case .jobdir(let jobdir): return try JobdirPlugin(name: name, settings: jobdir, context: context)
        }
    }
}
