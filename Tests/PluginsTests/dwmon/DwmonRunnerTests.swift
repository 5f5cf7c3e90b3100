import CoreMetrics
import Foundation
import GRDB
import GatewayCore
import Synchronization
import TestDoubles
import Testing

@testable import Plugins

/// A checker directory, a warehouse SQLite database (table `events(id, ts)`) as the checkers'
/// source, and a dwmon plugin on them, in UTC. Tests drive time by passing `now` (a manual clock).
final class DwmonFixture {
    let dir: String
    let warehousePath: String
    let warehouse: DatabaseQueue
    let emitted = EmittedPoints()
    var settings: DwmonSettings

    static let query = "SELECT id AS dwmon_unique_key, ts AS dwmon_timestamp FROM events ORDER BY ts DESC LIMIT 10000"

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("dwmon-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(dir)/checkers", withIntermediateDirectories: true)
        warehousePath = "\(dir)/warehouse.db"
        warehouse = try DatabaseQueue(path: warehousePath)
        try warehouse.write { db in try db.execute(sql: "CREATE TABLE events (id TEXT PRIMARY KEY, ts REAL NOT NULL)") }
        settings = DwmonSettings(checkersDir: "\(dir)/checkers", statePath: "\(dir)/state/dwmon.db")
        settings.timeZone = TimeZone(identifier: "UTC")!
        settings.sources = ["warehouse": .init(kind: .sqlite(path: warehousePath))]
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// Inserts or moves events.
    func events(_ rows: [(String, Int64)]) throws {
        try warehouse.write { db in
            for (id, ts) in rows {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO events (id, ts) VALUES (?, ?)", arguments: [id, Double(ts)])
            }
        }
    }

    /// Runs SQL on the warehouse (synchronously: from async code GRDB would pick its async API).
    func sql(_ text: String) throws { try warehouse.write { try $0.execute(sql: text) } }

    /// Writes `<name>.dwmon`; the first requirement is on line 4.
    func checker(
        _ name: String, _ requirements: [String], source: String = "warehouse", query: String = DwmonFixture.query,
        extra: String = ""
    )
        throws
    {
        let text =
            "__QUERY__\n\(query)\n__REQUIREMENTS__\n\(requirements.joined(separator: "\n"))\n__SOURCE__\n\(source)\n__EXTRA__\n\(extra)\n"
        try text.write(toFile: "\(dir)/checkers/\(name).dwmon", atomically: true, encoding: .utf8)
    }

    func plugin() throws -> DwmonPlugin { try DwmonPlugin(name: "dwmon", settings: settings, context: emitted.context) }
}

/// Every minute, all hours, every day; MINNUM/MAXNUM/LOOKBACK as given.
func everyMinute(min: Int, max: Int, lookback: Int) -> String {
    "CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS WEEKENDS MINNUM\(min) MAXNUM\(max) LOOKBACKSECONDS\(lookback)"
}

@Suite struct DwmonRunnerTests {
    /// Wednesday 2026-11-18 12:00:00 UTC, a minute start.
    let t: Int64 = 1_795_003_200

