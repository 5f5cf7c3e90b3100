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
    let spoolAdmin: SpoolAdmin
    let logger: Logger
    private let group: ServiceGroup
    private let deadLetter: DeadLetterFile?

    init(config: GatewayConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        var workers: [SinkWorker] = []
        var replayers: [any Service] = []
        var targets: [Router.Target] = []
        var spools: [SpoolAdmin.Entry] = []
        for sink in config.sinks {
            let queue = SinkQueue(capacity: sink.queueSize, policy: sink.whenFull)
            let sinkMetrics = SinkMetrics(sink: sink.name, factory: metrics.factory)
            var sinkLogger = logger
            sinkLogger[metadataKey: "sink"] = "\(sink.name)"
            let instance: any Sink
            switch sink.kind {
            case .stdout(let format): instance = StdoutSink(format: format)
            case .blackhole: instance = BlackholeSink()
            case .influx(let influx):
                let delivery = DeliveryMetrics(sink: sink.name, factory: metrics.factory)
                let store =
                    influx.spool.enabled
                    ? try SpoolStore(path: influx.spool.path, options: influx.spool.options, logger: sinkLogger) : nil
                let influxSink = InfluxSink(
                    name: sink.name,
                    configuration: .init(target: influx.target, precision: influx.precision, retry: influx.retry),
                    spool: store, metrics: sinkMetrics, delivery: delivery, logger: sinkLogger)
                instance = influxSink
                replayers.append(influxSink.replayService)
                if let store {
                    spools.append(.init(sink: sink.name, type: "influx2", store: store, influx: influxSink))
                    Self.addSpoolGauges(store, delivery, metrics)
                    if !store.isEmpty {
                        sinkLogger.notice(
                            "spool holds a backlog from an earlier run; replaying it before new points",
                            metadata: ["batches": "\(store.batchCount)", "points": "\(store.pointCount)"])
                    }
                }
            case .spool(let spool):
                let delivery = DeliveryMetrics(sink: sink.name, factory: metrics.factory)
                let store = try SpoolStore(path: spool.path, options: spool.options, logger: sinkLogger)
                instance = SpoolSink(store: store, metrics: sinkMetrics, delivery: delivery, logger: sinkLogger)
                spools.append(.init(sink: sink.name, type: "spool", store: store, influx: nil))
                Self.addSpoolGauges(store, delivery, metrics)
            }
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
        spoolAdmin = SpoolAdmin(entries: spools)
        status = StatusReporter(metrics: metrics, name: config.name, spools: spoolAdmin)

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
                        name: listener.name, config: http, ingest: ingest, status: status, spools: spoolAdmin,
                        logger: listenerLogger))
            }
        }

        // Shutdown runs in reverse: the drain marker, listeners, sink workers (which drain into
        // their sinks or spools), then the replayers.
        let services: [any Service] = replayers + workers + listeners + [DrainMarker(status: status, logger: logger)]
        group = ServiceGroup(
            configuration: .init(
                services: services.map {
                    .init(service: $0, successTerminationBehavior: .ignore, failureTerminationBehavior: .gracefullyShutdownGroup)
                },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
    }

    static func addSpoolGauges(_ store: SpoolStore, _ delivery: DeliveryMetrics, _ metrics: GatewayMetrics) {
        metrics.addRefresher {
            delivery.spoolBatches.record(store.batchCount)
            delivery.spoolPoints.record(store.pointCount)
            delivery.spoolBytes.record(store.byteCount)
            let oldest = (try? store.oldestSpooledAt()) ?? nil
            delivery.spoolOldestAge.record(oldest.map { Double(SpoolStore.now() - $0) / 1e9 } ?? 0)
        }
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
        for spool in spoolAdmin.entries {
            logger.info(
                "spool closed", metadata: ["sink": "\(spool.sink)", "batches": "\(spool.store.batchCount)", "points": "\(spool.store.pointCount)"])
            spool.store.close()
        }
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
