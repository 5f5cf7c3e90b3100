/// The plugin types this build knows, by the `type` name used in configuration. Plugins register
/// here, in one explicit table, as they are added (node_exporter's `registerCollector`).
public enum PluginRegistry {
    /// No plugin types are built in yet: `proc`, `dwmon` and `jobdir` are planned. A configuration
    /// naming an unknown type is rejected by `gateway check` and at start.
    public static let types: Set<String> = []
}
