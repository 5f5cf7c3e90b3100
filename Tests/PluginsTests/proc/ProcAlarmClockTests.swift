import Foundation
import GatewayCore
import Testing

@testable import Plugins

/// The proc plugin's alarm loop on a manual clock: levels change at the evaluations the settings
/// name, at exact instants, without sleeping.
@Suite struct ProcAlarmClockTests {
    /// 2026-11-18 12:00:00 UTC.
    static let start: Int64 = 1_795_003_200

    func sample(cpu: Double, at seconds: Int64) -> Point {
        Point(
            series: "process_usage", time: (Self.start + seconds) * second,
            tags: [Tag("host", "web1"), Tag("ip", "10.0.0.9"), Tag("process", "db")],
            fields: [Field("cpu_percent", .float(cpu)), Field("mem_percent", .float(10))])
    }

    @Test func anAlarmIsRaisedAtTheFirstEvaluationAfterItsSample_andEndsWhenTheSampleLeavesTheMeanWindow() async throws
    {
        let time = FakeTime(start: Date(timeIntervalSince1970: TimeInterval(Self.start)))
        var settings = ProcSettings()
        settings.collect = false
        settings.alarmInterval = .seconds(10)
        settings.meanWindow = .seconds(60)
        let emitted = EmittedPoints()
        let proc = ProcPlugin(name: "proc", settings: settings, context: emitted.context(time: time))
        let tap = try #require(proc.taps.first)
        func alarms() -> [Point] { emitted.all.filter { $0.series == "process_alarm" } }

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await proc.run() }
            try await time.waitForSleepers(1)
            tap.receive([sample(cpu: 95, at: 1)])
            time.advance(by: .seconds(9))
            try await time.waitForSleepers(1)
            #expect(alarms().isEmpty, "not evaluated before alarms.interval")

            time.advance(by: .seconds(1))  // 10 s: the first evaluation
            try await time.waitForSleepers(1)
            let raised = try #require(alarms().first)
            #expect(alarms().count == 1)
            #expect(raised.time == (Self.start + 10) * second)
            #expect(raised.tag("level") == "RED" && raised.tag("metric") == "cpu" && raised.tag("previous") == "GREEN")
            #expect(raised.tag("host") == "web1" && raised.tag("ip") == "10.0.0.9")

            // The sample (at 1 s) is inside the 60 s mean window up to the evaluation at 60 s...
            for _ in 0..<5 {
                time.advance(by: .seconds(10))
                try await time.waitForSleepers(1)
            }
            #expect(alarms().count == 1)
            // ...and out of it at 70 s: no data, which is not GREEN.
            time.advance(by: .seconds(10))
            try await time.waitForSleepers(1)
            #expect(alarms().count == 2)
            let ended = try #require(alarms().last)
            #expect(ended.time == (Self.start + 70) * second)
            #expect(ended.tag("level") == "NO_DATA" && ended.tag("previous") == "RED")
            group.cancelAll()
        }
    }
}
