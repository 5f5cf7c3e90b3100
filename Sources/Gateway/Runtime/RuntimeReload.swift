import Foundation
import GatewayCore
import Logging
import Plugins
import Sinks

/// The outcome of a reload, as logged, in `/api/v1/status` (`reload`) and in the answer to
/// `POST /api/v1/reload`.
struct ReloadOutcome: Codable, Sendable, Equatable {
    /// `applied`, `unchanged` (the files say what runs already) or `refused` (the old configuration
    /// goes on).
    var result: String
    /// `SIGHUP` or `POST /api/v1/reload`.
    var origin: String
    var at: String
    /// Why it was refused: the problems `gateway check` prints (`FILE:LINE: key: message`).
    var errors: [String]?
    var sinks: ReloadChanges?
    var listeners: ReloadChanges?
    var plugins: ReloadChanges?
    var routesChanged: Bool?
    var schemasChanged: Bool?
    /// Settings read only at start: changed in the file, not applied until a restart.
    var needsRestart: [String]?
    /// Components of the new configuration that could not be made or started (the rest applied).
    var failures: [String]?

    enum CodingKeys: String, CodingKey {
        case result, origin, at, errors, sinks, listeners, plugins, failures
        case routesChanged = "routes_changed"
        case schemasChanged = "schemas_changed"
        case needsRestart = "needs_restart"
    }

    static func refused(origin: String, errors: [String]) -> ReloadOutcome {
        ReloadOutcome(
            result: "refused", origin: origin, at: ISO8601.format(nanoseconds: Ingest.now(), fractionDigits: 3),
            errors: errors)
    }
}

/// Per kind: the names a reload added, removed, changed (stopped and made anew) and kept running.
struct ReloadChanges: Codable, Sendable, Equatable {
    var added: [String] = []
    var removed: [String] = []
    var changed: [String] = []
    var kept: [String] = []

    var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }

    init(old: [(name: String, fingerprint: String)], new: [(name: String, fingerprint: String)]) {
        let before = Dictionary(old.map { ($0.name, $0.fingerprint) }, uniquingKeysWith: { a, _ in a })
        let names = Set(new.map(\.name))
        for (name, fingerprint) in new {
            switch before[name] {
            case nil: added.append(name)
            case fingerprint: kept.append(name)
            default: changed.append(name)
            }
        }
        removed = old.map(\.name).filter { !names.contains($0) }
    }

    /// Stopped now: removed or changed.
    var stopping: Set<String> { Set(removed + changed) }
    /// Made now: added or changed.
    var making: Set<String> { Set(added + changed) }
}