    @Test func lookback180_atT30s_keysAtTminus181_Tminus180_T_Tplus1_count2_GOODwithMin2Max2_BADwithMin3() async throws
    {
        let f = try DwmonFixture()
        try f.events([("a", t - 181), ("b", t - 180), ("c", t), ("d", t + 1)])
        try f.checker(
            "exec", [everyMinute(min: 2, max: 2, lookback: 180), everyMinute(min: 3, max: 20, lookback: 180)])
        let plugin = try f.plugin()
        let reports = await plugin.runner.runAll(now: t + 30)
        let report = try #require(reports.first)
        #expect(report.error == nil)
        #expect(report.newKeys == 4)
        let atT = report.checks.filter { $0.minute == t }
        #expect(atT.map(\.line) == [4, 5])
        #expect(atT.map(\.count) == [2, 2])
        #expect(atT.map(\.status) == [.good, .bad])

        // Every check is a point at its minute; the BAD one carries what was required.
        let bad = try #require(
            f.emitted.all.first { $0.time == t * 1_000_000_000 && $0.tags.contains(Tag("requirement", "5")) })
        #expect(bad.series == "dwmon_check")
        #expect(bad.tags == [Tag("checker", "exec"), Tag("requirement", "5"), Tag("status", "BAD")])
        #expect(bad.fields.contains(Field("event_count", .int(2))))
        #expect(bad.fields.contains(Field("min_required", .int(3))))
        #expect(bad.fields.contains(Field("max_allowed", .int(20))))
        #expect(bad.fields.contains(Field("lookback_seconds", .int(180))))
        #expect(bad.fields.contains(Field("minute_epoch", .int(t))))
        #expect(f.emitted.all.count == report.checks.count)
    }

    @Test func aNewChecker_backfillsItsHorizon_aSecondRunInTheSameMinuteChecksNothing_theNextMinuteExactlyOne()
        async throws
    {
        let f = try DwmonFixture()
        try f.checker("exec", [everyMinute(min: 0, max: 9, lookback: 180)])
        let plugin = try f.plugin()
        let first = await plugin.runner.runAll(now: t + 5)[0].checks
        #expect(first.count == 30)
        #expect(first.first?.minute == t - 29 * 60 && first.last?.minute == t)
        #expect(await plugin.runner.runAll(now: t + 50)[0].checks.isEmpty)
        #expect(await plugin.runner.runAll(now: t + 65)[0].checks.map(\.minute) == [t + 60])
    }

    @Test func downFor7Minutes_checksThose7_downFor100_onlyTheNewest30() async throws {
        let f = try DwmonFixture()
        try f.checker("exec", [everyMinute(min: 0, max: 9, lookback: 180)])
        let plugin = try f.plugin()
        _ = await plugin.runner.runAll(now: t + 5)
        let afterSeven = await plugin.runner.runAll(now: t + 7 * 60 + 5)[0].checks.map(\.minute)
        #expect(afterSeven == (1...7).map { t + Int64($0) * 60 })
        let resumed = t + 7 * 60 + 100 * 60
        let afterHundred = await plugin.runner.runAll(now: resumed + 5)[0].checks.map(\.minute)
        #expect(afterHundred == (0..<30).reversed().map { resumed - Int64($0) * 60 })
    }

    @Test func aKeySeenTwice_keepsItsFirstTimestamp() async throws {
        let f = try DwmonFixture()
        try f.events([("k", t - 100)])
        try f.checker("exec", [everyMinute(min: 1, max: 1, lookback: 60)])
        let plugin = try f.plugin()
        _ = await plugin.runner.runAll(now: t + 5)
        try f.events([("k", t + 50)])  // the same key, now with a later time
        let report = await plugin.runner.runAll(now: t + 65)[0]
        #expect(report.newKeys == 0)
        #expect(try plugin.runner.state.timestamp(of: "k", checker: "exec") == Double(t - 100))
        // Counted at its first time (outside [t, t+60]), not its second.
        #expect(report.checks.map(\.count) == [0])
        // Keys compare as strings: "01" and "1" are two keys.
        try f.events([("01", t + 70), ("1", t + 70)])
        #expect(await plugin.runner.runAll(now: t + 125)[0].newKeys == 2)
    }

    @Test func lengtheningTheLookback_doesNotRecheckOldMinutes() async throws {
        let f = try DwmonFixture()
        try f.checker("exec", [everyMinute(min: 5, max: 9, lookback: 60)])
        let plugin = try f.plugin()
        #expect(await plugin.runner.runAll(now: t + 5)[0].checks.count == 10)
        try f.checker("exec", [everyMinute(min: 5, max: 9, lookback: 600)])  // horizon 100 minutes now
        #expect(await plugin.runner.runAll(now: t + 30)[0].checks.isEmpty)
        let next = await plugin.runner.runAll(now: t + 65)[0].checks
        #expect(next.map(\.minute) == [t + 60])
        #expect(next.map(\.lookbackSeconds) == [600])
    }

    @Test func hoursMinutesAndDayKind_pickWhichMinutesAreChecked() async throws {
        let f = try DwmonFixture()
        // Wednesday: WEEKENDS alone checks nothing; */20 over 12:00-12:59 checks :00 only by 12:05.
        try f.checker("weekend", ["CHECKHOURS0-23 CHECKMINUTES0-59 WEEKENDS MINNUM0 MAXNUM9 LOOKBACKSECONDS60"])
        try f.checker("every20", ["CHECKHOURS11-12 CHECKMINUTES*/20 WEEKDAYS MINNUM0 MAXNUM9 LOOKBACKSECONDS60"])
        let plugin = try f.plugin()
        let reports = await plugin.runner.runAll(now: t + 5 * 60 + 1)
        #expect(reports.map(\.checker) == ["every20", "weekend"])
        #expect(reports[0].checks.map(\.minute) == [t])  // horizon 10 minutes: 11:56..12:05
        #expect(reports[1].checks.isEmpty)
    }

    @Test func retention_purgesOldKeys_andDoesNotStoreRowsOlderThanIt() async throws {
        let f = try DwmonFixture()
        f.settings.checkerRetention["exec"] = .seconds(3600)
        try f.events([("old", t - 7200), ("new", t - 100)])
        try f.checker("exec", [everyMinute(min: 0, max: 9, lookback: 60)])
        let plugin = try f.plugin()
        let report = await plugin.runner.runAll(now: t + 5)[0]
        #expect(report.newKeys == 1)
        #expect(try plugin.runner.state.keyCount(checker: "exec") == 1)
        // Two hours on, "new" has aged out too; checks older than an hour go, the latest stays.
        let later = await plugin.runner.runAll(now: t + 7200 + 5)[0]
        #expect(later.purgedKeys == 1)
        #expect(try plugin.runner.state.keyCount(checker: "exec") == 0)
        let history = try plugin.runner.state.history(checker: "exec", limit: 1000)
        #expect(history.allSatisfy { $0.minute >= t + 3600 })
        #expect(try plugin.runner.state.latest(checker: "exec").map(\.minute) == [t + 7200])
    }

    @Test func aSourceThatFails_leavesItsMinutesDue_andTheNextRunCatchesUp() async throws {
        let f = try DwmonFixture()
        f.settings.sources["warehouse"] = .init(kind: .sqlite(path: "\(f.dir)/later.db"))
        try f.checker("exec", [everyMinute(min: 0, max: 9, lookback: 60)])
        let plugin = try f.plugin()
        let failed = await plugin.runner.runAll(now: t + 5)[0]
        #expect(failed.error?.contains("later.db does not exist") == true)
        #expect(failed.checks.isEmpty && f.emitted.all.isEmpty)
        try FileManager.default.copyItem(atPath: f.warehousePath, toPath: "\(f.dir)/later.db")
        let caughtUp = await plugin.runner.runAll(now: t + 3 * 60 + 5)[0]
        #expect(caughtUp.error == nil)
        #expect(caughtUp.checks.count == 10)
    }

    @Test func aFileThatStopsParsing_keepsItsLastGoodVersion_aRemovedFileStops_anUnknownSourceIsRefused() async throws {
        let f = try DwmonFixture()
        try f.checker("exec", [everyMinute(min: 0, max: 9, lookback: 60)])
        try f.checker("elsewhere", [everyMinute(min: 0, max: 9, lookback: 60)], source: "nowhere")
        let plugin = try f.plugin()
        #expect(plugin.runner.reload().map(\.name) == ["exec"])
        try f.checker("exec", ["CHECKHOURS0-24 CHECKMINUTES0-59 WEEKDAYS MINNUM0 MAXNUM9 LOOKBACKSECONDS60"])
        #expect(plugin.runner.reload().first?.requirements.first?.hours == 0...23)
        try FileManager.default.removeItem(atPath: "\(f.dir)/checkers/exec.dwmon")
        #expect(plugin.runner.reload().isEmpty)
        let problems = DwmonRunner.load(
            "__QUERY__\nSELECT 1\n__REQUIREMENTS__\n\(everyMinute(min: 0, max: 1, lookback: 1))\n__SOURCE__\nnowhere\n__EXTRA__\n",
            path: "x.dwmon", name: "x", sources: f.settings.sources)
        #expect(throws: DwmonProblems.self) { try problems.get() }
        #expect(
            (try? problems.get()) == nil
                && "\(problems)".contains(
                    "x.dwmon:6: __SOURCE__ names \"nowhere\", which the plugin's sources do not define (defined: warehouse)"
                ))
    }

    @Test func aRemovedChecker_leavesTheAPI_atOnce_andTheStateAfterItsRetention() async throws {
        let f = try DwmonFixture()
        f.settings.retention = .seconds(3600)
        try f.events([("a", t - 30)])
        try f.checker("gone", [everyMinute(min: 0, max: 9, lookback: 60)])
        try f.checker("kept", [everyMinute(min: 0, max: 9, lookback: 60)])
        let plugin = try f.plugin()
        _ = await plugin.runner.runAll(now: t + 5)
        #expect(try plugin.runner.latest(checker: nil).map(\.checker) == ["gone", "kept"])
        try FileManager.default.removeItem(atPath: "\(f.dir)/checkers/gone.dwmon")
        _ = await plugin.runner.runAll(now: t + 65)
        #expect(try plugin.runner.latest(checker: nil).map(\.checker) == ["kept"])
        plugin.runner.purgeRemoved(now: t + 65)
        #expect(try plugin.runner.state.checkers() == ["gone", "kept"])  // not yet: within retention
        plugin.runner.purgeRemoved(now: t + 7200)
        #expect(try plugin.runner.state.checkers() == ["kept"])
        #expect(try plugin.runner.state.history(checker: "gone", limit: 10).isEmpty)
    }

    @Test func runNow_andTheChecksAPI() async throws {
        let f = try DwmonFixture()
        // The run sees a fixed time, 20 s into `minute` (past `check_delay`, 5 s): the latest due
        // minute is `minute`, whose window (the 60 s before it) holds event "a" only. (With the
        // real clock the test failed in the first 5 s of a minute.)
        let minute = DwmonSchedule.minuteStart(Int64(Date().timeIntervalSince1970))
        let time = FakeTime(start: Date(timeIntervalSince1970: TimeInterval(minute + 20)))
        try f.events([("a", minute - 30), ("b", minute + 30)])
        try f.checker("exec", [everyMinute(min: 1, max: 9, lookback: 60)])
        let plugin = try DwmonPlugin(name: "dwmon", settings: f.settings, context: f.emitted.context(time: time))
        func route(_ method: PluginRoute.Method, _ path: String) throws -> PluginRoute {
            try #require(plugin.routes.first { $0.method == method && $0.path == path })
        }
        let run = try route(.post, "/api/v1/dwmon/checkers/:checker/run")
        #expect(run.isWrite)
        let ran = await run.handler(PluginRequest(parameters: ["checker": "exec"]))
        #expect(ran.status == 200)
        let report = try JSONValue.parse(ran.body)
        #expect(report["checker"] == .string("exec"))
        #expect(report["new_keys"] == .number("2"))
        let unknown = await run.handler(PluginRequest(parameters: ["checker": "nope"]))
        #expect(unknown.status == 404)
        #expect(String(decoding: unknown.body, as: UTF8.self).contains("no checker named \\\"nope\\\" (known: exec)"))

        let checks = try await route(.get, "/api/v1/dwmon/checks").handler(PluginRequest())
        #expect(checks.status == 200)
        guard case .array(let latest)? = try JSONValue.parse(checks.body)["checks"] else {
            Issue.record("no checks array")
            return
        }
        #expect(latest.count == 1)  // one line: its latest minute only
        #expect(latest.first?["status"] == .string("GOOD"))
        #expect(latest.first?["event_count"] == .number("1"))
        let history = try await route(.get, "/api/v1/dwmon/checkers/:checker/checks").handler(
            PluginRequest(parameters: ["checker": "exec"], query: ["limit": "3"]))
        guard case .array(let items)? = try JSONValue.parse(history.body)["checks"] else {
            Issue.record("no history")
            return
        }
        #expect(items.count == 3)
        let badLimit = try await route(.get, "/api/v1/dwmon/checkers/:checker/checks").handler(
            PluginRequest(parameters: ["checker": "exec"], query: ["limit": "x"]))
        #expect(badLimit.status == 400)
    }
}

