import Foundation
import Testing

@testable import Plugins

/// The `.dwmon` file format and the check schedule, driven with explicit times and a fixed zone.
@Suite struct DwmonFileTests {
    let sample = """
        __QUERY__
        SELECT execution_id AS dwmon_unique_key, ts AS dwmon_timestamp FROM model_executions
        ORDER BY dwmon_timestamp DESC LIMIT 10000
        __REQUIREMENTS__
        # comment

        CHECKHOURS0-23 CHECKMINUTES0-59 WEEKENDS WEEKDAYS MINNUM5 MAXNUM20 LOOKBACKSECONDS180
        CHECKHOURS9-17 CHECKMINUTES*/20 WEEKDAYS MINNUM1 MAXNUM100 LOOKBACKSECONDS3600
        __SOURCE__
        warehouse
        __EXTRA__
        {"alert": "data-team@example.com"}
        """

    func problems(_ text: String) -> [String] {
        switch DwmonFile.parse(text, file: "x.dwmon", name: "x") {
        case .success: return []
        case .failure(let errors): return errors.problems.map(\.description)
        }
    }

    func requirement(_ line: String) throws -> DwmonFile.Requirement {
        try DwmonFile.parseRequirement(line, line: 1).mapError { TestError($0.messages.joined(separator: "; ")) }.get()
    }

    struct TestError: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    @Test func theIssuesExample_parses() throws {
        let file = try DwmonFile.parse(sample, file: "x.dwmon", name: "executions").mapError { TestError("\($0)") }
            .get()
        #expect(file.query.hasPrefix("SELECT execution_id"))
        #expect(file.query.hasSuffix("LIMIT 10000"))
        #expect(file.source == "warehouse")
        #expect(file.extra == #"{"alert": "data-team@example.com"}"#)
        #expect(file.requirements.count == 2)
        let first = file.requirements[0]
        #expect(first.line == 7)
        #expect(first.hours == 0...23 && first.minutes == .range(0...59) && first.weekdays && first.weekends)
        #expect(first.minCount == 5 && first.maxCount == 20 && first.lookbackSeconds == 180)
        #expect(file.requirements[1].line == 8)
        #expect(file.requirements[1].minutes == .every(20))
        #expect(!file.requirements[1].weekends)
    }