extension Runtime {
    /// Reads the configuration again and, if it is valid, applies the difference in place (the
    /// supervisor runs one at a time). What is unchanged keeps running untouched: an unchanged
    /// sink keeps its queue, batches in flight and spool; an unchanged listener its socket. A
    /// changed or removed sink finishes what it holds (sends or spools it) before the new one
    /// opens its spool; routes and schemas apply from the next batch.
    func applyReload(origin: String, start: (RuntimeUnit) -> Void) async -> ReloadOutcome {
        let old = state.withLock { $0 }
        let new: GatewayConfig
        do {
            new = try ConfigLoader().load(path: old.config.file)
        } catch {
            let outcome = ReloadOutcome.refused(origin: origin, errors: error.problems.map { "\($0)" })
            logger.error(
                "reload refused: the configuration has problems; the running one goes on",
                metadata: ["origin": "\(origin)", "problems": "\(outcome.errors?.joined(separator: "; ") ?? "")"])
            status.recordReload(outcome)
            return outcome
        }
        var outcome = ReloadOutcome(
            result: "applied", origin: origin, at: ISO8601.format(nanoseconds: Ingest.now(), fractionDigits: 3))
        var sinks = ReloadChanges(
            old: old.sinks.map { ($0.config.name, $0.unit.fingerprint) },
            new: new.sinks.map { ($0.name, RuntimeUnit.fingerprint($0)) })
        // A group hands points to its members' queues: one whose member is made anew is made anew.
        let remade = sinks.stopping
        for group in new.sinks where group.isComposed && sinks.kept.contains(group.name) {
            if group.memberNames.contains(where: remade.contains) {
                sinks.kept.removeAll { $0 == group.name }
                sinks.changed.append(group.name)
            }
        }
        let plugins = ReloadChanges(
            old: old.plugins.map { ($0.config.name, $0.unit.fingerprint) },
            new: new.plugins.filter(\.enabled).map { ($0.name, RuntimeUnit.fingerprint($0)) })
        // Plugin API paths are bound when an HTTP listener starts: one serving a plugin that
        // changed starts again with the new plugin's handlers.
        let pluginsMoved = !plugins.isEmpty
        var listeners = ReloadChanges(
            old: old.listeners.map { ($0.config.name, $0.unit.fingerprint) },
            new: new.listeners.map { ($0.name, RuntimeUnit.fingerprint($0)) })
        if pluginsMoved {
            let http = Set(new.listeners.filter { $0.type == "http" }.map(\.name))
            listeners.changed += listeners.kept.filter { http.contains($0) }
            listeners.kept.removeAll { http.contains($0) }
        }
        let routesChanged = RuntimeUnit.fingerprint(old.config.routes) != RuntimeUnit.fingerprint(new.routes)
        let schemasChanged = RuntimeUnit.fingerprint(old.config.schemas) != RuntimeUnit.fingerprint(new.schemas)
        var needsRestart: [String] = []
        if old.config.name != new.name { needsRestart.append("gateway.name") }
        if old.config.dataDir != new.dataDir { needsRestart.append("gateway.data_dir") }
        if old.config.defaultTags != new.defaultTags { needsRestart.append("gateway.default_tags") }
        if RuntimeUnit.fingerprint(old.config.logging) != RuntimeUnit.fingerprint(new.logging) {
            needsRestart.append("logging")
        }
        if old.config.schemas.deadLetter != new.schemas.deadLetter { needsRestart.append("schemas.dead_letter") }
        (outcome.sinks, outcome.listeners, outcome.plugins) = (sinks, listeners, plugins)
        outcome.routesChanged = routesChanged
        outcome.schemasChanged = schemasChanged
        outcome.needsRestart = needsRestart.isEmpty ? nil : needsRestart
        // Settings read only at start keep their running values.
        var config = new
        (config.name, config.dataDir, config.defaultTags, config.logging) =
            (old.config.name, old.config.dataDir, old.config.defaultTags, old.config.logging)
        config.schemas.deadLetter = old.config.schemas.deadLetter
        if sinks.isEmpty, listeners.isEmpty, plugins.isEmpty, !routesChanged, !schemasChanged {
            outcome.result = "unchanged"
            state.withLock { $0.config = config }
            return finish(outcome)
        }
        var failures: [String] = []

        // 1. Plugins that go or change stop first (a plugin's state file is opened by one at a time).
        await Self.stopAll(old.plugins.filter { plugins.stopping.contains($0.config.name) }.map(\.unit))
        var running: [(PluginConfig, any GatewayPlugin, PluginEmitter?)] = []
        for plugin in config.plugins where plugin.enabled {
            if let kept = old.plugins.first(where: { $0.config.name == plugin.name }),
                !plugins.making.contains(plugin.name)
            {
                running.append((plugin, kept.plugin, nil))
                continue
            }
            do {
                let (instance, emitter) = try makePlugin(plugin)
                running.append((plugin, instance, emitter))
            } catch {
                failures.append("plugin \(plugin.name): \(error)")
            }
        }

        // 2. The new router: kept sinks' queues as they are, new queues for changed and added ones.
        var targets: [(SinkConfig, SinkUnit?, SinkQueue, SinkMetrics)] = []
        for sink in config.sinks {
            if let kept = old.sinks.first(where: { $0.config.name == sink.name }), !sinks.making.contains(sink.name) {
                targets.append((sink, kept, kept.queue, kept.metrics))
            } else {
                let (queue, sinkMetrics) = makeQueue(sink)
                targets.append((sink, nil, queue, sinkMetrics))
            }
        }
        let router = makeRouter(
            config.routes, targets: targets.map { Router.Target(name: $0.0.name, queue: $0.2, metrics: $0.3) },
            plugins: running.map(\.1))
        let schemas = config.schemas.schemaSet

        // 3. Every source routes through it from its next batch; once no caller holds the old
        // router, nothing can reach the queues only it knew.
        for ingest in old.listeners.map(\.ingest) + old.plugins.map(\.ingest) {
            ingest.swap(router: router, schemas: schemas)
        }
        await Self.waitUntilIdle(old.router, logger: logger)

        // 4. Sinks that go or change drain what they hold (sent, or spooled) and close their spool;
        // then the new ones open theirs and start on the queues the router already fills.
        let leaving = old.sinks.filter { sinks.stopping.contains($0.config.name) }
        // Groups first: what they hold reaches their members before those drain.
        await Self.stopAll(leaving.filter(\.config.isComposed).map(\.unit))
        await Self.stopAll(leaving.filter { !$0.config.isComposed }.map(\.unit))
        for sink in leaving {
            sink.spool?.store.close()
            if !sinks.making.contains(sink.config.name) {
                for key in ["sink-queue", "sink-spool", "sink-archive"] {
                    metrics.removeRefreshers(key: "\(key):\(sink.config.name)")
                }
            }
        }
        var sinkUnits: [SinkUnit] = []
        for sink in Self.membersFirst(targets.map(\.0)) {
            guard let (_, kept, queue, sinkMetrics) = targets.first(where: { $0.0.name == sink.name }) else { continue }
            if let kept {
                sinkUnits.append(kept)
                continue
            }
            do {
                let members = Dictionary(
                    sinkUnits.map { ($0.config.name, $0.handle) }, uniquingKeysWith: { a, _ in a })
                let unit = try makeSink(sink, queue: queue, metrics: sinkMetrics, members: members, fatal: false)
                start(unit.unit)
                sinkUnits.append(unit)
            } catch {
                failures.append("sink \(sink.name): \(error) (its points wait in its queue)")
                logger.error(
                    "reload: a sink could not be made; its points wait in its queue",
                    metadata: ["sink": "\(sink.name)", "error": "\(error)"])
            }
        }

        // 5. Plugins: the new ones start with their ingest on the new router.
        var pluginUnits: [PluginUnit] = []
        for (plugin, instance, emitter) in running {
            if emitter == nil, let kept = old.plugins.first(where: { $0.config.name == plugin.name }) {
                pluginUnits.append(kept)
                continue
            }
            let ingest = makeIngest("plugin:\(plugin.name)", router: router, schemas: schemas, config: config)
            emitter?.bind(ingest)
            let unit = PluginUnit(
                config: plugin, unit: pluginUnit(plugin, instance, fatal: false), plugin: instance, ingest: ingest)
            start(unit.unit)
            pluginUnits.append(unit)
        }

        // 6. Listeners that go or change stop (handing over what they hold), then the new ones bind.
        await Self.stopAll(old.listeners.filter { listeners.stopping.contains($0.config.name) }.map(\.unit))
        let routes = pluginRoutes(pluginUnits)
        var listenerUnits: [ListenerUnit] = []
        for listener in config.listeners {
            if let kept = old.listeners.first(where: { $0.config.name == listener.name }),
                !listeners.making.contains(listener.name)
            {
                listenerUnits.append(kept)
                continue
            }
            do {
                let ingest = makeIngest(listener.name, router: router, schemas: schemas, config: config)
                let unit = try makeListener(listener, ingest: ingest, pluginRoutes: routes, fatal: false)
                start(unit.unit)
                listenerUnits.append(unit)
            } catch {
                failures.append("listener \(listener.name): \(error)")
            }
        }

        var next = RuntimeState(config: config)
        (next.sinks, next.plugins, next.listeners, next.router) = (sinkUnits, pluginUnits, listenerUnits, router)
        state.withLock { $0 = next }
        publish(next)
        outcome.failures = failures.isEmpty ? nil : failures
        return finish(outcome)
    }

