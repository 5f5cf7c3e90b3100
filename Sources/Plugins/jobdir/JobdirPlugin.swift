import CoreMetrics
import Foundation
import GatewayCore
import Logging
import Synchronization

/// The `jobdir` plugin: finds new `<uuid>.json` + `<uuid>.dump` pairs under its storage root,
/// queues each as a job for a registered processor, serves priority requests and the processors'
/// API, moves or deletes the pairs of finished jobs, and emits `jobdir_jobs` points.
///
/// Three loops: scan (`scan_interval`), cleanup (`cleanup_interval`), and maintenance
/// (`priority_interval`: dead processors, waiting jobs, rebalancing, points). Scans and cleanups run
/// once at start, and one at a time (a manual one while another runs is answered 409).
public final class JobdirPlugin: GatewayPlugin {
    public let name: String
    public let type = "jobdir"
    public let settings: JobdirSettings
    public let store: JobStore
    let scanner: JobdirScanner
    let context: PluginContext
    let state = Mutex(Mutable())
    let metrics: Metrics

    struct Mutable {
        var scanning = false
        var cleaning = false
        var lastScan: ScanReport?
        var lastCleanup: CleanupReport?
        /// Seconds between queueing and claiming, and between claiming and done, since the last point.
        var waits = Stat()
        var processing = Stat()
        var noProcessorLogged = false
        /// Priority requests walking the roots now.
        var lookups = 0
    }

    static let maxLookups = 2

    /// Sets a busy flag; false when it was already set (the work is running).
    private func begin(_ flag: WritableKeyPath<Mutable, Bool>) -> Bool {
        state.withLock { s in
            if s[keyPath: flag] { return false }
            s[keyPath: flag] = true
            return true
        }
    }

    func beginLookup() -> Bool {
        state.withLock { s in
            guard s.lookups < Self.maxLookups else { return false }
            s.lookups += 1
            return true
        }
    }

    func endLookup() { state.withLock { $0.lookups -= 1 } }

    func metricsRequeued(_ count: Int) { metrics.requeued.increment(by: count) }

    /// Count, sum and maximum of durations (seconds).
    struct Stat {
        var count = 0
        var sum = 0.0
        var max = 0.0

        mutating func add(_ value: Double) {
            count += 1
            sum += value
            max = Swift.max(max, value)
        }
    }

    struct Metrics {
        let scans, queued, succeeded, failed, requeued, cleanupFailures, scanErrors, priority: Counter
        let scanSeconds: Recorder

        init(plugin: String, factory: any MetricsFactory) {
            func counter(_ label: String, _ extra: [(String, String)] = []) -> Counter {
                Counter(label: label, dimensions: [("plugin", plugin)] + extra, factory: factory)
            }
            scans = counter("gateway_plugin_jobdir_scans_total")
            queued = counter("gateway_plugin_jobdir_jobs_queued_total")
            succeeded = counter("gateway_plugin_jobdir_jobs_finished_total", [("outcome", "succeeded")])
            failed = counter("gateway_plugin_jobdir_jobs_finished_total", [("outcome", "failed")])
            requeued = counter("gateway_plugin_jobdir_jobs_requeued_total")
            cleanupFailures = counter("gateway_plugin_jobdir_cleanup_failures_total")
            scanErrors = counter("gateway_plugin_jobdir_scan_errors_total")
            priority = counter("gateway_plugin_jobdir_priority_requests_total")
            scanSeconds = Recorder(
                label: "gateway_plugin_jobdir_scan_seconds", dimensions: [("plugin", plugin)], aggregate: false,
                factory: factory)
        }
    }

    /// Opens (creating) the state file; fails when it cannot.
    public init(name: String, settings: JobdirSettings, context: PluginContext) throws {
        self.name = name
        self.settings = settings
        self.context = context
        store = try JobStore(path: settings.statePath)
        let root = JobdirScanner.standardize(settings.storageRoot)
        // The success and failed folders are not walked when they are under the root.
        let exclude = [settings.successDir, settings.failedDir].filter { !$0.isEmpty }.map(JobdirScanner.standardize)
            .filter { $0.hasPrefix(root + "/") }
        scanner = JobdirScanner(jsonSuffix: settings.jsonSuffix, dumpSuffix: settings.dumpSuffix, exclude: Set(exclude))
        metrics = Metrics(plugin: name, factory: context.metrics)
    }

