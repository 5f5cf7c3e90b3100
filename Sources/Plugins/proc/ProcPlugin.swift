import CoreMetrics
import Foundation
import GatewayCore
import Logging
import Synchronization

/// The `proc` plugin: collects this host's per-process CPU and memory, keeps a usage store of every
/// host that reports here, answers the usage and alarm API (and the original monitor's paths), and
/// emits alarm transitions as `process_alarm` points.
public final class ProcPlugin: GatewayPlugin {
    public let name: String
    public let type = "proc"
    public let settings: ProcSettings
    /// The `host` tag this plugin sets itself (`host:`); nil leaves the points to the gateway's
    /// default `host` tag, so they name the machine as every other component's do.
    public let host: String?
    /// This host's address: the `ip` tag, and the key of the original monitor's paths.
    public let ip: String
    public let store: UsageStore
    let rule: AlarmRule
    let context: PluginContext
    private let state = Mutex(RunState())

    struct RunState {
        var passes = 0
        var lastPass: ProcPass?
        var lastError: String?
        var alarmCounts: [AlarmLevel: Int] = [:]
    }

    public init(name: String, settings: ProcSettings, context: PluginContext) {
        self.name = name
        self.context = context
        self.settings = settings
        host = settings.host.isEmpty ? nil : settings.host
        ip = settings.ip.isEmpty ? HostIdentity.primaryAddress(procRoot: settings.procRoot) : settings.ip
        if settings.collect, ip.hasPrefix("127.") {
            context.logger.warning(
                "no non-loopback IPv4 address found for the ip tag; set `ip:` so hosts stay apart in the original paths",
                metadata: ["ip": "\(ip)"])
        }
        store = UsageStore(
            window: settings.window, maxSeries: settings.maxSeries, maxSamplesPerSeries: settings.maxSamplesPerSeries)
        rule = AlarmRule(
            cpuThreshold: settings.cpuThreshold, memThreshold: settings.memThreshold, horizon: settings.horizon,
            minSamples: settings.trendMinSamples, minSpan: settings.trendMinSpan)
    }

    public var taps: [PluginTap] {
        guard settings.serve else { return [] }
        let (store, wallClock) = (self.store, context.now)
        return [
            PluginTap(series: UsageStore.series) { points in store.ingest(points, now: Self.nanoseconds(wallClock())) }
        ]
    }

    public var routes: [PluginRoute] {
        guard settings.serve else { return [] }
        return ProcAPI(plugin: self).routes
    }

    /// Calendar time in epoch nanoseconds, from the context (tests give a fake one).
    func now() -> Int64 { Self.nanoseconds(context.now()) }

