import ConfigReading
import Logging
import Plugins
import ServiceLifecycle
import Sinks

/// A listener type: how its settings are read from YAML and how an instance is made. Each
/// listener's folder defines one (`udp/UDPListenerConfig.swift`, ...); ``ListenerRegistry/builtin``
/// lists them.
struct ListenerFactory: Sendable {
    /// The `type` users write.
    let type: String
    /// Reads the listener's keys (not `type`) and reports problems on the nodes; the result is used
    /// only when no problem was found.
    let read: @Sendable (ConfigMap, ConfigContext) -> any ListenerSettings
}

/// A listener instance's validated settings.
protocol ListenerSettings: Sendable, NamesPaths {
    /// The socket it binds (`udp` or `tcp`, address), so two listeners on one port are caught at
    /// `gateway check`.
    var socket: (proto: String, address: HostPort) { get }
    /// Makes the listener, a service the runtime runs until shutdown.
    func make(_ context: ListenerContext) throws -> any Service
}

extension ListenerSettings {
    var paths: [(key: String, path: String)] { [] }
}

/// What the runtime hands a listener type when it makes an instance.
struct ListenerContext: Sendable {
    let name: String
    /// Where its points go (default tags, schemas, routes), counted under the listener's name.
    let ingest: Ingest
    let metrics: GatewayMetrics
    let logger: Logger
    let status: StatusReporter
    let spools: SpoolAdmin
    let pluginRoutes: [PluginRoute]
    /// Reads the configuration again and applies it (`POST /api/v1/reload`); the argument names who asked.
    var reload: @Sendable (String) async -> ReloadOutcome = {
        .refused(origin: $0, errors: ["reload is not available"])
    }
}

/// The listener types this build knows, by the `type` name used in configuration, in one table.
typealias ListenerRegistry = ComponentTable<ListenerFactory>

extension ListenerFactory: ComponentFactory {}

extension ComponentTable where Factory == ListenerFactory {
    static var builtin: Self {
        Self([UDPListenerConfig.factory, HTTPListenerConfig.factory, StatsDListenerConfig.factory])
    }
}

/// The three tables `ConfigLoader` and the runtime use.
struct Registries: Sendable {
    var listeners = ListenerRegistry.builtin
    var sinks = SinkRegistry.builtin
    var plugins = PluginRegistry.builtin

    static let builtin = Registries()
}
