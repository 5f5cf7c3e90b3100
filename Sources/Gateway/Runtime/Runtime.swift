import CoreMetrics
import Foundation
import GatewayCore
import Logging
import Plugins
import ServiceLifecycle
import Sinks
import Synchronization

/// Everything `gateway run` starts, built from a validated configuration: each sink (worker, and
/// replay beside it), plugin and listener is a ``RuntimeUnit`` that starts and stops on its own, so
/// a reload (SIGHUP, `POST /api/v1/reload`) changes only what its configuration changed
/// (RuntimeReload.swift). Shutdown runs in order: health reports draining, listeners stop and hand
/// over what they hold, plugins stop, then every sink worker drains its queue.
final class Runtime: Sendable {
    let metrics = GatewayMetrics()
    let status: StatusReporter
    let spoolAdmin: SpoolAdmin
    let logger: Logger
    let deadLetter: DeadLetterFile?
    /// The live tap's clients (`GET /api/v1/tap`): outside the router, so every router a reload
    /// makes feeds the same clients.
    let liveTap: LiveTap
    /// What runs now; changed only by the supervisor (start, reload, shutdown).
    let state: Mutex<RuntimeState>
    private let events: AsyncStream<RuntimeEvent>
    private let eventSink: AsyncStream<RuntimeEvent>.Continuation

    var config: GatewayConfig { state.withLock { $0.config } }

    init(config: GatewayConfig, logger: Logger) throws {
        self.logger = logger
        deadLetter = config.schemas.deadLetter.isEmpty ? nil : try DeadLetterFile(path: config.schemas.deadLetter)
        spoolAdmin = SpoolAdmin(entries: [])
        liveTap = LiveTap(factory: metrics.factory)
        status = StatusReporter(metrics: metrics, name: config.name, spools: spoolAdmin, liveTap: liveTap)
        (events, eventSink) = AsyncStream.makeStream(of: RuntimeEvent.self)
        state = Mutex(RuntimeState(config: config))
        let assembly = try assemble(config, fatal: true)
        state.withLock { $0 = assembly }
        publish(assembly)
    }

    // MARK: Building

    /// Makes every unit of `config` (started later by the supervisor). Sinks come first: the
    /// router needs their queues (groups after their members: they hand points to the members'
    /// queues); plugins next: the router takes their taps.
    func assemble(_ config: GatewayConfig, fatal: Bool) throws -> RuntimeState {
        var state = RuntimeState(config: config)
        for sink in Self.membersFirst(config.sinks) {
            let (queue, sinkMetrics) = makeQueue(sink)
            let handles = Dictionary(state.sinks.map { ($0.config.name, $0.handle) }, uniquingKeysWith: { a, _ in a })
            state.sinks.append(try makeSink(sink, queue: queue, metrics: sinkMetrics, members: handles, fatal: fatal))
        }
        var plugins: [(PluginConfig, any GatewayPlugin, PluginEmitter)] = []
        for plugin in config.plugins where plugin.enabled {
            let (instance, emitter) = try makePlugin(plugin)
            plugins.append((plugin, instance, emitter))
        }
        state.router = makeRouter(config.routes, targets: state.sinks.map(\.target), plugins: plugins.map(\.1))
        let schemas = config.schemas.schemaSet
        for (plugin, instance, emitter) in plugins {
            let ingest = makeIngest("plugin:\(plugin.name)", router: state.router, schemas: schemas, config: config)
            emitter.bind(ingest)
            state.plugins.append(
                PluginUnit(
                    config: plugin, unit: pluginUnit(plugin, instance, fatal: fatal), plugin: instance, ingest: ingest))
        }
        let routes = pluginRoutes(state.plugins)
        for listener in config.listeners {
            let ingest = makeIngest(listener.name, router: state.router, schemas: schemas, config: config)
            state.listeners.append(try makeListener(listener, ingest: ingest, pluginRoutes: routes, fatal: fatal))
        }
        return state
    }

