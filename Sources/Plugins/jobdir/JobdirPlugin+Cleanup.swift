import Foundation

// Cleanup: the files of finished jobs moved (or deleted), their rows into the history.
extension JobdirPlugin {

    public struct CleanupReport: Sendable {
        public var at: Double
        public var moved: Int
        public var deleted: Int
        public var failed: [String]
        /// Files of finished jobs that were neither in place nor at the destination.
        public var missing: [String] = []
        /// Symbolic links of cleaned jobs (a date index) and folders left empty, removed.
        public var linksRemoved = 0
        public var foldersRemoved = 0
        /// Links or empty folders that could not be removed, with the reason.
        public var tidyErrors: [String] = []
    }

    /// Moves (or deletes) the files of every finished job, then drops its row into the history.
    /// A job whose files could not be moved stays, with the reason, for the next cleanup.
    public func cleanup() async -> CleanupReport? {
        guard begin(\.cleaning) else { return nil }
        defer { state.withLock { $0.cleaning = false } }
        let logger = context.logger
        let settings = self.settings
        let store = self.store
        let clock = context.now
        let now: @Sendable () -> Double = { clock().timeIntervalSince1970 }
        let exclude = scanner.exclude
        do {
            let report = try await onThread { () throws -> CleanupReport in
                var report = CleanupReport(at: now(), moved: 0, deleted: 0, failed: [])
                var cleaned: [JobdirJob.Origin: [JobdirTidy.Cleaned]] = [:]
                for job in try store.finished(limit: 100_000) {
                    let target = job.state == .succeeded ? settings.successDir : settings.failedDir
                    var destination = ""
                    var missing: [String] = []
                    do throws(JobFiles.Failure) {
                        if target.isEmpty {
                            try JobFiles.remove(job.jsonPath)
                            try JobFiles.remove(job.dumpPath)
                        } else {
                            destination = "\(target)/\(Self.day(job.finishedAt ?? now(), in: settings.timeZone))"
                            for path in [job.jsonPath, job.dumpPath]
                            where try JobFiles.move(path, into: destination) == .missing {
                                missing.append(path)
                            }
                        }
                    } catch {
                        report.failed.append("\(job.uuid): \(error)")
                        try store.cleanupFailed(job.uuid, error: error.description)
                        continue
                    }
                    // Only once both files are where they belong does the row go. A file someone
                    // else removed cannot be moved: said, and the job is done with.
                    if !missing.isEmpty { report.missing.append(contentsOf: missing) }
                    try store.cleaned(job.uuid, destination: destination, now: now())
                    if target.isEmpty { report.deleted += 1 } else { report.moved += 1 }
                    cleaned[job.origin, default: []].append(
                        JobdirTidy.Cleaned(
                            jsonPath: job.jsonPath, dumpPath: job.dumpPath, jsonSuffix: settings.jsonSuffix))
                }
                // Their links (a date index) and the folders left empty go, within each root.
                for (origin, jobs) in cleaned {
                    let root = origin == .storage ? settings.storageRoot : settings.deferredStorageRoot
                    guard !root.isEmpty else { continue }
                    let tidied = JobdirTidy.tidy(jobs, root: root, exclude: exclude)
                    report.linksRemoved += tidied.links
                    report.foldersRemoved += tidied.folders
                    report.tidyErrors += tidied.errors
                }
                try store.purgeHistory(before: now() - settings.historyRetention.asSeconds)
                return report
            }
            state.withLock { $0.lastCleanup = report }
            metrics.cleanupFailures.increment(by: report.failed.count)
            for failure in report.failed.prefix(10) {
                logger.warning("jobdir cleanup failed; retried next cleanup", metadata: ["error": "\(failure)"])
            }
            for error in report.tidyErrors.prefix(10) {
                logger.warning("jobdir cleanup could not tidy the storage", metadata: ["error": "\(error)"])
            }
            for path in report.missing.prefix(10) {
                logger.warning(
                    "jobdir cleanup: a finished job's file was removed by someone else", metadata: ["path": "\(path)"])
            }
            if report.moved + report.deleted + report.failed.count > 0 {
                logger.info(
                    "jobdir cleanup",
                    metadata: [
                        "moved": "\(report.moved)", "deleted": "\(report.deleted)", "failed": "\(report.failed.count)",
                        "links_removed": "\(report.linksRemoved)", "folders_removed": "\(report.foldersRemoved)",
                    ])
            }
            return report
        } catch {
            logger.error("jobdir cleanup failed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// `YYYYMMDD` of a time in a zone.
    static func day(_ epoch: Double, in zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: epoch))
        return String(format: "%04d%02d%02d", parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1)
    }
}