    private func finish(_ outcome: ReloadOutcome) -> ReloadOutcome {
        func names(_ changes: ReloadChanges?) -> String {
            guard let changes else { return "" }
            return "added=\(changes.added) removed=\(changes.removed) changed=\(changes.changed)"
        }
        logger.notice(
            outcome.result == "unchanged" ? "reload: the configuration is unchanged" : "reload applied",
            metadata: [
                "origin": "\(outcome.origin)", "sinks": "\(names(outcome.sinks))",
                "listeners": "\(names(outcome.listeners))", "plugins": "\(names(outcome.plugins))",
                "routes_changed": "\(outcome.routesChanged ?? false)",
                "schemas_changed": "\(outcome.schemasChanged ?? false)",
                "needs_restart": "\(outcome.needsRestart ?? [])", "failures": "\(outcome.failures ?? [])",
            ])
        status.recordReload(outcome)
        return outcome
    }

    /// Returns once no caller routes through `router` (a push may wait for room in a `block`
    /// queue for up to its listener's `queue_wait`).
    static func waitUntilIdle(_ router: Router, logger: Logger) async {
        var waited = Duration.zero
        var pause = Duration.microseconds(100)
        while router.inUse.load(ordering: .acquiring) > 0 {
            try? await Task.sleep(for: pause)
            waited += pause
            pause = min(pause * 2, .milliseconds(20))
            if waited > .seconds(5) && waited - pause <= .seconds(5) {
                logger.notice("reload: waiting for requests still routing through the old routes")
            }
        }
    }
}