    func makeQueue(_ sink: SinkConfig) -> (SinkQueue, SinkMetrics) {
        // With queue_pack, chunks that arrive while the queue holds half its bytes are packed.
        let queue = SinkQueue(
            capacity: sink.queueSize, policy: sink.whenFull, maxBytes: sink.queueMaxBytes,
            packAboveBytes: sink.queuePack ? sink.queueMaxBytes / 2 : nil)
        let sinkMetrics = SinkMetrics(sink: sink.name, factory: metrics.factory)
        metrics.addRefresher(key: "sink-queue:\(sink.name)") {
            sinkMetrics.queuePoints.record(queue.count)
            sinkMetrics.queueBytes.record(queue.bytes)
        }
        Gauge(label: "gateway_sink_queue_capacity", dimensions: [("sink", sink.name)], factory: metrics.factory)
            .record(sink.queueSize)
        Gauge(label: "gateway_sink_queue_max_bytes", dimensions: [("sink", sink.name)], factory: metrics.factory)
            .record(sink.queueMaxBytes)
        return (queue, sinkMetrics)
    }

    /// Sinks made of others (`group`) after every other sink.
    static func membersFirst(_ sinks: [SinkConfig]) -> [SinkConfig] {
        sinks.filter { !$0.isComposed } + sinks.filter(\.isComposed)
    }

    /// Makes the sink (opening its spool) and its unit: its worker takes from `queue`. A group finds
    /// its members in `members`.
    func makeSink(
        _ sink: SinkConfig, queue: SinkQueue, metrics sinkMetrics: SinkMetrics, members: [String: SinkHandle],
        fatal: Bool
    ) throws -> SinkUnit {
        var sinkLogger = logger
        sinkLogger[metadataKey: "sink"] = "\(sink.name)"
        let parts = try sink.settings.make(
            SinkContext(
                name: sink.name, logger: sinkLogger, metrics: sinkMetrics, factory: metrics.factory, sinks: members))
        if let refresh = parts.refresh { metrics.addRefresher(key: "sink-refresh:\(sink.name)", refresh) }
        var entry: SpoolAdmin.Entry?
        if let spool = parts.spool {
            let store = spool.store
            entry = .init(sink: sink.name, type: sink.type, store: store, replayer: spool.replayer)
            Self.addSpoolGauges(sink.name, store, spool.delivery, metrics)
            if spool.replayer == nil {
                // An archive is healthy while its file takes writes (it read 0 before: alerts fired).
                let healthy = spool.delivery.healthy
                metrics.addRefresher(key: "sink-archive:\(sink.name)") { healthy.record(store.isWritable ? 1 : 0) }
            } else if !store.isEmpty {
                sinkLogger.notice(
                    "spool holds a backlog from an earlier run; replaying it before new points",
                    metadata: ["batches": "\(store.batchCount)", "points": "\(store.pointCount)"])
            }
        }
        let worker = SinkWorker(
            name: sink.name, sink: parts.sink, queue: queue,
            configuration: .init(batchSize: sink.batchSize, flushInterval: sink.flushInterval),
            metrics: sinkMetrics, logger: sinkLogger)
        // Reverse order at shutdown: the worker drains first, then what runs beside it (replay).
        let unit = RuntimeUnit(
            kind: .sink, name: sink.name, fingerprint: RuntimeUnit.fingerprint(sink),
            services: parts.services + [worker],
            fatal: fatal, logger: sinkLogger)
        let handle = SinkHandle(
            name: sink.name, queue: queue, metrics: sinkMetrics, control: parts.sink as? any NetworkSinkControl)
        return SinkUnit(
            config: sink, unit: unit, queue: queue, metrics: sinkMetrics, spool: entry, expedite: parts.expedite,
            handle: handle)
    }

    func makePlugin(_ plugin: PluginConfig) throws -> (any GatewayPlugin, PluginEmitter) {
        var pluginLogger = logger
        pluginLogger[metadataKey: "plugin"] = "\(plugin.name)"
        let emitter = PluginEmitter()
        let context = PluginContext(
            emit: { points in await emitter.emit(points) }, logger: pluginLogger, metrics: metrics.factory)
        return (try plugin.settings.make(name: plugin.name, context: context), emitter)
    }

    func pluginUnit(_ plugin: PluginConfig, _ instance: any GatewayPlugin, fatal: Bool) -> RuntimeUnit {
        RuntimeUnit(
            kind: .plugin, name: plugin.name, fingerprint: RuntimeUnit.fingerprint(plugin),
            services: [PluginService(plugin: instance)], fatal: fatal, logger: logger)
    }

