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
    func begin(_ flag: WritableKeyPath<Mutable, Bool>) -> Bool {
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
        scanner = JobdirScanner(
            jsonSuffix: settings.jsonSuffix, dumpSuffix: settings.dumpSuffix, exclude: Set(exclude),
            idRule: settings.idRule)
        metrics = Metrics(plugin: name, factory: context.metrics)
    }

    /// Calendar time in epoch seconds, from the context (tests give a fake one).
    func now() -> Double { context.now().timeIntervalSince1970 }

    public func run() async throws {
        let logger = context.logger
        logger.info(
            "jobdir started",
            metadata: [
                "storage_root": "\(settings.storageRoot)", "deferred_storage_root": "\(settings.deferredStorageRoot)",
                "state": "\(settings.statePath)",
            ])
        // Processors could not check in while the gateway was down: each gets a full check-in window.
        do { try store.resume(now: now()) } catch {
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

    /// Runs `body` now and then every `interval` on the context's clock, until cancelled.
    func every(_ interval: Duration, _ body: @Sendable () async -> Void) async {
        let clock = context.clock
        while !Task.isCancelled {
            await body()
            do { try await clock.sleep(for: interval, tolerance: nil) } catch { return }
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
        /// Date-index links of the jobs queued (and folders left empty), removed.
        public var linksRemoved = 0
        public var foldersRemoved = 0
    }

    /// One scan of the storage root: new pairs are queued (oldest file first) and assigned. Nil
    /// when a scan is already running.
    public func scan() async -> ScanReport? {
        guard begin(\.scanning) else { return nil }
        defer { state.withLock { $0.scanning = false } }
        let logger = context.logger
        let started = ContinuousClock.now  // how long the walk took, for the report (not a decision)
        let root = settings.storageRoot
        let scanner = self.scanner
        let store = self.store
        do {
            let now = self.now()
            let jsonSuffix = settings.jsonSuffix
            let (found, report, tidied) = try await onThread {
                let (found, report) = try Self.scanAndQueue(scanner: scanner, root: root, store: store, now: now)
                // Taken: their date-index links go now, as Socorro's monitor removed them.
                let queued = Set(report.queued.map(\.uuid))
                let taken = found.pairs.filter { queued.contains($0.uuid) }.map {
                    JobdirTidy.Cleaned(jsonPath: $0.jsonPath, dumpPath: $0.dumpPath, jsonSuffix: jsonSuffix)
                }
                return (found, report, JobdirTidy.unlinkIndex(taken, root: root, exclude: scanner.exclude))
            }
            let elapsed = (ContinuousClock.now - started).asSeconds
            let unassigned = report.queued.filter { $0.processor == nil }.count
            let out = ScanReport(
                at: self.now(), seconds: elapsed, files: found.files, directories: found.directories,
                pairs: found.pairs.count, queued: report.queued.count, unassigned: unassigned,
                incomplete: found.incomplete.count, ignored: found.ignored, errors: found.errors,
                linksRemoved: tidied.links, foldersRemoved: tidied.folders)
            state.withLock { $0.lastScan = out }
            metrics.scans.increment()
            metrics.queued.increment(by: report.queued.count)
            metrics.scanSeconds.record(elapsed)
            for error in found.errors.prefix(10) {
                logger.warning("jobdir cannot read a directory", metadata: ["error": "\(error)"])
            }
            for error in tidied.errors.prefix(10) {
                logger.warning("jobdir scan could not remove a taken job's index link", metadata: ["error": "\(error)"])
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
        scanner: JobdirScanner, root: String, store: JobStore, now: Double = Date().timeIntervalSince1970
    ) throws -> (JobdirScanner.Scan, JobStore.InsertReport) {
        let found = scanner.scan(root)
        let fresh = try store.unknown(found.pairs).map { pair -> (FoundPair, Double) in
            var info = stat()
            let time =
                stat(pair.jsonPath, &info) == 0 ? Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9 : 0
            return (pair, time)
        }.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0.jsonPath < $1.0.jsonPath }.map(\.0)
        return (found, try store.insert(fresh, now: now))
    }

    // MARK: Recording for points

    func recordClaim(_ job: JobdirJob) {
        guard let claimed = job.claimedAt else { return }
        state.withLock { $0.waits.add(max(0, claimed - job.queuedAt)) }
    }

    func recordFinish(_ job: JobdirJob) {
        (job.success == true ? metrics.succeeded : metrics.failed).increment()
        guard let claimed = job.claimedAt, let finished = job.finishedAt else { return }
        state.withLock { $0.processing.add(max(0, finished - claimed)) }
    }

    func recordPriority() { metrics.priority.increment() }
}
