import Foundation

// `/api/v1/status` and the JSON shapes of the API.
extension JobdirPlugin {

    public func status() -> [String: Any] {
        let (lastScan, lastCleanup) = state.withLock { ($0.lastScan, $0.lastCleanup) }
        var out: [String: Any] = [
            "type": type, "storage_root": settings.storageRoot, "deferred_storage_root": settings.deferredStorageRoot,
            "state": settings.statePath,
        ]
        if let depths = try? store.depths() {
            var jobs: [String: Int] = [:]
            for depth in depths { jobs[depth.state.rawValue, default: 0] += depth.count }
            out["jobs"] = jobs
            out["waiting_for_processor"] = Self.waiting(depths)
        }
        if let processors = try? store.processors() {
            out["processors_live"] = processors.filter(\.alive).map(\.name)
            out["processors_dead"] = processors.filter { !$0.alive }.map(\.name)
        }
        if let lastScan { out["last_scan"] = Self.json(lastScan) }
        if let lastCleanup {
            out["last_cleanup"] = Self.json(lastCleanup)
        }
        return out
    }

    static func json(_ scan: ScanReport) -> [String: Any] {
        [
            "at": scan.at, "seconds": scan.seconds, "files": scan.files, "directories": scan.directories,
            "pairs": scan.pairs, "queued": scan.queued, "unassigned": scan.unassigned, "incomplete": scan.incomplete,
            "ignored": scan.ignored, "errors": scan.errors,
        ]
    }

    static func json(_ cleanup: CleanupReport) -> [String: Any] {
        ["at": cleanup.at, "moved": cleanup.moved, "deleted": cleanup.deleted, "failed": cleanup.failed, "missing": cleanup.missing]
    }

    static func json(_ job: JobdirJob) -> [String: Any] {
        var out: [String: Any] = [
            "uuid": job.uuid, "json_path": job.jsonPath, "dump_path": job.dumpPath, "origin": job.origin.rawValue,
            "state": job.state.rawValue, "priority": job.priority, "queued_at": job.queuedAt,
        ]
        if let v = job.processor { out["processor"] = v }
        if let v = job.assignedAt { out["assigned_at"] = v }
        if let v = job.claimedAt { out["claimed_at"] = v }
        if let v = job.finishedAt { out["finished_at"] = v }
        if let v = job.success { out["success"] = v }
        if let v = job.message { out["message"] = v }
        if job.cleanupAttempts > 0 { out["cleanup_attempts"] = job.cleanupAttempts }
        if let v = job.cleanupError { out["cleanup_error"] = v }
        if let v = job.cleanedAt { out["cleaned_at"] = v }
        if let v = job.destination { out["destination"] = v }
        return out
    }

    static func json(_ processor: JobdirProcessor) -> [String: Any] {
        var out: [String: Any] = [
            "name": processor.name, "registered_at": processor.registeredAt, "last_seen": processor.lastSeen,
            "alive": processor.alive, "queued": processor.queued, "running": processor.running,
        ]
        if let v = processor.diedAt { out["died_at"] = v }
        return out
    }
}
