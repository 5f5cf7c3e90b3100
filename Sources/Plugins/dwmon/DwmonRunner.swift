import CoreMetrics
import Foundation
import GatewayCore
import Logging
import Synchronization

/// Runs checkers: reads `*.dwmon` files, queries their sources, stores new keys, checks the due
/// minutes, and hands the results on (points, log, webhook). Time comes from the caller, so tests
/// drive it with a manual clock.
public final class DwmonRunner: Sendable {
    public let pluginName: String
    public let settings: DwmonSettings
    public let state: DwmonState
    public let schedule: DwmonSchedule
    let sources: [String: any DwmonSource]
    let emit: @Sendable ([Point]) async -> Int
    let webhook: DwmonWebhook?
    let logger: Logger
    let metrics: any MetricsFactory
    let errors: Counter
    private let checkers = Mutex<[String: Loaded]>([:])
    /// Texts of files that did not parse, by checker name (each reported once).
    private let rejected = Mutex<[String: String]>([:])
    private let running = Mutex<Set<String>>([])
    private let lastRuns = Mutex<[String: RunReport]>([:])

    struct Loaded {
        var file: DwmonFile
        var text: String
    }

    /// What one run of one checker did.
    public struct RunReport: Sendable {
        public var checker: String
        public var at: Int64
        public var querySeconds: Double = 0
        public var rows = 0
        public var badRows = 0
        public var newKeys = 0
        public var checks: [DwmonCheck] = []
        public var purgedKeys = 0
        public var error: String?
        /// False when `fetch: when_due` found no minute due, so the source was not queried (such a
        /// run is not kept as the checker's last run).
        public var queried = true
    }

    public enum RunError: Error, Sendable, CustomStringConvertible {
        case unknownChecker(String, known: [String])
        case busy(String)

        public var description: String {
            switch self {
            case .unknownChecker(let name, let known):
                return "no checker named \"\(name)\" (known: \(known.isEmpty ? "none" : known.joined(separator: ", ")))"
            case .busy(let name): return "checker \"\(name)\" is running right now; try again when it is done"
            }
        }
    }

    init(
        pluginName: String, settings: DwmonSettings, state: DwmonState, sources: [String: any DwmonSource],
        webhook: DwmonWebhook?, context: PluginContext
    ) {
        self.pluginName = pluginName
        self.settings = settings
        self.state = state
        self.schedule = DwmonSchedule(timeZone: settings.timeZone)
        self.sources = sources
        self.webhook = webhook
        self.emit = context.emit
        self.logger = context.logger
        self.metrics = context.metrics
        errors = Counter(
            label: "gateway_plugin_errors_total", dimensions: [("plugin", pluginName)], factory: context.metrics)
    }

    // MARK: Checker files