    static func nanoseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1e9).rounded()) }

    public func run() async throws {
        let logger = context.logger
        let passes = Counter(
            label: "gateway_plugin_proc_passes_total", dimensions: [("plugin", name)], factory: context.metrics)
        let passSeconds = Recorder(
            label: "gateway_plugin_proc_pass_seconds", dimensions: [("plugin", name)], aggregate: false,
            factory: context.metrics)
        let processes = Recorder(
            label: "gateway_plugin_proc_processes", dimensions: [("plugin", name)], aggregate: false,
            factory: context.metrics)
        let errors = Counter(
            label: "gateway_plugin_errors_total", dimensions: [("plugin", name)], factory: context.metrics)
        let evicted = Counter(
            label: "gateway_plugin_proc_store_evicted_total", dimensions: [("plugin", name)], factory: context.metrics)
        let refused = Counter(
            label: "gateway_plugin_proc_store_refused_total", dimensions: [("plugin", name)], factory: context.metrics)
        let transitions = Counter(
            label: "gateway_plugin_proc_alarm_transitions_total", dimensions: [("plugin", name)],
            factory: context.metrics)

        // Collection and alarm evaluation run side by side, so a sink that makes `emit` wait (a full
        // `block` queue) holds up neither the other loop nor the store.
        await withTaskGroup(of: Void.self) { group in
            if settings.collect {
                group.addTask {
                    await self.collectLoop(
                        clock: self.context.clock, passes: passes, passSeconds: passSeconds, processes: processes,
                        errors: errors)
                }
            }
            if settings.serve {
                group.addTask {
                    await self.alarmLoop(evicted: evicted, refused: refused, transitions: transitions)
                }
            }
        }
        logger.info("proc plugin stopped", metadata: ["passes": "\(state.withLock { $0.passes })"])
    }

    /// One pass every `interval` on `clock` (the context's) until cancelled (graceful shutdown).
    func collectLoop<C: Clock<Duration>>(
        clock: C, passes: Counter, passSeconds: Recorder, processes: Recorder, errors: Counter
    ) async {
        let logger = context.logger
        let collector: ProcCollector
        do {
            collector = try ProcCollector(settings: settings)
        } catch {
            errors.increment()
            state.withLock { $0.lastError = "\(error)" }
            logger.error("proc collector cannot start; the usage API keeps serving", metadata: ["error": "\(error)"])
            return
        }
        logger.info(
            "proc collector started",
            metadata: [
                "host": "\(host ?? "(the gateway's default host tag)")", "ip": "\(ip)",
                "interval": "\(settings.interval)", "group_by": "\(settings.groupBy.rawValue)",
                "format": "\(settings.format.rawValue)", "top": "\(settings.top)",
            ])
        var next = clock.now
        while !Task.isCancelled {
            next = next.advanced(by: settings.interval)
            do {
                let pass = try collector.pass()
                passes.increment()
                passSeconds.record(Double(pass.durationNanoseconds) / 1e9)
                processes.record(pass.processesRead)
                state.withLock {
                    $0.passes += 1
                    $0.lastPass = pass
                    $0.lastError = nil
                }
                _ = await context.emit(ProcCollector.points(pass, settings: settings, host: host, ip: ip))
            } catch {
                errors.increment()
                state.withLock { $0.lastError = "\(error)" }
                logger.error("proc pass failed", metadata: ["error": "\(error)"])
            }
            // A pass (or an emit) that overran its slot does not make the next ones pile up.
            let now = clock.now
            if next < now { next = now }
            do { try await clock.sleep(until: next, tolerance: .milliseconds(5)) } catch { return }
        }
    }

    /// Every `alarms.interval`: expire old samples, evaluate levels, report transitions.
    func alarmLoop(evicted: Counter, refused: Counter, transitions: Counter) async {
        let logger = context.logger
        var tracker = AlarmTracker()
        var lastEvicted: Int64 = 0
        var lastFuture: Int64 = 0
        while !Task.isCancelled {
            do { try await context.clock.sleep(for: settings.alarmInterval, tolerance: .milliseconds(5)) } catch {
                return
            }
            let wall = now()
            store.expire(now: wall)
            let counts = store.counts
            if counts.evictedSeries > lastEvicted {
                evicted.increment(by: counts.evictedSeries - lastEvicted)
                logger.warning(
                    "usage store is full: the series updated longest ago made room for new ones",
                    metadata: [
                        "max_series": "\(settings.maxSeries)", "evicted": "\(counts.evictedSeries - lastEvicted)",
                    ])
                lastEvicted = counts.evictedSeries
            }
            if counts.refusedFuture > lastFuture {
                refused.increment(by: counts.refusedFuture - lastFuture)
                logger.warning(
                    "usage samples more than 5 minutes ahead of this gateway's clock refused (clock skew?)",
                    metadata: ["refused": "\(counts.refusedFuture - lastFuture)"])
                lastFuture = counts.refusedFuture
            }
            let alarms = store.alarms(since: wall - Units.nanoseconds(settings.meanWindow), rule: rule)
            let changes = tracker.update(alarms)
            var levelCounts: [AlarmLevel: Int] = [:]
            for alarm in alarms { levelCounts[alarm.level, default: 0] += 1 }
            state.withLock { $0.alarmCounts = levelCounts }
            if !changes.isEmpty {
                transitions.increment(by: Int64(changes.count))
                for change in changes { Self.log(change, logger: logger) }
                _ = await context.emit(Self.points(changes, time: wall))
            }
        }
    }

    static func log(_ change: AlarmTracker.Transition, logger: Logger) {
        var metadata: Logger.Metadata = [
            "host": "\(change.key.host)", "process": "\(change.key.process)", "metric": "\(change.metric.rawValue)",
            "from": "\(change.from.rawValue)", "to": "\(change.to?.rawValue ?? "NO_DATA")",
        ]
        if let pid = change.key.pid { metadata["pid"] = "\(pid)" }
        if let alarm = change.alarm {
            metadata["value"] = "\(alarm.latest)"
            metadata["threshold"] = "\(alarm.threshold)"
            if let projected = alarm.projected { metadata["projected"] = "\(projected)" }
        }
        switch change.to {
        case .red?: logger.warning("process alarm RED", metadata: metadata)
        case .amber?: logger.notice("process alarm AMBER", metadata: metadata)
        case .green?: logger.notice("process alarm cleared", metadata: metadata)
        case nil: logger.warning("process alarm NO_DATA: no samples left in the window", metadata: metadata)
        }
    }

    /// `process_alarm` points: one per transition.
    static func points(_ changes: [AlarmTracker.Transition], time: Int64) -> [Point] {
        changes.map { change in
            var tags = [
                Tag("host", change.key.host), Tag("process", change.key.process), Tag("metric", change.metric.rawValue),
                Tag("level", change.to?.rawValue ?? "NO_DATA"), Tag("previous", change.from.rawValue),
            ]
            if let pid = change.key.pid { tags.append(Tag("pid", pid)) }
            if let ip = change.key.ip, ip != change.key.host { tags.append(Tag("ip", ip)) }
            var fields: [Field] = [Field("level_code", .int(Int64(change.to?.rank ?? -1)))]
            if let alarm = change.alarm {
                fields.append(Field("value", .float(alarm.latest)))
                fields.append(Field("threshold", .float(alarm.threshold)))
                if let projected = alarm.projected, projected.isFinite {
                    fields.append(Field("projected", .float(projected)))
                }
            }
            return Point(series: "process_alarm", time: time, tags: tags, fields: fields)
        }
    }

    public func status() -> any PluginStatus {
        let (passes, last, error, alarms) = state.withLock { ($0.passes, $0.lastPass, $0.lastError, $0.alarmCounts) }
        var out = ProcStatus(
            type: type, host: host, ip: ip, collect: settings.collect, serve: settings.serve, passes: passes,
            error: error)
        if let last {
            let micros = Double(last.durationNanoseconds) / 1e3
            out.lastPass = .init(
                processes: last.processesRead, reported: last.usage.count, filteredOut: last.filteredOut,
                vanished: last.vanished, durationMicroseconds: micros,
                microsecondsPerProcess: last.processesRead > 0 ? micros / Double(last.processesRead) : 0)
        }
        if settings.serve {
            let counts = store.counts
            out.store = .init(
                series: counts.series, samples: counts.samples, evictedSeries: Int(counts.evictedSeries),
                refusedFuture: Int(counts.refusedFuture))
            out.alarms = Dictionary(uniqueKeysWithValues: AlarmLevel.allCases.map { ($0.rawValue, alarms[$0] ?? 0) })
        }
        return out
    }
}
