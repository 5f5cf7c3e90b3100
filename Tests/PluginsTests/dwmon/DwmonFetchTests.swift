import Foundation
import GRDB
import Testing

@testable import Plugins

/// `fetch: when_due` (the default) runs a checker's query only when one of its lines has a minute
/// due, as the original dwmon does; `fetch: every_minute` runs it at every run. The two count
/// differently for a checker that stamps its keys with the current time (the original README's
/// `extract(epoch from CURRENT_TIMESTAMP) AS dwmon_timestamp`).
@Suite struct DwmonFetchTests {
    /// Wednesday 2026-11-18 12:00:00 UTC, a minute start.
    let t: Int64 = 1_795_003_200

    /// Hourly at minute 0, the last hour counted: 5 to 10 keys.
    static let hourly =
        "CHECKHOURS0-23 CHECKMINUTES0-0 WEEKDAYS WEEKENDS MINNUM5 MAXNUM10 LOOKBACKSECONDS3600"

    /// The warehouse's "current time" is a one-row table the test sets to the manual clock's time
    /// before each run, so the query stamps every key with the time it runs, as CURRENT_TIMESTAMP.
    static let stampedNow =
        "SELECT e.id AS dwmon_unique_key, c.now AS dwmon_timestamp FROM events e, clock c ORDER BY e.id LIMIT 10000"

    /// One row appears at hh:mm:30 for every minute from 12:00 to 13:59; five are there before
    /// 12:00. The plugin checks minute m at m + 5 s (`check_delay`) on the manual clock, from 12:00
    /// to 14:00. Returns every check of the hourly line and how many runs queried the source.
    func simulate(_ fetch: DwmonSettings.Fetch) async throws -> (checks: [DwmonCheck], queried: Int) {
        let f = try DwmonFixture()
        f.settings.fetch = fetch
        try f.sql("CREATE TABLE clock (now REAL NOT NULL); INSERT INTO clock VALUES (0)")
        try f.events((1...5).map { ("before-\($0)", 0) })
        try f.checker("stamped", [Self.hourly], query: Self.stampedNow)
        let plugin = try f.plugin()
        let delay = Int64(f.settings.checkDelay.components.seconds)
        var checks: [DwmonCheck] = []
        var queried = 0
        for minute in stride(from: t, through: t + 120 * 60, by: 60) {
            if minute > t { try f.events([("row-\(minute - 60)", 0)]) }  // appeared at (minute - 60) + 30 s
            try f.sql("UPDATE clock SET now = \(minute + delay)")  // the wall time of this run
            let report = try #require(await plugin.runner.runAll(now: minute).first)
            #expect(report.error == nil)
            if report.queried { queried += 1 }
            checks += report.checks
        }
        return (checks, queried)
    }

    /// The original program, modelled on its published source: at every minute start it runs each
    /// line whose time pattern has a minute due (after the last check) within ten look-backs; then,
    /// and only then, it runs the query, stores unseen keys with the timestamp the query gave (here
    /// the time it ran) and counts each due minute m over [m - L, m].
    func originalCounts() -> [Int64: Int] {
        let lookback: Int64 = 3600
        var stored: [String: Int64] = [:]  // key -> timestamp, the first one wins
        var last: Int64?
        var counts: [Int64: Int] = [:]
        var present = (1...5).map { "before-\($0)" }
        for minute in stride(from: t, through: t + 120 * 60, by: 60) {
            if minute > t { present.append("row-\(minute - 60)") }
            let horizon = (0...Int64(10 * lookback / 60)).map { minute - $0 * 60 }
            let due = horizon.filter { $0 % 3600 == 0 && $0 > (last ?? .min) }.sorted()
            guard !due.isEmpty else { continue }
            let ran = minute + 1  // a moment into the minute: it sleeps 60 s between runs
            for key in present where stored[key] == nil { stored[key] = ran }
            for m in due { counts[m] = stored.values.filter { (m - lookback)...m ~= $0 }.count }
            last = due.last
        }
        return counts
    }

    @Test func whenDue_reproducesTheOriginalsCounts_forACheckerStampedWithTheCurrentTime() async throws {
        let original = originalCounts()
        let (checks, queried) = try await simulate(.whenDue)
        // The query ran at 12:00 (the start, backfilling), 13:00 and 14:00 only.
        #expect(queried == 3)
        // Every minute checked has the original's count. (The original's horizon held one minute
        // more: ten look-backs before the current minute, so it also backfilled 02:00.)
        for check in checks { #expect(original[check.minute] == check.count, "\(check)") }
        #expect(Set(original.keys).subtracting(checks.map(\.minute)) == [t - 600 * 60])
        // 13:00 counts the five keys stamped when 12:00 ran (GOOD); 14:00 the 60 stamped at 13:00 (BAD).
        let hours = checks.filter { $0.minute > t }
        #expect(hours.map(\.minute) == [t + 3600, t + 7200])
        #expect(hours.map(\.count) == [5, 60])
        #expect(hours.map(\.status) == [.good, .bad])
    }

    @Test func everyMinute_stampsKeysAsTheyAppear_andSoCountsDifferently() async throws {
        let (checks, queried) = try await simulate(.everyMinute)
        #expect(queried == 121)
        let hours = checks.filter { $0.minute > t }
        // 13:00 counts the first five and the 59 stamped 12:01:05 to 12:59:05 (BAD), 14:00 the 60
        // stamped 13:00:05 to 13:59:05.
        #expect(hours.map(\.count) == [64, 60])
        #expect(originalCounts()[t + 3600] == 5)
    }

    @Test func runNow_queriesTheSource_evenWithNoMinuteDue() async throws {
        let f = try DwmonFixture()
        try f.checker("hourly", [Self.hourly])
        let plugin = try f.plugin()
        #expect(await plugin.runner.runAll(now: t + 5).first?.queried == true)
        try f.events([("a", t + 30)])
        let skipped = try #require(await plugin.runner.runAll(now: t + 65).first)
        #expect(!skipped.queried && skipped.newKeys == 0)
        let forced = try await plugin.runner.run(checker: "hourly", now: t + 70)
        #expect(forced.queried && forced.newKeys == 1 && forced.checks.isEmpty)
    }
}