    func makeRouter(_ routes: [RouteConfig], targets: [Router.Target], plugins: [any GatewayPlugin]) -> Router {
        let taps = plugins.flatMap { plugin in
            plugin.taps.map { Router.Tap(series: $0.series.map(Glob.init), receive: $0.receive) }
        }
        return Router(
            routes: routes, targets: targets, taps: taps, liveTap: liveTap, factory: metrics.factory)
    }

    func makeIngest(_ source: String, router: Router, schemas: SchemaSet, config: GatewayConfig) -> Ingest {
        var sourceLogger = logger
        sourceLogger[metadataKey: source.hasPrefix("plugin:") ? "plugin" : "listener"] =
            "\(source.hasPrefix("plugin:") ? String(source.dropFirst(7)) : source)"
        return Ingest(
            source: source, metrics: ListenerMetrics(listener: source, factory: metrics.factory),
            defaultTags: config.defaultTags, schemas: schemas, router: router, deadLetter: deadLetter,
            logger: sourceLogger)
    }

    /// One handler per method and path: a second instance of a plugin type leaves the shared
    /// (legacy) paths to the first.
    func pluginRoutes(_ plugins: [PluginUnit]) -> [PluginRoute] {
        var routes: [PluginRoute] = []
        var claimed: [String: String] = [:]
        for plugin in plugins.map(\.plugin) {
            for route in plugin.routes {
                let key = "\(route.method.rawValue) \(route.path)"
                if let owner = claimed[key] {
                    logger.notice(
                        "plugin route already served by another plugin; skipped",
                        metadata: ["plugin": "\(plugin.name)", "route": "\(key)", "served_by": "\(owner)"])
                    continue
                }
                claimed[key] = plugin.name
                routes.append(route)
            }
        }
        return routes
    }

    func makeListener(_ listener: ListenerConfig, ingest: Ingest, pluginRoutes: [PluginRoute], fatal: Bool) throws
        -> ListenerUnit
    {
        var listenerLogger = logger
        listenerLogger[metadataKey: "listener"] = "\(listener.name)"
        let runtime = self
        let service = try listener.settings.make(
            ListenerContext(
                name: listener.name, ingest: ingest, metrics: metrics, logger: listenerLogger, status: status,
                spools: spoolAdmin, pluginRoutes: pluginRoutes, reload: { await runtime.reload(origin: $0) }))
        let unit = RuntimeUnit(
            kind: .listener, name: listener.name, fingerprint: RuntimeUnit.fingerprint(listener),
            services: [service], fatal: fatal, logger: listenerLogger)
        return ListenerUnit(config: listener, unit: unit, ingest: ingest)
    }

    /// Tells the status, the spool admin and the metrics what runs now.
    func publish(_ state: RuntimeState) {
        spoolAdmin.replace(state.sinks.compactMap(\.spool))
        status.setPlugins(
            state.plugins.map(\.plugin),
            disabled: state.config.plugins.filter { !$0.enabled }.map { ($0.name, $0.type) })
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
        metrics.addRefresher(key: "sink-spool:\(sink)") {
            writable.record(store.isWritable ? 1 : 0)
            delivery.spoolBatches.record(store.batchCount)
            delivery.spoolPoints.record(store.pointCount)
            delivery.spoolBytes.record(store.byteCount)
            let oldest = (try? store.oldestSpooledAt()) ?? nil
            delivery.spoolOldestAge.record(oldest.map { Double(SpoolStore.now() - $0) / 1e9 } ?? 0)
        }
    }

    // MARK: Running

