import CoreMetrics
import Foundation
import GatewayCore
import Logging
import Plugins
import ServiceLifecycle
import Sinks
import Synchronization

/// Everything `gateway run` starts, built from a validated configuration: sink workers, the
/// router, listeners, in one ServiceGroup. Shutdown runs in reverse: health reports draining,
/// listeners stop and hand over what they hold, then every sink worker drains its queue.
final class Runtime: Sendable {
    let config: GatewayConfig
    let metrics = GatewayMetrics()
    let status: StatusReporter
    let router: Router
    let spoolAdmin: SpoolAdmin
    let plugins: [any GatewayPlugin]
    let logger: Logger
    private let group: ServiceGroup
    private let deadLetter: DeadLetterFile?

    init(config: GatewayConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        var workers: [SinkWorker] = []
        var besides: [any Service] = []
        var expedites: [@Sendable () -> Void] = []
        var targets: [Router.Target] = []
        var spools: [SpoolAdmin.Entry] = []
        for sink in config.sinks {
            let queue = SinkQueue(capacity: sink.queueSize, policy: sink.whenFull)
            let sinkMetrics = SinkMetrics(sink: sink.name, factory: metrics.factory)
            var sinkLogger = logger
            sinkLogger[metadataKey: "sink"] = "\(sink.name)"
            let parts = try sink.settings.make(
                SinkContext(name: sink.name, logger: sinkLogger, metrics: sinkMetrics, factory: metrics.factory))
            let instance = parts.sink
            besides += parts.services
            if let expedite = parts.expedite { expedites.append(expedite) }
            if let spool = parts.spool {
                let store = spool.store
                spools.append(.init(sink: sink.name, type: sink.type, store: store, replayer: spool.replayer))
                Self.addSpoolGauges(sink.name, store, spool.delivery, metrics)
                if spool.replayer == nil {
                    // An archive is healthy while its file takes writes (it read 0 before: alerts fired).
                    let healthy = spool.delivery.healthy
                    metrics.addRefresher { healthy.record(store.isWritable ? 1 : 0) }
                } else if !store.isEmpty {
                    sinkLogger.notice(
                        "spool holds a backlog from an earlier run; replaying it before new points",
                        metadata: ["batches": "\(store.batchCount)", "points": "\(store.pointCount)"])
                }
            }
            workers.append(
                SinkWorker(
                    name: sink.name, sink: instance, queue: queue,
                    configuration: .init(batchSize: sink.batchSize, flushInterval: sink.flushInterval),
                    metrics: sinkMetrics, logger: sinkLogger))
            targets.append(Router.Target(name: sink.name, queue: queue, metrics: sinkMetrics))
            let gauge = sinkMetrics.queuePoints
            Gauge(label: "gateway_sink_queue_capacity", dimensions: [("sink", sink.name)], factory: metrics.factory)
                .record(sink.queueSize)
            metrics.addRefresher { gauge.record(queue.count) }
        }
        deadLetter = config.schemas.deadLetter.isEmpty ? nil : try DeadLetterFile(path: config.schemas.deadLetter)
        let schemas = config.schemas.schemaSet

        // Plugins first: the router takes their taps. Their points enter through an Ingest of
        // their own (source `plugin:<name>`), bound once the router exists.
        var plugins: [any GatewayPlugin] = []
        var emitters: [(emitter: PluginEmitter, name: String, logger: Logger)] = []
        for plugin in config.plugins where plugin.enabled {
            var pluginLogger = logger
            pluginLogger[metadataKey: "plugin"] = "\(plugin.name)"
            let emitter = PluginEmitter()
            emitters.append((emitter, plugin.name, pluginLogger))
            let context = PluginContext(
                emit: { points in await emitter.emit(points) }, logger: pluginLogger, metrics: metrics.factory)
            plugins.append(try plugin.settings.make(name: plugin.name, context: context))
        }
        let taps = plugins.flatMap { plugin in
            plugin.taps.map { Router.Tap(series: $0.series.map(Glob.init), receive: $0.receive) }
        }
        let liveTap = LiveTap(factory: metrics.factory)
        router = Router(
            routes: config.routes, targets: targets, taps: taps, liveTap: liveTap, factory: metrics.factory)
        for (emitter, name, pluginLogger) in emitters {
            emitter.bind(
                Ingest(
                    source: "plugin:\(name)",
                    metrics: ListenerMetrics(listener: "plugin:\(name)", factory: metrics.factory),
                    defaultTags: config.defaultTags, schemas: schemas, router: router, deadLetter: deadLetter,
                    logger: pluginLogger))
        }
        self.plugins = plugins
        spoolAdmin = SpoolAdmin(entries: spools)
        status = StatusReporter(
            metrics: metrics, name: config.name, spools: spoolAdmin, plugins: plugins, liveTap: liveTap,
            disabledPlugins: config.plugins.filter { !$0.enabled }.map { ($0.name, $0.type) })
        // One handler per method and path: a second instance of a plugin type leaves the shared
        // (legacy) paths to the first.
        var pluginRoutes: [PluginRoute] = []
        var claimed: [String: String] = [:]
        for plugin in plugins {
            for route in plugin.routes {
                let key = "\(route.method.rawValue) \(route.path)"
                if let owner = claimed[key] {
                    logger.notice(
                        "plugin route already served by another plugin; skipped",
                        metadata: ["plugin": "\(plugin.name)", "route": "\(key)", "served_by": "\(owner)"])
                    continue
                }
                claimed[key] = plugin.name
                pluginRoutes.append(route)
            }
        }
        var listeners: [any Service] = []
        for listener in config.listeners {
            var listenerLogger = logger
            listenerLogger[metadataKey: "listener"] = "\(listener.name)"
            let ingest = Ingest(
                source: listener.name, metrics: ListenerMetrics(listener: listener.name, factory: metrics.factory),
                defaultTags: config.defaultTags, schemas: schemas, router: router, deadLetter: deadLetter,
                logger: listenerLogger)
            listeners.append(
                try listener.settings.make(
                    ListenerContext(
                        name: listener.name, ingest: ingest, metrics: metrics, logger: listenerLogger, status: status,
                        spools: spoolAdmin, pluginRoutes: pluginRoutes)))
        }

        // Shutdown runs in reverse: the drain marker, listeners, plugins, sink workers (which drain
        // into their sinks or spools), then the replayers.
        let services: [any Service] =
            besides + workers + plugins.map { PluginService(plugin: $0) } + listeners
            + [
                DrainMarker(
                    status: status, logger: logger,
                    watchdog: ShutdownWatchdog(
                        timeout: config.shutdownTimeout, expedites: expedites,
                        queues: targets.map { ($0.name, $0.queue) }, logger: logger))
            ]
        group = ServiceGroup(
            configuration: .init(
                services: services.map {
                    .init(
                        service: $0, successTerminationBehavior: .ignore,
                        failureTerminationBehavior: .gracefullyShutdownGroup)
                },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
    }

    static func addSpoolGauges(
        _ sink: String, _ store: SpoolStore, _ delivery: DeliveryMetrics, _ metrics: GatewayMetrics
    ) {
        let dimensions = [("sink", sink)]
        if let salvage = store.salvage {
            // Counted once, when the damaged file was salvaged at start (logged there too).
            Counter(label: "gateway_spool_salvaged_batches_total", dimensions: dimensions, factory: metrics.factory)
                .increment(by: Int64(salvage.batches))
            Counter(label: "gateway_spool_salvaged_points_total", dimensions: dimensions, factory: metrics.factory)
                .increment(by: Int64(salvage.points))
            Counter(label: "gateway_spool_lost_batches_total", dimensions: dimensions, factory: metrics.factory)
                .increment(by: Int64(salvage.lostBatchesAtMost + salvage.corruptBatches))
            delivery.droppedCorrupt.increment(by: Int64(salvage.corruptPoints + salvage.lostPointsKnown))
        }
        let writable = Gauge(label: "gateway_spool_writable", dimensions: dimensions, factory: metrics.factory)
        metrics.addRefresher {
            writable.record(store.isWritable ? 1 : 0)
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
        let signals = OperatorSignals(logger: logger)
        defer { signals.cancel() }
        try await group.run()
        for spool in spoolAdmin.entries {
            logger.info(
                "spool closed",
                metadata: [
                    "sink": "\(spool.sink)", "batches": "\(spool.store.batchCount)",
                    "points": "\(spool.store.pointCount)",
                ])
            spool.store.close()
        }
        logger.info("gateway stopped")
    }
}

/// Signals an operator or a log-rotation script may send that would otherwise end the process at
/// once (their default action), losing what memory holds: SIGHUP (there is no reload yet), SIGUSR1,
/// SIGUSR2. Each is logged and the gateway goes on. SIGPIPE is ignored (a peer that went away is an
/// error on that connection, not a reason to stop).
final class OperatorSignals: @unchecked Sendable {  // sources are set once, in init
    private let sources: [any DispatchSourceSignal]

    init(logger: Logger) {
        signal(SIGPIPE, SIG_IGN)
        var sources: [any DispatchSourceSignal] = []
        for (number, name) in [(SIGHUP, "SIGHUP"), (SIGUSR1, "SIGUSR1"), (SIGUSR2, "SIGUSR2")] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                logger.notice(
                    "signal received and ignored: the gateway keeps running with its configuration (reload is not supported yet)",
                    metadata: ["signal": "\(name)"])
            }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}

/// The last service: the first to hear of shutdown, so `/health` answers 503 while the rest drains.
struct DrainMarker: Service {
    let status: StatusReporter
    let logger: Logger
    let watchdog: ShutdownWatchdog

    func run() async throws {
        try? await gracefulShutdown()
        status.startDraining()
        logger.info("shutting down: stopping listeners, then draining sink queues")
        watchdog.arm()
    }
}

/// Bounds a graceful shutdown (init systems and Kubernetes kill a process that takes longer than
/// about 30 s). After `timeout`, the Influx sinks give up the requests on the wire and send what is
/// left to their spools; 5 s later the process exits whatever remains (logged with what the queues
/// still held: with `ack: durable`, HTTP points among them are still in the journal).
struct ShutdownWatchdog: Sendable {
    let timeout: Duration
    let expedites: [@Sendable () -> Void]
    let queues: [(String, SinkQueue)]
    let logger: Logger

    func arm() {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let (expedites, queues, logger, timeout) = (self.expedites, self.queues, self.logger, self.timeout)
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
            logger.error(
                "shutdown_timeout passed: giving up requests on the wire, the rest goes to the spools",
                metadata: ["shutdown_timeout": "\(Units.text(timeout))"])
            for expedite in expedites { expedite() }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds + 5) {
            let held = queues.map { "\($0.0)=\($0.1.count)" }.joined(separator: ",")
            logger.critical(
                "shutdown did not finish 5 s after shutdown_timeout; exiting now",
                metadata: ["points_in_queues": "\(held)"])
            exit(3)
        }
    }
}

/// Runs a plugin in the service group; graceful shutdown cancels it.
struct PluginService: Service {
    let plugin: any GatewayPlugin

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await plugin.run()
        }
    }
}

/// Where a plugin's points enter the pipeline; bound to its Ingest once the router exists.
final class PluginEmitter: Sendable {
    private let ingest = Mutex<Ingest?>(nil)

    func bind(_ ingest: Ingest) { self.ingest.withLock { $0 = ingest } }

    /// Returns the points that passed their schemas.
    func emit(_ points: [Point]) async -> Int {
        guard let ingest = ingest.withLock({ $0 }), !points.isEmpty else { return 0 }
        var points = points
        ingest.metrics.received.increment(by: Int64(points.count))
        ingest.addDefaultTags(&points)
        ingest.normalise(&points, receiveTime: Ingest.now())
        await ingest.router.push(points, source: ingest.source)
        return points.count
    }
}