    @Test func everyTwenty_matches00_20_40_not30or59_andTheStepIsBounded() throws {
        let r = try requirement("CHECKHOURS0-23 CHECKMINUTES*/20 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60")
        for minute in [0, 20, 40] { #expect(r.minutes.matches(minute)) }
        for minute in [30, 59, 1] { #expect(!r.minutes.matches(minute)) }
        #expect(throws: TestError.self) {
            try requirement("CHECKHOURS0-23 CHECKMINUTES*/0 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60")
        }
        #expect(throws: TestError.self) {
            try requirement("CHECKHOURS0-23 CHECKMINUTES*/59 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60")
        }
        #expect(
            try requirement("CHECKHOURS0-23 CHECKMINUTES*/58 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60").minutes
                == .every(58))
    }

    @Test(arguments: [
        ("CHECKHOURS0-24 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60", "token CHECKHOURS0-24"),
        ("CHECKHOURS5-2 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60", "token CHECKHOURS5-2"),
        ("CHECKHOURS0-23 CHECKMINUTES0-60 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60", "token CHECKMINUTES0-60"),
        ("CHECKHOURS0-23 CHECKMINUTES0-59 MINNUM1 MAXNUM2 LOOKBACKSECONDS60", "WEEKDAYS or WEEKENDS"),
        ("CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM3 MAXNUM2 LOOKBACKSECONDS60", "MINNUM must not exceed MAXNUM"),
        ("CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS0", "token LOOKBACKSECONDS0"),
        ("CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MAXNUM2", "missing token LOOKBACKSECONDSn"),
        // A word with other characters than capitals, digits and `-` (the original refuses it too).
        (
            "CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60 holidays",
            "token holidays: unknown"
        ),
        // Past 100 years, or anything that would overflow, is refused.
        (
            "CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS3153600001",
            "from 1 to 3153600000 (100 years)"
        ),
        (
            "CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS9223372036854775807",
            "token LOOKBACKSECONDS9223372036854775807"
        ),
        (
            "CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MAXNUM99999999999999999999 LOOKBACKSECONDS60",
            "token MAXNUM99999999999999999999"
        ),
    ])
    func badRequirementLines_nameTheFileLineAndToken(line: String, fragment: String) {
        let text = "__QUERY__\nSELECT 1\n__REQUIREMENTS__\n\(line)\n__SOURCE__\nwarehouse\n__EXTRA__\n"
        let found = problems(text)
        #expect(found.contains { $0.hasPrefix("x.dwmon:4: ") && $0.contains(fragment) }, "\(found)")
    }

    /// Lines the original dwmon accepts are accepted: a token given twice (the first wins, as the
    /// original's search finds the first), an unknown word of capitals (ignored), a look-back over
    /// 7 days. Each ambiguity is a warning naming the file, line and token.
    @Test func linesTheOriginalAccepts_areAccepted_withAWarningNamingFileLineAndToken() throws {
        let text = """
            __QUERY__
            SELECT id AS dwmon_unique_key, ts AS dwmon_timestamp FROM t
            __REQUIREMENTS__
            CHECKHOURS0-23 CHECKHOURS1-2 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MAXNUM2 MINNUM2 LOOKBACKSECONDS60
            CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS2592000 HOLIDAYS
            CHECKHOURS0-23 CHECKMINUTES*/20 CHECKMINUTES0-5 WEEKENDS MINNUM0 MAXNUM2 LOOKBACKSECONDS604801
            __SOURCE__
            wh
            __EXTRA__
            """
        let file = try DwmonFile.parse(text, file: "x.dwmon", name: "x").mapError { TestError("\($0)") }.get()
        #expect(file.requirements.map(\.hours) == [0...23, 0...23, 0...23])
        #expect(file.requirements[0].minCount == 1)
        #expect(file.requirements[1].weekdays && !file.requirements[1].weekends)
        #expect(file.requirements.map(\.lookbackSeconds) == [60, 2_592_000, 604_801])
        #expect(file.requirements[2].minutes == .every(20))
        #expect(
            file.warnings.map(\.description) == [
                "x.dwmon:4: token CHECKHOURS1-2: CHECKHOURS given twice on one line; the first (CHECKHOURS0-23) is used, as the original dwmon does",
                "x.dwmon:4: token MINNUM2: MINNUM given twice on one line; the first (MINNUM1) is used, as the original dwmon does",
                "x.dwmon:5: token WEEKDAYS: given twice on one line (no effect)",
                "x.dwmon:5: token HOLIDAYS: unknown, ignored as the original dwmon ignores it (expected CHECKHOURSa-b, CHECKMINUTESa-b or CHECKMINUTES*/N, WEEKDAYS, WEEKENDS, MINNUMn, MAXNUMn, LOOKBACKSECONDSn)",
                "x.dwmon:6: token CHECKMINUTES0-5: CHECKMINUTES given twice on one line; the first (CHECKMINUTES*/20) is used, as the original dwmon does",
            ])
        // The catch-up horizon is ten look-backs, capped at 70 days (that of a 7-day look-back).
        #expect(file.requirements[0].horizonMinutes == 10)
        #expect(file.requirements[1].horizonMinutes == 100_800)
        #expect(file.requirements[2].horizonMinutes == 100_800)
        #expect(try requirement(everyMinute(min: 0, max: 1, lookback: 604_800)).horizonMinutes == 100_800)
    }

    @Test func aCRLFFile_parsesAsTheSameFileWithLF() throws {
        let lf =
            "__QUERY__\nSELECT 1\n__REQUIREMENTS__\nCHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60\n__SOURCE__\nwh\n__EXTRA__\n"
        let fromLF = try DwmonFile.parse(lf, file: "x.dwmon", name: "x").get()
        let fromCRLF = try DwmonFile.parse(lf.replacingOccurrences(of: "\n", with: "\r\n"), file: "x.dwmon", name: "x")
            .get()
        #expect(fromCRLF == fromLF)
        #expect(fromCRLF.requirements.first?.line == 4)
    }

    @Test func sectionsMustAllBeThere_inOrder_andTheExtraMustBeAJSONObject() {
        #expect(
            problems(
                "__QUERY__\nSELECT 1\n__SOURCE__\nw\n__REQUIREMENTS__\nCHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60\n__EXTRA__\n"
            )
            .contains { $0.contains("x.dwmon:5: section __REQUIREMENTS__ comes after __SOURCE__") })
        #expect(
            problems(
                "__QUERY__\nSELECT 1\n__REQUIREMENTS__\nCHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60\n__EXTRA__\n"
            )
            .contains { $0.contains("missing section __SOURCE__") })
        #expect(
            problems(
                "__QUERY__\nSELECT 1\n__REQUIREMENTS__\nCHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60\n__SOURCE__\nw\n__EXTRA__\n[1]\n"
            )
            .contains { $0.contains("__EXTRA__ must be a JSON object") })
        #expect(
            problems("__QUERY__\nSELECT 1\n__REQUIREMENTS__\n# only a comment\n__SOURCE__\nw\n__EXTRA__\n")
                .contains { $0.contains("x.dwmon:3: __REQUIREMENTS__ has no requirement line") })
        #expect(
            problems(
                "__QUERY__\nSELECT 1\n__REQUIREMENTS__\nCHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60\n__SOURCE__\na\nb\n__EXTRA__\n"
            )
            .contains { $0.contains("x.dwmon:7: __SOURCE__ must hold exactly one source name, found 2") })
    }
}