@Suite struct DwmonWebhookTests {
    let t: Int64 = 1_795_003_200

    @Test func everyBADCheck_isPostedToTheWebhookReceiver_withTheExtra() async throws {
        let receiver = InfluxContractDouble()
        receiver.script { _ in .init(status: 200) }
        try await receiver.start()
        let f = try DwmonFixture()
        var webhook = DwmonSettings.Webhook(url: receiver.url + "/hooks/dwmon")
        webhook.backoff = .milliseconds(50)
        f.settings.webhook = webhook
        try f.events([("a", t - 30)])
        try f.checker(
            "exec", [everyMinute(min: 0, max: 9, lookback: 60), everyMinute(min: 5, max: 9, lookback: 60)],
            extra: #"{"alert": "data-team@example.com"}"#)
        let plugin = try f.plugin()
        let runTask = Task { try await plugin.run() }
        let posted = try await waitFor(seconds: 60) { receiver.requests.count >= 10 ? receiver.requests : nil }
        runTask.cancel()
        _ = try? await runTask.value
        try await receiver.stop()
        // Line 5 (MINNUM5) is BAD for each of its 10 backfilled minutes; line 4 never is.
        #expect(posted.count == 10)
        let body = try JSONValue.parse(Array(posted[0].lines.joined().utf8))
        #expect(posted[0].path == "/hooks/dwmon")
        #expect(body["checker"] == .string("exec"))
        #expect(body["status"] == .string("BAD"))
        #expect(body["requirement"] == .number("5"))
        #expect(body["requirement_text"] == .string(everyMinute(min: 5, max: 9, lookback: 60)))
        #expect(body["min_required"] == .number("5"))
        #expect(body["extra"]?["alert"] == .string("data-team@example.com"))
        #expect(body["source"] == .string("warehouse"))
    }

    @Test func aWebhookDoubleAnswering503ThenOK_getsTheAlertOnTheThirdTry_a400IsNotRetried() async throws {
        let receiver = InfluxContractDouble()
        let answers = ManualCounter()
        receiver.script { request in
            if request.path == "/refuse" { return .init(status: 400, body: "no") }
            return answers.next() < 2 ? .init(status: 503) : .init(status: 204)
        }
        try await receiver.start()
        defer { Task { try? await receiver.stop() } }
        var settings = DwmonSettings.Webhook(url: receiver.url + "/ok")
        settings.backoff = .milliseconds(20)
        let sources = DwmonSources(logger: .init(label: "test"))
        let webhook = DwmonWebhook(
            settings: settings, client: sources.http, plugin: "dwmon", logger: .init(label: "test"),
            metrics: NOOPMetricsHandler.instance)
        let delivery = Task { await webhook.run() }
        webhook.enqueue(Array(#"{"n":1}"#.utf8), what: "n1")
        _ = try await waitFor { receiver.requests.filter { $0.path == "/ok" }.count == 3 ? true : nil }
        var refusing = settings
        refusing.url = receiver.url + "/refuse"
        let refused = DwmonWebhook(
            settings: refusing, client: sources.http, plugin: "dwmon", logger: .init(label: "test"),
            metrics: NOOPMetricsHandler.instance)
        let refusedDelivery = Task { await refused.run() }
        refused.enqueue(Array("{}".utf8), what: "n2")
        _ = try await waitFor { refused.backlog == 0 ? true : nil }
        try await Task.sleep(for: .milliseconds(100))
        #expect(receiver.requests.filter { $0.path == "/refuse" }.count == 1)
        #expect(receiver.requests.filter { $0.path == "/ok" }.count == 3)
        #expect(webhook.backlog == 0)
        webhook.finish()
        refused.finish()
        await delivery.value
        await refusedDelivery.value
    }
}

/// Counts calls (for scripted answers).
final class ManualCounter: Sendable {
    private let value = Mutex(0)
    func next() -> Int {
        value.withLock { v in
            defer { v += 1 }; return v
        }
    }
}

/// The plugin's own schedule, on a manual clock and a fake calendar time.
@Suite struct DwmonPluginClockTests {
    /// Wednesday 2026-11-18 12:00:00 UTC, a minute start.
    let t: Int64 = 1_795_003_200

    @Test func runsAtStart_thenCheckDelayAfterEachMinuteEnds_notBefore() async throws {
        let f = try DwmonFixture()
        try f.checker("exec", [everyMinute(min: 0, max: 9, lookback: 180)])
        let time = FakeTime(start: Date(timeIntervalSince1970: TimeInterval(t + 30)))
        let plugin = try DwmonPlugin(name: "dwmon", settings: f.settings, context: f.emitted.context(time: time))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await plugin.run() }
            try await time.waitForSleepers(1)
            // Started at 12:00:30: one run at once (its backfill ends with 12:00, whose check_delay of 5 s
            // has passed), then a sleep to 12:01:05.001.
            #expect(time.clock.pendingSleeps == [.milliseconds(35_001)])
            let first = try await waitFor { plugin.runner.reports["exec"] }
            #expect(first.at == t + 25 && first.checks.last?.minute == t)

            time.advance(by: .seconds(35))  // 12:01:05.000: not yet
            try await time.waitForSleepers(1)
            #expect(plugin.runner.reports["exec"]?.at == t + 25)

            time.advance(by: .milliseconds(1))  // 12:01:05.001: the minute 12:01 is due
            try await time.waitForSleepers(1)
            let second = try await waitFor { plugin.runner.reports["exec"].flatMap { $0.at == t + 60 ? $0 : nil } }
            #expect(second.checks.map(\.minute) == [t + 60])
            group.cancelAll()
        }
    }

    /// A row stamped t-1 s that reaches the database at t+2 s is counted in minute t's check: the
    /// check waits `check_delay` (5 s by default) after the minute ends.
    @Test func aRowArrivingLate_isCountedInItsMinutesCheck_withTheDefaultCheckDelay() async throws {
        let f = try DwmonFixture()
        try f.checker("exec", [everyMinute(min: 1, max: 9, lookback: 60)])
        let minute = t + 60  // 12:01:00
        let time = FakeTime(start: Date(timeIntervalSince1970: TimeInterval(minute - 30)))  // 12:00:30
        let plugin = try DwmonPlugin(name: "dwmon", settings: f.settings, context: f.emitted.context(time: time))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await plugin.run() }
            try await time.waitForSleepers(1)
            _ = try await waitFor { plugin.runner.reports["exec"] }
            time.advance(by: .seconds(32))  // 12:01:02: the row for 12:00:59 arrives now
            try f.events([("late", minute - 1)])
            time.advance(by: .seconds(3) + .milliseconds(1))  // 12:01:05.001: minute 12:01 is checked
            let report = try await waitFor { plugin.runner.reports["exec"].flatMap { $0.at == minute ? $0 : nil } }
            let check = try #require(report.checks.first { $0.minute == minute })
            #expect(check.count == 1 && check.status == .good, "\(check)")
            group.cancelAll()
        }
    }
}

/// Polls `probe` every 20 ms for up to `seconds`; fails the test when it never answers.
func waitFor<T>(seconds: Double = 10, _ probe: () throws -> T?) async throws -> T {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let value = try probe() { return value }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw WaitTimeout()
}

struct WaitTimeout: Error, CustomStringConvertible {
    var description: String { "condition not met in time" }
}
