import Foundation
import GatewayCore

// The queue as points, the status, and what the points are made from.
extension JobdirPlugin {
    /// `jobdir_jobs` points: depth per processor and state (`processor=none`: waiting for one),
    /// and one `state=all` point with the totals and the wait and processing times since the last.
    public func points(now: Double) throws -> [Point] { try points(now: now, depths: store.depths()) }

    /// Jobs waiting for a processor.
    static func waiting(_ depths: [JobStore.Depth]) -> Int {
        depths.filter { $0.processor == nil }.map(\.count).reduce(0, +)
    }

    func points(now: Double, depths: [JobStore.Depth]) throws -> [Point] {
        let time = Int64(now * 1e9)
        let processors = try store.processors()
        let totals = try store.totals()
        var byKey: [String: [JobdirJob.State: Int]] = [:]
        for processor in processors where processor.alive { byKey[processor.name] = [.queued: 0, .running: 0] }
        byKey["none"] = [.queued: 0]
        for depth in depths { byKey[depth.processor ?? "none", default: [:]][depth.state, default: 0] += depth.count }
        var points: [Point] = []
        for (processor, states) in byKey.sorted(by: { $0.key < $1.key }) {
            for (state, count) in states.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                points.append(
                    Point(
                        series: "jobdir_jobs", time: time,
                        tags: [Tag("plugin", name), Tag("processor", processor), Tag("state", state.rawValue)],
                        fields: [Field("depth", .int(Int64(count)))]))
            }
        }
        let (waits, processing) = state.withLock { s in
            defer {
                s.waits = Stat()
                s.processing = Stat()
            }
            return (s.waits, s.processing)
        }
        var fields: [Field] = [
            Field("queued_total", .int(totals["queued_total"] ?? 0)),
            Field("completed_total", .int(totals["succeeded_total"] ?? 0)),
            Field("failed_total", .int(totals["failed_total"] ?? 0)),
            Field("requeued_total", .int(totals["requeued_total"] ?? 0)),
            Field("unassigned", .int(Int64(Self.waiting(depths)))),
            Field("live_processors", .int(Int64(processors.filter(\.alive).count))),
            Field("dead_processors", .int(Int64(processors.filter { !$0.alive }.count))),
            Field("claimed", .int(Int64(waits.count))),
            Field("finished", .int(Int64(processing.count))),
        ]
        if let incomplete = state.withLock({ $0.lastScan?.incomplete }) {
            fields.append(Field("incomplete", .int(Int64(incomplete))))
        }
        if waits.count > 0 {
            fields.append(Field("wait_seconds_mean", .float(waits.sum / Double(waits.count))))
            fields.append(Field("wait_seconds_max", .float(waits.max)))
        }
        if processing.count > 0 {
            fields.append(Field("processing_seconds_mean", .float(processing.sum / Double(processing.count))))
            fields.append(Field("processing_seconds_max", .float(processing.max)))
        }
        points.append(
            Point(series: "jobdir_jobs", time: time, tags: [Tag("plugin", name), Tag("state", "all")], fields: fields))
        return points
    }

    // MARK: Status

    public func status() -> any PluginStatus {
        let (lastScan, lastCleanup) = state.withLock { ($0.lastScan, $0.lastCleanup) }
        var out = JobdirStatus(
            type: type, storageRoot: settings.storageRoot, deferredStorageRoot: settings.deferredStorageRoot,
            state: settings.statePath)
        if let depths = try? store.depths() {
            var jobs: [String: Int] = [:]
            for depth in depths { jobs[depth.state.rawValue, default: 0] += depth.count }
            out.jobs = jobs
            out.waitingForProcessor = Self.waiting(depths)
        }
        if let oldest = try? store.oldestQueuedAt() { out.oldestWaitingSeconds = max(0, now() - oldest) }
        if let processors = try? store.processors() {
            out.processorsLive = processors.filter(\.alive).map(\.name)
            out.processorsDead = processors.filter { !$0.alive }.map(\.name)
        }
        out.lastScan = lastScan.map(JobdirScanAnswer.init)
        out.lastCleanup = lastCleanup.map(JobdirCleanupAnswer.init)
        return out
    }
}
