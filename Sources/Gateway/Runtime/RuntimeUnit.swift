import Logging
import Plugins
import ServiceLifecycle
import Sinks

/// One part of the running gateway that starts and stops on its own: a sink (its worker and what
/// runs beside it, such as replay), a listener, or a plugin. Each runs in a ServiceGroup of its own,
/// so a reload can stop or start it while the rest goes on; its `fingerprint` (the settings as
/// read) tells a reload whether the configuration changed it.
final class RuntimeUnit: Sendable {
    enum Kind: String, Sendable {
        case sink, listener, plugin
    }

    let kind: Kind
    let name: String
    let fingerprint: String
    /// A unit of the configuration the gateway started with: its failure stops the gateway (as a
    /// listener that cannot bind at start). One a reload started is reported instead.
    let fatal: Bool
    private let group: ServiceGroup
    private let stopped = Latch()

    init(kind: Kind, name: String, fingerprint: String, services: [any Service], fatal: Bool, logger: Logger) {
        self.kind = kind
        self.name = name
        self.fingerprint = fingerprint
        self.fatal = fatal
        group = ServiceGroup(
            configuration: .init(
                services: services.map {
                    .init(
                        service: $0, successTerminationBehavior: .ignore,
                        failureTerminationBehavior: .gracefullyShutdownGroup)
                },
                gracefulShutdownSignals: [], cancellationSignals: [], logger: logger))
    }

    /// Runs until stopped or failed; returns the failure, if any.
    func run() async -> (any Error)? {
        defer { stopped.open() }
        do {
            try await group.run()
            return nil
        } catch {
            return error
        }
    }

    /// Stops it gracefully (services in reverse order: a sink's worker drains its queue into the
    /// sink or its spool before replay stops) and returns once it has stopped.
    func stop() async {
        await group.triggerGracefulShutdown()
        await stopped.wait()
    }
}

/// A running sink: its unit, and what the router, the status and the shutdown watchdog need.
struct SinkUnit: Sendable {
    var config: SinkConfig
    var unit: RuntimeUnit
    var queue: SinkQueue
    var metrics: SinkMetrics
    var spool: SpoolAdmin.Entry?
    var expedite: (@Sendable () -> Void)?
    /// What a group that has it as a member hands points to.
    var handle: SinkHandle

    var target: Router.Target { Router.Target(name: config.name, queue: queue, metrics: metrics) }
}

/// A running listener and the ingest its points enter through.
struct ListenerUnit: Sendable {
    var config: ListenerConfig
    var unit: RuntimeUnit
    var ingest: Ingest
}

/// A running plugin, the ingest its points enter through, and its config (for the status).
struct PluginUnit: Sendable {
    var config: PluginConfig
    var unit: RuntimeUnit
    var plugin: any GatewayPlugin
    var ingest: Ingest
}

extension RuntimeUnit {
    /// Settings as read, for comparing two readings of a configuration. Never logged or shown: it
    /// may hold secrets.
    static func fingerprint(_ value: Any) -> String { String(reflecting: value) }
}