    func run() async throws {
        let config = self.config
        logger.info(
            "gateway starting",
            metadata: [
                "name": "\(config.name)", "listeners": "\(config.listeners.count)", "sinks": "\(config.sinks.count)",
                "routes": "\(config.routes.count)",
            ])
        defer { deadLetter?.close() }
        // Not a ServiceGroup: each unit's own group would take that group's shutdown as its own
        // and stop at once; the supervisor stops them in order instead.
        let eventSink = self.eventSink
        let signals = OperatorSignals(
            logger: logger, reload: { [self] in requestReload(origin: "SIGHUP") },
            shutdown: { _ = eventSink.yield(.shutdown) })
        defer { signals.cancel() }
        try await supervise()
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

    /// Asks the supervisor for a reload and waits for its outcome (refused once shutdown began).
    func reload(origin: String) async -> ReloadOutcome {
        await withCheckedContinuation { continuation in
            if case .terminated = eventSink.yield(
                .reload(origin: origin, reply: { continuation.resume(returning: $0) }))
            {
                continuation.resume(returning: .refused(origin: origin, errors: ["the gateway is shutting down"]))
            }
        }
    }

    /// A reload whose outcome is logged (SIGHUP).
    func requestReload(origin: String) {
        _ = eventSink.yield(.reload(origin: origin, reply: { _ in }))
    }

    /// Runs every unit, applies reloads one at a time, and on shutdown (SIGTERM, SIGINT, or a unit of
    /// the starting configuration failing) stops the units in order.
    func supervise() async throws {
        let initial = state.withLock { $0 }
        var fatalError: (any Error)?
        await withTaskGroup(of: Void.self) { group in
            let eventSink = self.eventSink
            func start(_ unit: RuntimeUnit) {
                group.addTask {
                    if let error = await unit.run() { eventSink.yield(.failed(unit, error)) }
                }
            }
            for unit in initial.units { start(unit) }
            var iterator = events.makeAsyncIterator()
            loop: while let event = await iterator.next() {
                switch event {
                case .reload(let origin, let reply):
                    let outcome = await applyReload(origin: origin, start: start)
                    reply(outcome)
                case .failed(let unit, let error):
                    if unit.fatal {
                        logger.error(
                            "a component failed; stopping the gateway",
                            metadata: ["\(unit.kind.rawValue)": "\(unit.name)", "error": "\(error)"])
                        fatalError = error
                        break loop
                    }
                    logger.error(
                        "a component started by a reload failed; the rest goes on",
                        metadata: ["\(unit.kind.rawValue)": "\(unit.name)", "error": "\(error)"])
                case .shutdown:
                    break loop
                }
            }
            eventSink.finish()
            while let event = await iterator.next() {
                if case .reload(let origin, let reply) = event {
                    reply(.refused(origin: origin, errors: ["the gateway is shutting down"]))
                }
            }
            await shutdown()
            group.cancelAll()
        }
        if let fatalError { throw fatalError }
    }

    /// Health turns `draining`; listeners stop and hand over what they hold, then plugins, then
    /// every sink worker drains its queue (into its sink or spool), then what runs beside it.
    func shutdown() async {
        status.startDraining()
        logger.info("shutting down: stopping listeners, then draining sink queues")
        let current = state.withLock { $0 }
        ShutdownWatchdog(timeout: current.config.shutdownTimeout, logger: logger)
            .arm(
                expedites: current.sinks.compactMap(\.expedite),
                queues: current.sinks.map { ($0.config.name, $0.queue) })
        await Self.stopAll(current.listeners.map(\.unit))
        await Self.stopAll(current.plugins.map(\.unit))
        // Groups first: what they hold reaches their members before those drain.
        await Self.stopAll(current.sinks.filter(\.config.isComposed).map(\.unit))
        await Self.stopAll(current.sinks.filter { !$0.config.isComposed }.map(\.unit))
    }

    static func stopAll(_ units: [RuntimeUnit]) async {
        await withDiscardingTaskGroup { group in
            for unit in units { group.addTask { await unit.stop() } }
        }
    }
}

/// What runs now.
struct RuntimeState: Sendable {
    var config: GatewayConfig
    var sinks: [SinkUnit] = []
    var plugins: [PluginUnit] = []
    var listeners: [ListenerUnit] = []
    var router: Router

    init(config: GatewayConfig) {
        self.config = config
        router = Router(routes: [], targets: [], factory: NOOPMetricsHandler.instance)
    }

    var units: [RuntimeUnit] { sinks.map(\.unit) + plugins.map(\.unit) + listeners.map(\.unit) }
}

enum RuntimeEvent: Sendable {
    case reload(origin: String, reply: @Sendable (ReloadOutcome) -> Void)
    case failed(RuntimeUnit, any Error)
    case shutdown
}
