import Foundation
import GatewayCore
import Testing

@testable import Plugins

/// The usage store, the alarm rule and the transitions, on exact figures.
@Suite struct UsageStoreTests {
    let now: Int64 = 1_800_000_000 * second

    func usage(_ host: String, _ process: String, at time: Int64, cpu: Double? = nil, mem: Double? = nil) -> Point {
        var fields: [Field] = []
        if let cpu { fields.append(Field("cpu_percent", .float(cpu))) }
        if let mem { fields.append(Field("mem_percent", .float(mem))) }
        return Point(
            series: "process_usage", time: time, tags: [Tag("host", host), Tag("process", process)], fields: fields)
    }

    func legacy(_ metric: String, _ ip: String, _ process: String, at time: Int64, _ value: Double) -> Point {
        Point(
            series: "\(metric)_usage_percent", time: time, tags: [Tag("ip", ip), Tag("process", process)],
            fields: [Field("value", .float(value))])
    }

    func store(window: Duration = .seconds(3600), maxSeries: Int = 100, cap: Int = 1000) -> UsageStore {
        UsageStore(window: window, maxSeries: maxSeries, maxSamplesPerSeries: cap)
    }

    @Test func means_memory10And20_cpu0And0_give15And0() {
        let s = store()
        s.ingest(
            [
                legacy("mem", "10.0.0.1", "db", at: now - 20 * second, 10),
                legacy("cpu", "10.0.0.1", "db", at: now - 20 * second, 0),
                legacy("mem", "10.0.0.1", "db", at: now - 10 * second, 20),
                legacy("cpu", "10.0.0.1", "db", at: now - 10 * second, 0),
            ], now: now)
        let mean = s.means(since: now - 300 * second)["db"]
        #expect(mean?.mem == 15)
        #expect(mean?.cpu == 0)
        // Legacy cpu and mem of one timestamp merge into one sample.
        #expect(s.counts.samples == 2)
    }

    @Test func means_overEveryHost_orOneHost_andNoFalseZeroWithoutCPU() {
        let s = store()
        s.ingest(
            [
                usage("a", "web", at: now - 30 * second, mem: 10),
                usage("a", "web", at: now - 20 * second, cpu: 50, mem: 20),
                usage("b", "web", at: now - 20 * second, cpu: 10, mem: 60),
                usage("b", "db", at: now - 10 * second, mem: 5),
                usage("b", "web", at: now - 900 * second, cpu: 99, mem: 99),  // outside a 5-minute window
            ], now: now)
        let all = s.means(since: now - 300 * second)
        #expect(all["web"]?.mem == 30)
        #expect(all["web"]?.cpu == 30)
        #expect(all["web"]?.hosts == ["a", "b"])
        #expect(all["db"]?.cpu == nil)
        #expect(all["db"]?.mem == 5)
        let onlyA = s.means(since: now - 300 * second, host: "a")
        #expect(onlyA.keys.sorted() == ["web"])
        #expect(onlyA["web"]?.mem == 15)
        #expect(onlyA["web"]?.cpu == 50)
    }

    @Test func store_isBounded_bySeries_bySamples_andByTheWindow() {
        let s = store(window: .seconds(600), maxSeries: 2, cap: 3)
        s.ingest([usage("a", "p1", at: now, mem: 1), usage("a", "p2", at: now - second, mem: 1)], now: now)
        // A third series evicts the one updated longest ago (p2), and is counted.
        s.ingest([usage("a", "p3", at: now, mem: 1)], now: now)
        #expect(s.counts.series == 2)
        #expect(s.counts.evictedSeries == 1)
        #expect(Set(s.history(since: 0).map(\.key.process)) == ["p1", "p3"])
        for i in 1...5 { s.ingest([usage("a", "p1", at: now + Int64(i) * second, mem: Double(i))], now: now) }
        #expect(s.history(since: 0, process: "p1").first?.samples.map(\.mem) == [3, 4, 5])
        // Too old to keep at all.
        s.ingest([usage("a", "p3", at: now - 700 * second, mem: 9)], now: now)
        #expect(s.history(since: 0, process: "p3").first?.samples.count == 1)
        s.expire(now: now + 1000 * second)
        #expect(s.counts.series == 0)
    }

    @Test func samplesFromTheFuture_areRefusedAndCounted_hostileValuesDoNotCrash() {
        let s = store()
        let refused = s.ingest(
            [usage("a", "p", at: now + 301 * second, mem: 1), usage("a", "p", at: now + 299 * second, mem: 2)], now: now
        )
        #expect(refused == 1)
        #expect(s.counts.refusedFuture == 1)
        #expect(s.history(since: 0).first?.samples.map(\.mem) == [2])
        // Out-of-range counts and non-finite values are left out, never trapped on.
        let hostile = Point(
            series: "process_usage", time: now, tags: [Tag("host", "a"), Tag("process", "q")],
            fields: [
                Field("mem_percent", .float(1)), Field("rss_bytes", .float(1e19)), Field("threads", .uint(UInt64.max)),
                Field("cpu_percent", .float(.infinity)),
            ])
        s.ingest([hostile], now: now)
        let sample = s.history(since: 0, process: "q").first?.samples.first
        #expect(sample?.rss == -1)
        #expect(sample?.threads == -1)
        #expect(sample?.cpu.isNaN == true)
        #expect(sample?.mem == 1)
    }

