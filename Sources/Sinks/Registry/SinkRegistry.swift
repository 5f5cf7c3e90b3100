import ConfigReading
import CoreMetrics
import GatewayCore
import Logging
import ServiceLifecycle

/// A sink type: how its settings are read from YAML and how an instance is made. Each sink's
/// folder defines one (`influx2/Influx2Settings.swift`, ...); ``SinkRegistry/builtin`` lists them.
public struct SinkFactory: Sendable {
    /// The `type` users write.
    public let type: String
    /// Queue defaults for this type, before the sink's `batch_size` and `queue_size` keys.
    public let batchSize: Int
    public let queueSize: Int
    /// Reads the sink's own keys (the queue keys are the gateway's) and reports problems on the
    /// nodes; the result is used only when no problem was found.
    public let read: @Sendable (ConfigMap, ConfigContext) -> any SinkSettings

    public init(
        type: String, batchSize: Int = 1000, queueSize: Int = 100_000,
        read: @escaping @Sendable (ConfigMap, ConfigContext) -> any SinkSettings
    ) {
        self.type = type
        self.batchSize = batchSize
        self.queueSize = queueSize
        self.read = read
    }
}

/// A sink instance's validated settings.
public protocol SinkSettings: Sendable, NamesPaths {
    /// The spool file this sink writes, if any (two sinks may not share one).
    var spoolFile: SpoolFileSettings? { get }
    /// Makes the sink and what runs beside it.
    func make(_ context: SinkContext) throws -> SinkParts
}

extension SinkSettings {
    public var spoolFile: SpoolFileSettings? { nil }
    public var spoolPath: String? { spoolFile?.path }
    public var paths: [(key: String, path: String)] { spoolPath.map { [("spool", $0)] } ?? [] }
}

/// Settings of a sink made of other sinks (`group`): the sinks it names are checked once every
/// sink is read, and are made before it (their handles are in ``SinkContext/sinks``).
public protocol ComposedSinkSettings: SinkSettings {
    /// The sinks it hands points to.
    var memberNames: [String] { get }
    /// Reports members that are not defined or cannot be members; `sinks` maps every sink's name
    /// to its type.
    func checkMembers(_ sinks: [String: String], problems: ProblemList)
}

/// A made sink as another sink sees it: where to queue points for it, its counters, and its
/// health when it is a network sink.
public struct SinkHandle: Sendable {
    public let name: String
    public let queue: SinkQueue
    public let metrics: SinkMetrics
    public let control: (any NetworkSinkControl)?

    public init(name: String, queue: SinkQueue, metrics: SinkMetrics, control: (any NetworkSinkControl)?) {
        self.name = name
        self.queue = queue
        self.metrics = metrics
        self.control = control
    }
}

/// What the runtime hands a sink type when it makes an instance.
public struct SinkContext: Sendable {
    public let name: String
    public let logger: Logger
    public let metrics: SinkMetrics
    public let factory: any MetricsFactory
    /// The sinks made so far, by name (a ``ComposedSinkSettings`` finds its members here).
    public let sinks: [String: SinkHandle]

    public init(
        name: String, logger: Logger, metrics: SinkMetrics, factory: any MetricsFactory,
        sinks: [String: SinkHandle] = [:]
    ) {
        self.name = name
        self.logger = logger
        self.metrics = metrics
        self.factory = factory
        self.sinks = sinks
    }
}

/// A made sink: the instance its worker writes to, services that run beside it (replay), and its
/// spool for the admin API, gauges and `gateway spool`.
public struct SinkParts: Sendable {
    public var sink: any Sink
    public var services: [any Service]
    public var spool: Spool?
    /// Told to give up requests on the wire when shutdown runs out of time.
    public var expedite: (@Sendable () -> Void)?
    /// Brings the sink's gauges up to date before `/metrics` and the status are read.
    public var refresh: (@Sendable () -> Void)?

    public struct Spool: Sendable {
        public var store: SpoolStore
        public var delivery: DeliveryMetrics
        /// The sink that replays it; nil for an archive (`spool` sink).
        public var replayer: (any NetworkSinkControl)?

        public init(store: SpoolStore, delivery: DeliveryMetrics, replayer: (any NetworkSinkControl)?) {
            self.store = store
            self.delivery = delivery
            self.replayer = replayer
        }
    }

    public init(
        sink: any Sink, services: [any Service] = [], spool: Spool? = nil, expedite: (@Sendable () -> Void)? = nil,
        refresh: (@Sendable () -> Void)? = nil
    ) {
        self.sink = sink
        self.services = services
        self.spool = spool
        self.expedite = expedite
        self.refresh = refresh
    }
}

/// The sink types this build knows, by the `type` name used in configuration, in one table.
public typealias SinkRegistry = ComponentTable<SinkFactory>

extension SinkFactory: ComponentFactory {}

extension ComponentTable where Factory == SinkFactory {
    public static var builtin: Self {
        Self([
            StdoutSettings.factory, BlackholeSettings.factory, Influx2Settings.factory, RemoteWriteSettings.factory,
            SpoolSettings.factory, GroupSettings.factory,
        ])
    }
}
