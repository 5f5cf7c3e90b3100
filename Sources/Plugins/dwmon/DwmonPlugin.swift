import CoreMetrics
import Foundation
import GatewayCore
import Logging

/// The `dwmon` plugin: runs the `*.dwmon` checkers of its directory every minute (aligned to the
/// minute, and once at start, which backfills), turns every check into a `dwmon_check` point,
/// logs BAD checks and sends them to a webhook, and answers `/api/v1/<name>/...`.
public final class DwmonPlugin: GatewayPlugin {
    public let name: String
    public let type = "dwmon"
    public let settings: DwmonSettings
    public let runner: DwmonRunner
    let sources: DwmonSources
    let webhook: DwmonWebhook?
    let context: PluginContext

    /// Opens (creating) the state file; fails when it cannot.
    public init(name: String, settings: DwmonSettings, context: PluginContext) throws {
        self.name = name
        self.settings = settings
        self.context = context
        let state = try DwmonState(path: settings.statePath)
        let sources = DwmonSources(logger: context.logger)
        self.sources = sources
        let webhook = settings.webhook.map {
            DwmonWebhook(
                settings: $0, client: sources.http, plugin: name, logger: context.logger, metrics: context.metrics,
                clock: context.clock)
        }
        self.webhook = webhook
        var made: [String: any DwmonSource] = [:]
        for (sourceName, source) in settings.sources { made[sourceName] = sources.make(source) }
        runner = DwmonRunner(
            pluginName: name, settings: settings, state: state, sources: made, webhook: webhook, context: context)
    }

    /// Epoch seconds of the context's calendar time (tests give a fake one).
    static func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) }

    public func run() async throws {
        let logger = context.logger
        let files = runner.reload()
        logger.info(
            "dwmon started",
            metadata: [
                "checkers": "\(files.map(\.name).joined(separator: ","))", "dir": "\(settings.checkersDir)",
                "timezone": "\(settings.timeZone.identifier)", "state": "\(settings.statePath)",
            ])
        let runner = self.runner
        let (clock, wallClock, webhook) = (context.clock, context.now, self.webhook)
        let delaySeconds = Int64(settings.checkDelay.components.seconds)
        // Every task is a child of this one: webhook delivery, and each checker in a task of its
        // own (a slow or stuck source delays no other checker; one still running when its next
        // minute comes is skipped for that minute, logged). Shutdown cancels them all: alerts not
        // delivered by then are counted as dropped and logged (their checks are in the state file
        // and were emitted as points).
        await withDiscardingTaskGroup { group in
            if let webhook { group.addTask { await webhook.run() } }
            while !Task.isCancelled {
                // Minutes are due `check_delay` after they end: the runner sees the time that far back.
                let now = Self.seconds(wallClock()) - delaySeconds
                for file in runner.reload() {
                    group.addTask { await runner.runOrSkip(file, now: now) }
                }
                runner.purgeRemoved(now: now)
                // Sleep to `check_delay` past the next minute start (1 ms more, so the minute has begun).
                let wall = wallClock().timeIntervalSince1970 - Double(delaySeconds)
                let next = (wall / 60).rounded(.down) * 60 + 60
                let wait = Duration.milliseconds(Int64((next - wall) * 1000) + 1)
                do { try await clock.sleep(for: wait, tolerance: nil) } catch { break }
            }
            webhook?.finish()
        }
        runner.state.close()
        logger.info("dwmon stopped")
    }

    public var routes: [PluginRoute] {
        let base = "/api/v1/\(name)"
        let runner = self.runner
        let wallClock = context.now
        let delaySeconds = Int64(settings.checkDelay.components.seconds)
        return [
            PluginRoute(.get, "\(base)/checks") { request in
                do {
                    // SQLite reads on the plugins' pool, not on a concurrency thread.
                    let checker = request.query["checker"].flatMap { $0.isEmpty ? nil : $0 }
                    let checks = try await onThread { try runner.latest(checker: checker) }
                    return .json(
                        200,
                        DwmonChecksAnswer(checks: checks.map { DwmonCheckAnswer($0, zone: self.settings.timeZone) }))
                } catch {
                    return .error(500, code: "internal error", message: "reading the dwmon state: \(error)")
                }
            },
            PluginRoute(.get, "\(base)/checkers") { _ in
                let reports = runner.reports
                let checkers = runner.loadedCheckers.map { file in
                    DwmonCheckersAnswer.Checker(
                        name: file.name, source: file.source,
                        requirements: file.requirements.map { .init(line: $0.line, text: $0.text) },
                        lastRun: reports[file.name].map { DwmonRunAnswer($0, zone: self.settings.timeZone) })
                }
                return .json(200, DwmonCheckersAnswer(checkers: checkers))
            },
            PluginRoute(.get, "\(base)/checkers/:checker/checks") { request in
                let checker = request.parameters["checker"] ?? ""
                var limit = 100
                if let text = request.query["limit"] {
                    guard let value = Int(text), (1...10_000).contains(value) else {
                        return .error(400, code: "invalid", message: "invalid limit \"\(text)\": expected 1 to 10000")
                    }
                    limit = value
                }
                guard runner.loadedCheckers.contains(where: { $0.name == checker }) else {
                    return .error(404, code: "not found", message: "no checker named \"\(checker)\"")
                }
                do {
                    let rows = limit
                    let history = try await onThread { try runner.state.history(checker: checker, limit: rows) }
                    return .json(
                        200,
                        DwmonChecksAnswer(checks: history.map { DwmonCheckAnswer($0, zone: self.settings.timeZone) }))
                } catch {
                    return .error(500, code: "internal error", message: "reading the dwmon state: \(error)")
                }
            },
            PluginRoute(.post, "\(base)/checkers/:checker/run", isWrite: true) { request in
                let checker = request.parameters["checker"] ?? ""
                do throws(DwmonRunner.RunError) {
                    let report = try await runner.run(
                        checker: checker, now: Self.seconds(wallClock()) - delaySeconds)
                    if let error = report.error {
                        return .error(502, code: "source failed", message: "checker \(checker): \(error)")
                    }
                    return .json(200, DwmonRunAnswer(report, zone: self.settings.timeZone))
                } catch {
                    switch error {
                    case .unknownChecker: return .error(404, code: "not found", message: error.description)
                    case .busy: return .error(409, code: "conflict", message: error.description)
                    }
                }
            },
        ]
    }

    public func status() -> any PluginStatus {
        let reports = runner.reports
        return DwmonStatus(
            type: type, checkersDir: settings.checkersDir, timezone: self.settings.timeZone.identifier,
            state: settings.statePath, checkers: runner.loadedCheckers.map(\.name),
            lastRuns: reports.mapValues { report in
                DwmonStatus.RunSummary(
                    at: report.at, querySeconds: report.querySeconds, rows: report.rows, newKeys: report.newKeys,
                    checks: report.checks.count, bad: report.checks.filter { $0.status == .bad }.count,
                    error: report.error)
            },
            webhookBacklog: webhook?.backlog)
    }
}