    static func now() -> Double { Date().timeIntervalSince1970 }

    public func run() async throws {
        let logger = context.logger
        logger.info(
            "jobdir started",
            metadata: [
                "storage_root": "\(settings.storageRoot)", "deferred_storage_root": "\(settings.deferredStorageRoot)",
                "state": "\(settings.statePath)",
            ])
        // Processors could not check in while the gateway was down: each gets a full check-in window.
        do { try store.resume(now: Self.now()) } catch {
            logger.error("jobdir cannot read its state", metadata: ["error": "\(error)"])
        }
        await withDiscardingTaskGroup { group in
            group.addTask { await self.every(self.settings.scanInterval) { _ = await self.scan() } }
            group.addTask { await self.every(self.settings.cleanupInterval) { _ = await self.cleanup() } }
            group.addTask { await self.every(self.settings.priorityInterval) { await self.maintain() } }
        }
        // The loops stop between steps: every step is one transaction, so nothing is half done.
        store.close()
        logger.info("jobdir stopped")
    }

    private func every(_ interval: Duration, _ body: @Sendable () async -> Void) async {
        while !Task.isCancelled {
            await body()
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }

    // MARK: Scan

    public struct ScanReport: Sendable {
        public var at: Double
        public var seconds: Double
        public var files: Int
        public var directories: Int
        public var pairs: Int
        public var queued: Int
        public var unassigned: Int
        public var incomplete: Int
        public var ignored: Int
        public var errors: [String]
    }

    /// One scan of the storage root: new pairs are queued (oldest file first) and assigned. Nil
    /// when a scan is already running.
    public func scan() async -> ScanReport? {
        guard begin(\.scanning) else { return nil }
        defer { state.withLock { $0.scanning = false } }
        let logger = context.logger
        let started = ContinuousClock.now
        let root = settings.storageRoot
        let scanner = self.scanner
        let store = self.store
        do {
            let (found, report) = try await onThread { try Self.scanAndQueue(scanner: scanner, root: root, store: store) }
            let elapsed = (ContinuousClock.now - started).asSeconds
            let unassigned = report.queued.filter { $0.processor == nil }.count
            let out = ScanReport(
                at: Self.now(), seconds: elapsed, files: found.files, directories: found.directories,
                pairs: found.pairs.count, queued: report.queued.count, unassigned: unassigned,
                incomplete: found.incomplete.count, ignored: found.ignored, errors: found.errors)
            state.withLock { $0.lastScan = out }
            metrics.scans.increment()
            metrics.queued.increment(by: report.queued.count)
            metrics.scanSeconds.record(elapsed)
            for error in found.errors.prefix(10) {
                logger.warning("jobdir cannot read a directory", metadata: ["error": "\(error)"])
            }
            metrics.scanErrors.increment(by: found.errors.count)
            for duplicate in found.duplicates.prefix(10) {
                logger.warning(
                    "jobdir found a uuid's pair in a second directory; the first one is the job's",
                    metadata: ["pair": "\(duplicate)"])
            }
            logger.info(
                "jobdir scan",
                metadata: [
                    "files": "\(found.files)", "pairs": "\(found.pairs.count)", "queued": "\(report.queued.count)",
                    "incomplete": "\(found.incomplete.count)", "seconds": "\(String(format: "%.3f", elapsed))",
                ])
            if unassigned > 0 {
                logger.warning(
                    "jobdir has no live processor: new jobs wait unassigned", metadata: ["waiting": "\(unassigned)"])
            }
            return out
        } catch {
            metrics.scanErrors.increment()
            logger.error("jobdir scan failed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The work of a scan, synchronous (a thread of its own, or the benchmark): walk, keep the
    /// unknown pairs, order them oldest json file first, queue them.
    public static func scanAndQueue(
        scanner: JobdirScanner, root: String, store: JobStore
    ) throws -> (JobdirScanner.Scan, JobStore.InsertReport) {
        let found = scanner.scan(root)
        let fresh = try store.unknown(found.pairs).map { pair -> (FoundPair, Double) in
            var info = stat()
            let time = stat(pair.jsonPath, &info) == 0 ? Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9 : 0
            return (pair, time)
        }.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0.jsonPath < $1.0.jsonPath }.map(\.0)
        return (found, try store.insert(fresh, now: now()))
    }

    // MARK: Cleanup

    public struct CleanupReport: Sendable {
        public var at: Double
        public var moved: Int
        public var deleted: Int
        public var failed: [String]
        /// Files of finished jobs that were neither in place nor at the destination.
        public var missing: [String] = []
    }

    /// Moves (or deletes) the files of every finished job, then drops its row into the history.
    /// A job whose files could not be moved stays, with the reason, for the next cleanup.
    public func cleanup() async -> CleanupReport? {
        guard begin(\.cleaning) else { return nil }
        defer { state.withLock { $0.cleaning = false } }
        let logger = context.logger
        let settings = self.settings
        let store = self.store
        do {
            let report = try await onThread { () throws -> CleanupReport in
                var report = CleanupReport(at: Self.now(), moved: 0, deleted: 0, failed: [])
                for job in try store.finished(limit: 100_000) {
                    let target = job.state == .succeeded ? settings.successDir : settings.failedDir
                    var destination = ""
                    var missing: [String] = []
                    do throws(JobFiles.Failure) {
                        if target.isEmpty {
                            try JobFiles.remove(job.jsonPath)
                            try JobFiles.remove(job.dumpPath)
                        } else {
                            destination = "\(target)/\(Self.day(job.finishedAt ?? Self.now(), in: settings.timeZone))"
                            for path in [job.jsonPath, job.dumpPath] where try JobFiles.move(path, into: destination) == .missing {
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
                    try store.cleaned(job.uuid, destination: destination, now: Self.now())
                    if target.isEmpty { report.deleted += 1 } else { report.moved += 1 }
                }
                try store.purgeHistory(before: Self.now() - settings.historyRetention.asSeconds)
                return report
            }
            state.withLock { $0.lastCleanup = report }
            metrics.cleanupFailures.increment(by: report.failed.count)
            for failure in report.failed.prefix(10) {
                logger.warning("jobdir cleanup failed; retried next cleanup", metadata: ["error": "\(failure)"])
            }
            for path in report.missing.prefix(10) {
                logger.warning("jobdir cleanup: a finished job's file was removed by someone else", metadata: ["path": "\(path)"])
            }
            if report.moved + report.deleted + report.failed.count > 0 {
                logger.info(
                    "jobdir cleanup",
                    metadata: ["moved": "\(report.moved)", "deleted": "\(report.deleted)", "failed": "\(report.failed.count)"])
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

    // MARK: Maintenance

    /// Dead processors lose their unfinished jobs to live ones; waiting jobs are assigned; the
    /// queue is emitted as `jobdir_jobs` points.
    public func maintain() async {
        let logger = context.logger
        let now = Self.now()
        do {
            let store = self.store
            let deadAfter = settings.deadAfter.asSeconds
            let jobTimeout = settings.jobTimeout?.asSeconds
            let expiry = try await onThread { try store.expire(now: now, deadAfter: deadAfter, jobTimeout: jobTimeout) }
            for dead in expiry.dead {
                logger.warning(
                    "jobdir processor is dead (no check-in for twice processor_check_in): its jobs are requeued",
                    metadata: ["processor": "\(dead)", "dead_after": "\(settings.deadAfter)"])
            }
            metrics.requeued.increment(by: expiry.requeued + expiry.timedOut)
            if expiry.timedOut > 0 {
                logger.warning(
                    "jobdir requeued jobs running longer than job_timeout",
                    metadata: ["jobs": "\(expiry.timedOut)", "job_timeout": "\(settings.jobTimeout.map { "\($0)" } ?? "-")"])
            }
            if expiry.requeued + expiry.assigned + expiry.rebalanced > 0 {
                logger.info(
                    "jobdir reassigned jobs",
                    metadata: [
                        "requeued": "\(expiry.requeued)", "assigned": "\(expiry.assigned)", "rebalanced": "\(expiry.rebalanced)",
                    ])
            }
            let (points, waiting) = try await onThread {
                let depths = try store.depths()
                return (try self.points(now: now, depths: depths), Self.waiting(depths))
            }
            let logNoProcessor = state.withLock { s in
                defer { s.noProcessorLogged = waiting > 0 }
                return waiting > 0 && !s.noProcessorLogged
            }
            if logNoProcessor {
                logger.warning("jobdir has no live processor: jobs wait unassigned until one checks in")
            }
            _ = await context.emit(points)
        } catch {
            logger.error("jobdir maintenance failed", metadata: ["error": "\(error)"])
        }
    }
}