    /// Reads the checker directory: new and changed files are parsed (a file that no longer
    /// parses is reported once and its last good version kept), removed files are dropped.
    @discardableResult
    public func reload() -> [DwmonFile] {
        let directory = settings.checkersDir
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".dwmon") }
                .sorted()
        } catch {
            errors.increment()
            logger.error("cannot read the checkers directory", metadata: ["dir": "\(directory)", "error": "\(error)"])
            return checkers.withLock { $0.values.map(\.file).sorted { $0.name < $1.name } }
        }
        var found = Set<String>()
        for fileName in names {
            let name = String(fileName.dropLast(".dwmon".count))
            let path = "\(directory)/\(fileName)"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                errors.increment()
                logger.error("cannot read checker file", metadata: ["file": "\(path)"])
                continue
            }
            found.insert(name)
            let known = checkers.withLock { $0[name] }
            if known?.text == text || rejected.withLock({ $0[name] }) == text { continue }
            switch Self.load(text, path: path, name: name, sources: settings.sources) {
            case .success(let file):
                checkers.withLock { $0[name] = Loaded(file: file, text: text) }
                _ = rejected.withLock { $0.removeValue(forKey: name) }
                logger.info(
                    known == nil ? "checker loaded" : "checker reloaded",
                    metadata: [
                        "checker": "\(name)", "source": "\(file.source)", "requirements": "\(file.requirements.count)",
                    ])
                for warning in file.warnings {
                    logger.warning(
                        "checker file: a requirement line has a token given twice or an unknown word; the file runs",
                        metadata: [
                            "checker": "\(name)", "file": "\(warning.file)", "line": "\(warning.line)",
                            "warning": "\(warning.message)",
                        ])
                }
                warnAboutRetention(file)
            case .failure(let problems):
                errors.increment()
                rejected.withLock { $0[name] = text }
                logger.error(
                    known == nil
                        ? "checker file has errors; not run"
                        : "checker file has errors; its previous version keeps running",
                    metadata: ["checker": "\(name)", "problems": "\(problems.description)"])
            }
        }
        rejected.withLock { texts in texts = texts.filter { found.contains($0.key) } }
        checkers.withLock { loaded in
            for name in loaded.keys where !found.contains(name) {
                loaded[name] = nil
                logger.notice("checker file removed; checker stopped", metadata: ["checker": "\(name)"])
            }
        }
        return checkers.withLock { $0.values.map(\.file).sorted { $0.name < $1.name } }
    }

    /// Keys older than the retention are purged; a window reaching further back would count short.
    func warnAboutRetention(_ file: DwmonFile) {
        let retention = Units.nanoseconds(settings.retention(of: file.name)) / 1_000_000_000
        for requirement in file.requirements {
            let reach = Int64(requirement.horizonMinutes) * 60 + Int64(requirement.lookbackSeconds)
            if reach > retention {
                logger.warning(
                    "retention is shorter than this requirement reaches back (backfill horizon + look-back): its oldest windows would count short",
                    metadata: [
                        "checker": "\(file.name)", "requirement": "\(requirement.line)", "reach_seconds": "\(reach)",
                        "retention_seconds": "\(retention)",
                    ])
            }
        }
    }

    public var loadedCheckers: [DwmonFile] { checkers.withLock { $0.values.map(\.file).sorted { $0.name < $1.name } } }

    public var reports: [String: RunReport] { lastRuns.withLock { $0 } }

    // MARK: Runs

    /// Runs every checker (concurrently); a checker still busy from an earlier run is skipped.
    public func runAll(now: Int64) async -> [RunReport] {
        let files = reload()
        return await withTaskGroup(of: RunReport?.self) { group in
            for file in files {
                group.addTask { await self.runOrSkip(file, now: now) }
            }
            var reports: [RunReport] = []
            for await report in group { if let report { reports.append(report) } }
            return reports.sorted { $0.checker < $1.checker }
        }
    }

    /// Runs a checker unless its previous run is still going (then logs the skip, returns nil).
    @discardableResult
    func runOrSkip(_ file: DwmonFile, now: Int64) async -> RunReport? {
        do { return try await run(file, now: now) } catch {
            logger.warning(
                "checker run skipped: the previous one is still going", metadata: ["checker": "\(file.name)"])
            return nil
        }
    }

    /// Runs one checker by name (the run-now endpoint): its query runs whether or not a minute is due.
    public func run(checker name: String, now: Int64) async throws(RunError) -> RunReport {
        let files = reload()
        guard let file = files.first(where: { $0.name == name }) else {
            throw .unknownChecker(name, known: files.map(\.name))
        }
        return try await run(file, now: now, force: true)
    }

    func run(_ file: DwmonFile, now: Int64, force: Bool = false) async throws(RunError) -> RunReport {
        guard running.withLock({ $0.insert(file.name).inserted }) else { throw .busy(file.name) }
        defer { _ = running.withLock { $0.remove(file.name) } }
        var report = RunReport(checker: file.name, at: now)
        do {
            if !force, settings.fetch(of: file.name) == .whenDue, try await !anyMinuteDue(file, now: now) {
                report.queried = false
                return report
            }
            try await execute(file, now: now, report: &report)
        } catch is CancellationError {
            report.error = "stopped by shutdown"
            logger.info("checker run stopped by shutdown; its minutes stay due", metadata: ["checker": "\(file.name)"])
        } catch {
            report.error = "\(error)"
            errors.increment()
            counter("gateway_plugin_dwmon_query_errors_total", file.name).increment()
            logger.error(
                "checker run failed; its minutes stay due and are checked on a later run within the horizon",
                metadata: ["checker": "\(file.name)", "source": "\(file.source)", "error": "\(error)"])
        }
        lastRuns.withLock { $0[file.name] = report }
        return report
    }

    /// Whether a line of `file` has a minute to check at `now` (what `fetch: when_due` runs the query for).
    private func anyMinuteDue(_ file: DwmonFile, now: Int64) async throws -> Bool {
        let (state, schedule, name, requirements) = (self.state, self.schedule, file.name, file.requirements)
        return try await onThread {
            let last = try state.lastChecked(checker: name)
            return requirements.contains { !schedule.dueMinutes($0, now: now, lastChecked: last[$0.line]).isEmpty }
        }
    }

    private func counter(_ label: String, _ checker: String, _ extra: [(String, String)] = []) -> Counter {
        Counter(label: label, dimensions: [("plugin", pluginName), ("checker", checker)] + extra, factory: metrics)
    }

    private func execute(_ file: DwmonFile, now: Int64, report: inout RunReport) async throws {
        guard let sourceSettings = settings.sources[file.source], let source = sources[file.source] else {
            throw DwmonSourceError.failed("source \"\(file.source)\" is not defined")
        }
        let timeout = sourceSettings.timeout ?? settings.queryTimeout
        let started = ContinuousClock.now
        let fetch = try await source.fetch(query: file.query, timeout: timeout, maxRows: settings.maxRows)
        let elapsed = ContinuousClock.now - started
        report.querySeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        Recorder(
            label: "gateway_plugin_dwmon_query_seconds", dimensions: [("plugin", pluginName), ("checker", file.name)],
            aggregate: false, factory: metrics
        ).record(report.querySeconds)
        if elapsed >= settings.slowQuery {
            counter("gateway_plugin_dwmon_slow_queries_total", file.name).increment()
            logger.warning(
                "slow dwmon query",
                metadata: [
                    "checker": "\(file.name)", "source": "\(file.source)", "seconds": "\(report.querySeconds)",
                    "slow_query": "\(settings.slowQuery)", "rows": "\(fetch.rows.count)",
                ])
        }
        report.rows = fetch.rows.count
        report.badRows = fetch.badRows
        if fetch.badRows > 0 {
            counter("gateway_plugin_dwmon_bad_rows_total", file.name).increment(by: Int64(fetch.badRows))
            logger.warning(
                "query rows without a usable key or timestamp skipped",
                metadata: [
                    "checker": "\(file.name)", "rows": "\(fetch.badRows)", "first": "\(fetch.firstBadRow ?? "")",
                ])
        }
        let ahead = fetch.rows.lazy.filter { $0.timestamp > Double(now + 86_400) }.count
        if ahead > 0 {
            logger.warning(
                "rows with timestamps more than a day ahead (milliseconds instead of epoch seconds?)",
                metadata: ["checker": "\(file.name)", "rows": "\(ahead)"])
        }
        let retention = Units.nanoseconds(settings.retention(of: file.name)) / 1_000_000_000
        let cutoff = now - retention
        // Database work on a thread of its own: a big insert must not hold a concurrency thread.
        let (state, schedule, rows, name, requirements) = (
            self.state, self.schedule, fetch.rows, file.name, file.requirements
        )
        report.newKeys = try await onThread {
            try state.insert(rows, checker: name, notBefore: Double(cutoff), seenAt: now)
        }
        counter("gateway_plugin_dwmon_new_keys_total", file.name).increment(by: Int64(report.newKeys))
        report.checks = try await onThread {
            try state.check(checker: name, requirements: requirements, checkedAt: now) { requirement, last in
                schedule.dueMinutes(requirement, now: now, lastChecked: last)
            }
        }
        // The checks are stored and their minutes done: hand them on before anything else can fail.
        await handle(report.checks, file: file)
        do {
            report.purgedKeys = try await onThread { try state.purge(checker: name, before: cutoff).keys }
        } catch {
            errors.increment()
            logger.error(
                "dwmon retention purge failed; tried again next run",
                metadata: ["checker": "\(name)", "error": "\(error)"])
        }
    }

    /// Purges what checkers whose files are gone left in the state, with the plugin-wide retention.
    public func purgeRemoved(now: Int64) {
        let loaded = Set(loadedCheckers.map(\.name))
        let cutoff = now - Units.nanoseconds(settings.retention) / 1_000_000_000
        do {
            for checker in try state.checkers() where !loaded.contains(checker) {
                try state.purgeRemoved(checker: checker, before: cutoff)
            }
        } catch {
            errors.increment()
            logger.error("dwmon retention purge failed; tried again next run", metadata: ["error": "\(error)"])
        }
    }

    /// The latest check per line of the checkers and lines loaded now (not of removed files or
    /// moved lines).
    public func latest(checker: String?) throws -> [DwmonCheck] {
        let current = Dictionary(
            uniqueKeysWithValues: loadedCheckers.map { ($0.name, Set($0.requirements.map(\.line))) })
        return try state.latest(checker: checker).filter { current[$0.checker]?.contains($0.line) == true }
    }

    /// Points for every check; BAD ones logged and sent to the webhook.
    private func handle(_ checks: [DwmonCheck], file: DwmonFile) async {
        guard !checks.isEmpty else { return }
        var good = 0
        for check in checks where check.status == .good { good += 1 }
        if good > 0 {
            counter("gateway_plugin_dwmon_checks_total", file.name, [("status", "GOOD")]).increment(by: Int64(good))
        }
        if checks.count > good {
            counter("gateway_plugin_dwmon_checks_total", file.name, [("status", "BAD")]).increment(
                by: Int64(checks.count - good))
        }
        let texts = Dictionary(file.requirements.map { ($0.line, $0.text) }, uniquingKeysWith: { a, _ in a })
        for check in checks where check.status == .bad {
            let minute = Date(timeIntervalSince1970: TimeInterval(check.minute))
            logger.warning(
                "dwmon check BAD",
                metadata: [
                    "checker": "\(check.checker)", "requirement": "\(check.line)", "minute": "\(minute)",
                    "event_count": "\(check.count)", "min_required": "\(check.minCount)",
                    "max_allowed": "\(check.maxCount)",
                    "lookback_seconds": "\(check.lookbackSeconds)",
                ])
            webhook?.enqueue(
                DwmonWebhook.body(check, file: file, requirementText: texts[check.line] ?? "", zone: settings.timeZone),
                what: "\(check.checker) line \(check.line) minute \(check.minute)")
        }
        _ = await emit(checks.map(Self.point))
    }

    /// A check as a `dwmon_check` point at its minute.
    public static func point(_ check: DwmonCheck) -> Point {
        Point(
            series: "dwmon_check", time: check.minute * 1_000_000_000,
            tags: [
                Tag("checker", check.checker), Tag("requirement", String(check.line)),
                Tag("status", check.status.rawValue),
            ],
            fields: [
                Field("event_count", .int(Int64(check.count))),
                Field("lookback_seconds", .int(Int64(check.lookbackSeconds))),
                Field("max_allowed", .int(Int64(check.maxCount))), Field("min_required", .int(Int64(check.minCount))),
                Field("minute_epoch", .int(check.minute)),
            ])
    }
}
