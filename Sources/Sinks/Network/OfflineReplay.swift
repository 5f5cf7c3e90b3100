import CoreMetrics
import Logging

/// A network sink's settings, as `gateway spool replay` needs them to replay a spool file with no
/// gateway running: where it writes, its spool and window, and a sink over the file.
public protocol NetworkSinkSettings: SinkSettings {
    var spool: SpoolFileSettings { get }
    var maxInFlight: Int { get }
    /// The URL written to (empty when the environment variable it comes from is unset).
    var url: String { get }
    /// The sink these settings make, over `store`, with no metrics: replayed by its caller.
    func offlineReplayer(name: String, store: SpoolStore, logger: Logger) -> any OfflineReplayer
}

/// A network sink driven pass by pass (``NetworkSink/replay(maxBatches:)``), by `gateway spool replay`.
public protocol OfflineReplayer: Sendable {
    var health: NetworkSinkHealth { get }
    func replay(maxBatches: Int) async -> Duration?
    func close() async
}

extension NetworkSink: OfflineReplayer {
    /// A sink over `store` with no metrics (a command's replay, not the gateway's).
    static func offline(name: String, configuration: Configuration, store: SpoolStore, logger: Logger) -> NetworkSink {
        let factory = NOOPMetricsHandler.instance
        return NetworkSink(
            name: name, configuration: configuration, spool: store, metrics: SinkMetrics(sink: name, factory: factory),
            delivery: DeliveryMetrics(sink: name, factory: factory), logger: logger)
    }
}

extension Influx2Settings: NetworkSinkSettings {
    public var url: String { target.url }
    public func offlineReplayer(name: String, store: SpoolStore, logger: Logger) -> any OfflineReplayer {
        InfluxSink.offline(name: name, configuration: configuration, store: store, logger: logger)
    }
}

extension RemoteWriteSettings: NetworkSinkSettings {
    public var url: String { target.url }
    public func offlineReplayer(name: String, store: SpoolStore, logger: Logger) -> any OfflineReplayer {
        RemoteWriteSink.offline(name: name, configuration: configuration, store: store, logger: logger)
    }
}
