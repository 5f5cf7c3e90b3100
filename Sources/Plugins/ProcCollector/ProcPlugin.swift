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
    public let host: String
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
        host = settings.host.isEmpty ? HostIdentity.primaryAddress(procRoot: settings.procRoot) : settings.host
        store = UsageStore(window: settings.window, maxSeries: settings.maxSeries, maxSamplesPerSeries: settings.maxSamplesPerSeries)
        rule = AlarmRule(
            cpuThreshold: settings.cpuThreshold, memThreshold: settings.memThreshold, horizon: settings.horizon,
            minSamples: settings.trendMinSamples, minSpan: settings.trendMinSpan)
    }

    public var taps: [PluginTap] {
        guard settings.serve else { return [] }
        let store = self.store
        return [PluginTap(series: UsageStore.series) { points in store.ingest(points, now: Self.now()) }]
    }

    public var routes: [PluginRoute] {
        guard settings.serve else { return [] }
        return ProcAPI(plugin: self).routes
    }

    static func now() -> Int64 { ProcCollector.clock(CLOCK_REALTIME) }

    public func run() async throws {
        let logger = context.logger
        let passes = Counter(label: "gateway_plugin_proc_passes_total", dimensions: [("plugin", name)], factory: context.metrics)
        let passSeconds = Recorder(
            label: "gateway_plugin_proc_pass_seconds", dimensions: [("plugin", name)], aggregate: false, factory: context.metrics)
        let processes = Recorder(
            label: "gateway_plugin_proc_processes", dimensions: [("plugin", name)], aggregate: false, factory: context.metrics)
        let errors = Counter(label: "gateway_plugin_errors_total", dimensions: [("plugin", name)], factory: context.metrics)
        let refused = Counter(
            label: "gateway_plugin_proc_store_refused_total", dimensions: [("plugin", name)], factory: context.metrics)
        let transitions = Counter(
            label: "gateway_plugin_proc_alarm_transitions_total", dimensions: [("plugin", name)], factory: context.metrics)

        var collector: ProcCollector?
        if settings.collect {
            do {
                collector = try ProcCollector(settings: settings)
                logger.info(
                    "proc collector started",
                    metadata: [
                        "host": "\(host)", "interval": "\(settings.interval)", "group_by": "\(settings.groupBy.rawValue)",
                        "format": "\(settings.format.rawValue)", "top": "\(settings.top)",
                    ])
            } catch {
                errors.increment()
                state.withLock { $0.lastError = "\(error)" }
                logger.error("proc collector cannot start; the usage API keeps serving", metadata: ["error": "\(error)"])
            }
        }
        var tracker = AlarmTracker()
        var lastRefused: Int64 = 0
        var nextCollect = ContinuousClock.now
        var nextAlarm = ContinuousClock.now + settings.alarmInterval

        while !Task.isCancelled {
            let now = ContinuousClock.now
            if let collector, now >= nextCollect {
                nextCollect = now + settings.interval
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
                    await context.emit(ProcCollector.points(pass, settings: settings, host: host))
                } catch {
                    errors.increment()
                    state.withLock { $0.lastError = "\(error)" }
                    logger.error("proc pass failed", metadata: ["error": "\(error)"])
                }
            }
            if settings.serve, now >= nextAlarm {
                nextAlarm = now + settings.alarmInterval
                let wall = Self.now()
                store.expire(now: wall)
                let counts = store.counts
                if counts.refusedSeries > lastRefused {
                    refused.increment(by: counts.refusedSeries - lastRefused)
                    logger.warning(
                        "usage store is full: samples of new series refused",
                        metadata: ["max_series": "\(settings.maxSeries)", "refused": "\(counts.refusedSeries - lastRefused)"])
                    lastRefused = counts.refusedSeries
                }
                let alarms = store.alarms(since: wall - Self.nanoseconds(settings.meanWindow), rule: rule)
                let changes = tracker.update(alarms)
                var levelCounts: [AlarmLevel: Int] = [:]
                for alarm in alarms { levelCounts[alarm.level, default: 0] += 1 }
                state.withLock { $0.alarmCounts = levelCounts }
                if !changes.isEmpty {
                    transitions.increment(by: Int64(changes.count))
                    for change in changes { Self.log(change, logger: logger) }
                    await context.emit(Self.points(changes, time: wall))
                }
            }
            let wake = collector != nil ? min(nextCollect, nextAlarm) : nextAlarm
            // Cancelled at graceful shutdown: the loop ends here.
            do { try await Task.sleep(until: wake, tolerance: .milliseconds(5), clock: .continuous) } catch { break }
        }
        logger.info("proc plugin stopped", metadata: ["passes": "\(state.withLock { $0.passes })"])
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    static func log(_ change: AlarmTracker.Transition, logger: Logger) {
        var metadata: Logger.Metadata = [
            "host": "\(change.key.host)", "process": "\(change.key.process)", "metric": "\(change.metric.rawValue)",
            "from": "\(change.from.rawValue)", "to": "\(change.to.rawValue)",
        ]
        if let pid = change.key.pid { metadata["pid"] = "\(pid)" }
        if let alarm = change.alarm {
            metadata["value"] = "\(alarm.latest)"
            metadata["threshold"] = "\(alarm.threshold)"
            if let projected = alarm.projected { metadata["projected"] = "\(projected)" }
        } else {
            metadata["reason"] = "no samples left in the window"
        }
        switch change.to {
        case .red: logger.warning("process alarm RED", metadata: metadata)
        case .amber: logger.notice("process alarm AMBER", metadata: metadata)
        case .green: logger.notice("process alarm cleared", metadata: metadata)
        }
    }

    /// `process_alarm` points: one per transition.
    static func points(_ changes: [AlarmTracker.Transition], time: Int64) -> [Point] {
        changes.map { change in
            var tags = [
                Tag("host", change.key.host), Tag("process", change.key.process), Tag("metric", change.metric.rawValue),
                Tag("level", change.to.rawValue), Tag("previous", change.from.rawValue),
            ]
            if let pid = change.key.pid { tags.append(Tag("pid", pid)) }
            var fields: [Field] = [Field("level_code", .int(Int64(change.to.rank)))]
            if let alarm = change.alarm {
                fields.append(Field("value", .float(alarm.latest)))
                fields.append(Field("threshold", .float(alarm.threshold)))
                if let projected = alarm.projected, projected.isFinite { fields.append(Field("projected", .float(projected))) }
            }
            return Point(series: "process_alarm", time: time, tags: tags, fields: fields)
        }
    }

    public func status() -> [String: Any] {
        let (passes, last, error, alarms) = state.withLock { ($0.passes, $0.lastPass, $0.lastError, $0.alarmCounts) }
        var out: [String: Any] = [
            "type": type, "host": host, "collect": settings.collect, "serve": settings.serve, "passes": passes,
        ]
        if let last {
            out["last_pass"] = [
                "processes": last.processesRead, "reported": last.usage.count, "filtered_out": last.filteredOut,
                "vanished": last.vanished, "duration_us": Double(last.durationNanoseconds) / 1e3,
                "us_per_process": last.processesRead > 0 ? Double(last.durationNanoseconds) / 1e3 / Double(last.processesRead) : 0,
            ]
        }
        if let error { out["error"] = error }
        if settings.serve {
            let counts = store.counts
            out["store"] = ["series": counts.series, "samples": counts.samples, "refused": Int(counts.refusedSeries)]
            out["alarms"] = Dictionary(uniqueKeysWithValues: AlarmLevel.allCases.map { ($0.rawValue, alarms[$0] ?? 0) })
        }
        return out
    }
}