@Suite struct DwmonScheduleTests {
    let utc = DwmonSchedule(timeZone: TimeZone(identifier: "UTC")!)
    /// Saturday 2026-11-21 00:00:00 UTC.
    let saturday: Int64 = 1_795_219_200

    func requirement(_ text: String) throws -> DwmonFile.Requirement {
        try DwmonFile.parseRequirement(text, line: 3).mapError { _ in CancellationError() }.get()
    }

    @Test func weekendsAlone_matchSaturday2340_andSunday0000_notMonday0000() throws {
        let r = try requirement("CHECKHOURS0-23 CHECKMINUTES0-59 WEEKENDS MINNUM0 MAXNUM9 LOOKBACKSECONDS60")
        func matches(_ t: Int64) -> Bool {
            let local = utc.localTime(t)
            return r.matches(hour: local.hour, minute: local.minute, weekend: local.weekend)
        }
        #expect(matches(saturday + 23 * 3600 + 40 * 60))
        #expect(matches(saturday + 86_400))
        #expect(!matches(saturday + 2 * 86_400))
        #expect(!matches(saturday - 60))  // Friday 23:59
    }

    @Test func hoursAndWeekdays_areJudgedInTheConfiguredZone() throws {
        // Monday 2026-11-23 07:30 UTC is 08:30 in Paris (UTC+1 in November) and Sunday 23:30 in Los Angeles... no: 23:30 Sunday.
        let monday0730 = saturday + 2 * 86_400 + 7 * 3600 + 30 * 60
        let paris = DwmonSchedule(timeZone: TimeZone(identifier: "Europe/Paris")!)
        #expect(paris.localTime(monday0730).hour == 8)
        let losAngeles = DwmonSchedule(timeZone: TimeZone(identifier: "America/Los_Angeles")!)
        let there = losAngeles.localTime(monday0730)
        #expect(there.hour == 23 && there.weekend)
    }

    @Test func lookback180_atT30s_countsKeysInTheClosedWindow() throws {
        let r = try requirement("CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS WEEKENDS MINNUM2 MAXNUM2 LOOKBACKSECONDS180")
        let t = saturday + 3600
        let now = t + 30
        let due = utc.dueMinutes(r, now: now, lastChecked: t - 60)
        #expect(due == [t])
        let keys: [Int64] = [t - 181, t - 180, t, t + 1]
        let window = DwmonSchedule.window(at: t, r)
        let count = keys.filter { window.contains($0) }.count
        #expect(count == 2)
        #expect(DwmonSchedule.status(count: count, r) == .good)
        let stricter = try requirement(
            "CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS WEEKENDS MINNUM3 MAXNUM9 LOOKBACKSECONDS180")
        #expect(DwmonSchedule.status(count: count, stricter) == .bad)
    }

    @Test func aSecondRunInTheSameMinute_checksNothing_theNextMinuteExactlyOne() throws {
        let r = try requirement("CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS WEEKENDS MINNUM0 MAXNUM9 LOOKBACKSECONDS180")
        let t = saturday + 7200
        let first = utc.dueMinutes(r, now: t + 5, lastChecked: nil)
        #expect(first.count == 30)  // a new line backfills its horizon
        #expect(first.last == t)
        #expect(utc.dueMinutes(r, now: t + 50, lastChecked: first.last).isEmpty)
        #expect(utc.dueMinutes(r, now: t + 65, lastChecked: first.last) == [t + 60])
    }

    @Test func downFor7Minutes_catchesUpOnThose7_downFor100_onlyTheNewest30() throws {
        let r = try requirement("CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS WEEKENDS MINNUM0 MAXNUM9 LOOKBACKSECONDS180")
        let last = saturday + 10_800
        let afterSeven = utc.dueMinutes(r, now: last + 7 * 60 + 2, lastChecked: last)
        #expect(afterSeven == (1...7).map { last + Int64($0) * 60 })
        let afterHundred = utc.dueMinutes(r, now: last + 100 * 60 + 2, lastChecked: last)
        #expect(afterHundred.count == 30)
        #expect(afterHundred.first == last + 71 * 60)
        #expect(afterHundred.last == last + 100 * 60)
    }

    @Test func horizon_isTenTimesTheLookbackInMinutesRoundedUp_atLeast10() throws {
        #expect(
            try requirement("CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM0 MAXNUM9 LOOKBACKSECONDS1").horizonMinutes
                == 10)
        #expect(
            try requirement("CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM0 MAXNUM9 LOOKBACKSECONDS61").horizonMinutes
                == 20)
        #expect(
            try requirement("CHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM0 MAXNUM9 LOOKBACKSECONDS180")
                .horizonMinutes == 30)
    }

    @Test func minuteStart_floorsAlsoBeforeTheEpoch() {
        #expect(DwmonSchedule.minuteStart(119) == 60)
        #expect(DwmonSchedule.minuteStart(-1) == -60)
        #expect(DwmonSchedule.minuteStart(-60) == -60)
    }
}
