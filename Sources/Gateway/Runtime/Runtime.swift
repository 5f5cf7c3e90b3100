import Foundation
import GatewayCore
import Logging
import ServiceLifecycle
import Sinks

/// Everything `gateway run` starts, built from a validated configuration: sink workers, the
/// router, listeners, in one ServiceGroup. Shutdown runs in reverse: health reports draining,
/// listeners stop and hand over what they hold, then every sink worker drains its queue.
final class Runtime: Sendable {
    let config: GatewayConfig
    let metrics = GatewayMetrics()
    let status: StatusReporter
    let router: Router
    let logger: Logger
    private let group: ServiceGroup
    private let deadLetter: DeadLetterFile?

    init(config: GatewayConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        status = StatusReporter(metrics: metrics, name: config.name)

        var workers: [SinkWorker] = []
        var targets: [Router.Target] = []
        for sink in config.sinks {
            let queue = SinkQueue(capacity: sink.queueSize, policy: sink.whenFull)
            let sinkMetrics = SinkMetrics(sink: sink.name, factory: metrics.factory)
            let instance: any Sink
            switch sink.kind {
            case .stdout(let format): instance = StdoutSink(format: format)
            case .blackhole: instance = BlackholeSink()
            }
            var sinkLogger = logger
            sinkLogger[metadataKey: "sink"] = "\(sink.name)"
            workers.append(
                SinkWorker(
                    name: sink.name, sink: instance, queue: queue,
                    configuration: .init(batchSize: sink.batchSize, flushInterval: sink.flushInterval),
                    metrics: sinkMetrics, logger: sinkLogger))
            targets.append(Router.Target(name: sink.name, queue: queue, metrics: sinkMetrics))
            let gauge = sinkMetrics.queuePoints
            metrics.addRefresher { gauge.record(queue.count) }
        }
        router = Router(routes: config.routes, targets: targets, factory: metrics.factory)

        deadLetter = config.schemas.deadLetter.isEmpty ? nil : try DeadLetterFile(path: config.schemas.deadLetter)
        let schemas = config.schemas.schemaSet
        var listeners: [any Service] = []
        for listener in config.listeners {
            var listenerLogger = logger
            listenerLogger[metadataKey: "listener"] = "\(listener.name)"
            let ingest = Ingest(
                source: listener.name, metrics: ListenerMetrics(listener: listener.name, factory: metrics.factory),
                defaultTags: config.defaultTags, schemas: schemas, router: router, deadLetter: deadLetter,
                logger: listenerLogger)
            switch listener.kind {
            case .udp(let udp):
                listeners.append(
                    UDPListener(
                        name: listener.name, config: udp, ingest: ingest, metrics: metrics,
                        logger: listenerLogger))
            case .http(let http):
                listeners.append(
                    HTTPListener(
                        name: listener.name, config: http, ingest: ingest, status: status,
                        logger: listenerLogger))
            }
        }

        let services: [any Service] = workers + listeners + [DrainMarker(status: status, logger: logger)]
        group = ServiceGroup(
            configuration: .init(
                services: services.map {
                    .init(service: $0, successTerminationBehavior: .ignore, failureTerminationBehavior: .gracefullyShutdownGroup)
                },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
    }

    func run() async throws {
        logger.info(
            "gateway starting",
            metadata: [
                "name": "\(config.name)", "listeners": "\(config.listeners.count)", "sinks": "\(config.sinks.count)",
                "routes": "\(config.routes.count)",
            ])
        defer { deadLetter?.close() }
        try await group.run()
        logger.info("gateway stopped")
    }
}

/// The last service: the first to hear of shutdown, so `/health` answers 503 while the rest drains.
struct DrainMarker: Service {
    let status: StatusReporter
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        status.startDraining()
        logger.info("shutting down: stopping listeners, then draining sink queues")
    }
}