    @Test func outOfOrderSamples_areKeptInTimeOrder() {
        let s = store()
        s.ingest([usage("a", "p", at: now, mem: 3), usage("a", "p", at: now - 2 * second, mem: 1)], now: now)
        s.ingest([usage("a", "p", at: now - 1 * second, mem: 2)], now: now)
        #expect(s.history(since: 0).first?.samples.map(\.mem) == [1, 2, 3])
    }

    // MARK: Alarms

    let rule = AlarmRule(
        cpuThreshold: 80, memThreshold: 80, horizon: .seconds(300), minSamples: 5, minSpan: .seconds(60))

    func series(_ values: [Double], every step: Int64 = 10 * second) -> [(time: Int64, value: Double)] {
        values.enumerated().map { (time: now + Int64($0.offset) * step, value: $0.element) }
    }

    @Test func exactly80IsNotRed_80point01Is() {
        #expect(rule.evaluate(series([80, 80, 80, 80, 80, 80, 80]), threshold: 80)?.level == .green)
        #expect(rule.evaluate(series([80, 80, 80, 80, 80, 80, 80.01]), threshold: 80)?.level == .red)
        #expect(rule.evaluate([(now, 80.0)], threshold: 80)?.level == .green)
        #expect(rule.evaluate([(now, 80.01)], threshold: 80)?.level == .red)
    }

    @Test func risingSeriesAt60_thatCrosses80WithinTheHorizon_isAmber() throws {
        // 1 % per 10 s = 6 % per minute: 60 now, 90 in five minutes.
        let rising = try #require(rule.evaluate(series([54, 55, 56, 57, 58, 59, 60]), threshold: 80))
        #expect(rising.level == .amber)
        #expect(rising.latest == 60)
        #expect(abs(rising.slopePerMinute! - 6) < 1e-9)
        #expect(abs(rising.projected! - 90) < 1e-9)
        // Rising too slowly to get there in five minutes: 60 now, 70 then.
        let slow = try #require(
            rule.evaluate(series([58, 58 + 1.0 / 3, 58 + 2.0 / 3, 59, 59 + 1.0 / 3, 59 + 2.0 / 3, 60]), threshold: 80))
        #expect(slow.level == .green)
        // Falling from above-threshold territory is not a prediction of crossing it.
        #expect(rule.evaluate(series([79, 78, 77, 76, 75, 74]), threshold: 80)?.level == .green)
    }

    @Test func noTrend_fromTooFewSamples_orTooShortASpan() {
        // Steep, but four samples only.
        #expect(rule.evaluate(series([20, 40, 50, 60]), threshold: 80)?.level == .green)
        // Steep, five samples, but over 4 seconds: noise, not a trend.
        let short = rule.evaluate(series([50, 52, 55, 58, 60], every: second), threshold: 80)
        #expect(short?.level == .green)
        #expect(short?.projected == nil)
    }

    @Test func storeAlarms_perHostAndProcess_worstMetricWins() {
        let s = store()
        var points: [Point] = []
        for i in 0..<7 {
            let t = now - Int64(60 - i * 10) * second
            points.append(usage("a", "hot", at: t, cpu: 90, mem: 10))
            points.append(usage("a", "growing", at: t, cpu: 1, mem: 54 + Double(i)))
            points.append(usage("b", "calm", at: t, cpu: 1, mem: 1))
        }
        s.ingest(points, now: now)
        let alarms = s.alarms(since: now - 300 * second, rule: rule)
        let levels = Dictionary(uniqueKeysWithValues: alarms.map { ("\($0.key.host)/\($0.key.process)", $0.level) })
        #expect(levels == ["a/hot": .red, "a/growing": .amber, "b/calm": .green])
        #expect(s.alarms(since: now - 300 * second, rule: rule, host: "b").count == 1)
    }

    @Test func tracker_reportsEachChangeOnce_andClearsWhatIsGone() {
        var tracker = AlarmTracker()
        let key = UsageStore.Key(host: "a", process: "p")
        func alarm(_ level: AlarmLevel) -> [ProcessAlarm] {
            [
                ProcessAlarm(
                    key: key,
                    cpu: MetricAlarm(
                        level: level, latest: 1, latestTime: 0, threshold: 80, slopePerMinute: nil, projected: nil,
                        samples: 1),
                    mem: nil)
            ]
        }
        #expect(tracker.update(alarm(.green)).isEmpty)
        #expect(tracker.update(alarm(.amber)).map { [$0.from, $0.to] } == [[.green, .amber]])
        #expect(tracker.update(alarm(.amber)).isEmpty)
        #expect(tracker.update(alarm(.red)).map { [$0.from, $0.to] } == [[.amber, .red]])
        #expect(tracker.update(alarm(.green)).map { [$0.from, $0.to] } == [[.red, .green]])
        #expect(tracker.update(alarm(.green)).isEmpty)
        _ = tracker.update(alarm(.red))
        // A RED series that went quiet is NO_DATA, not GREEN.
        let quiet = tracker.update([])
        #expect(quiet.count == 1)
        #expect(quiet.first?.from == .red)
        #expect(quiet.first?.to == nil)
        #expect(quiet.first?.alarm == nil)
        let points = ProcPlugin.points(quiet, time: 5)
        #expect(points.first?.series == "process_alarm")
        #expect(points.first?.tag("level") == "NO_DATA")
        #expect(points.first?.tag("previous") == "RED")
        #expect(tracker.update([]).isEmpty)
    }
}
