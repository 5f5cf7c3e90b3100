import Foundation
import Testing

@testable import GatewayCore

@Suite struct StatsDAggregatorTests {
    static let second: Int64 = 1_000_000_000

    func aggregate(_ text: String, settings: StatsDAggregation = StatsDAggregation()) -> [String: Point] {
        var aggregator = StatsDAggregator(settings: settings)
        for sample in StatsDParser().parse(text).samples { aggregator.add(sample) }
        return byName(aggregator.flush(at: 10 * Self.second))
    }

    func byName(_ points: [Point]) -> [String: Point] {
        Dictionary(uniqueKeysWithValues: points.map { ($0.series, $0) })
    }

    @Test func countersSumScaledByRate_gaugesKeepTheLastWithDeltas_setsCountDistinct() {
        let points = aggregate(
            "hits:1|c\nhits:2|c|@0.5\nhits:1|c|@0.1\nload:10|g\nload:+5|g\nload:-3|g\nu:a|s\nu:b|s\nu:a|s\n")
        #expect(points["hits"]?.field("value") == .int(1 + 4 + 10))
        #expect(points["hits"]?.tag("metric_type") == "counter" && points["hits"]?.time == 10 * Self.second)
        #expect(points["load"]?.field("value") == .float(12) && points["load"]?.tag("metric_type") == "gauge")
        #expect(points["u"]?.field("value") == .int(2) && points["u"]?.tag("metric_type") == "set")
    }

    @Test func timings_reportTelegrafsFields_andNumpysPercentiles() throws {
        let values = (1...10).map { Double($0 * $0) }  // 1, 4, ..., 100
        let text = values.map { "rt:\($0)|ms" }.joined(separator: "\n")
        let point = try #require(aggregate(text)["rt"])
        #expect(point.tag("metric_type") == "timing")
        #expect(
            point.fields.map(\.key) == [
                "count", "lower", "upper", "mean", "median", "stddev", "sum", "50_percentile", "90_percentile",
                "99_percentile",
            ])
        #expect(
            point.field("count") == .float(10) && point.field("lower") == .float(1)
                && point.field("upper") == .float(100))
        #expect(point.field("sum") == .float(385) && point.field("mean") == .float(38.5))
        // numpy.percentile(x, [50, 90, 99]) and numpy.std(x) on the same values.
        #expect(point.field("median") == .float(30.5) && point.field("50_percentile") == .float(30.5))
        guard case .float(let p90) = point.field("90_percentile"), case .float(let p99) = point.field("99_percentile"),
            case .float(let sd) = point.field("stddev")
        else {
            Issue.record("missing fields")
            return
        }
        #expect(abs(p90 - 82.9) < 1e-9)
        #expect(abs(p99 - 98.29) < 1e-9)
        #expect(abs(sd - 32.41990129534) < 1e-9)
    }

    @Test func percentileNames_followTelegraf() {
        #expect(StatsDAggregation.fieldName(90) == "90_percentile")
        #expect(StatsDAggregation.fieldName(99.9) == "99.9_percentile")
    }

    @Test func pastTheExactLimit_percentilesStayWithinOnePercentOfTheSampleAtTheirRank() {
        var generator = SeededGenerator(seed: 7)
        var stats = StatsDTimingStats(exactLimit: 1_000)
        var all: [Double] = []
        for _ in 0..<100_000 {
            // Log-uniform over six decades, and some zeros and negatives.
            let roll = Double.random(in: 0..<1, using: &generator)
            let value =
                roll < 0.01
                ? 0
                : (roll < 0.02
                    ? -Double.random(in: 1...50, using: &generator)
                    : pow(10, Double.random(in: -3...3, using: &generator)))
            stats.add(value)
            all.append(value)
        }
        #expect(!stats.isExact)
        all.sort()
        for p in [1.0, 5, 25, 50, 75, 90, 99, 99.9] {
            let rank = p / 100 * Double(all.count - 1)
            let low = all[Int(rank.rounded(.down))], high = all[Int(rank.rounded(.up))]
            let estimate = stats.percentile(p)
            let lowBound = low > 0 ? low * 0.99 : low * 1.01
            let highBound = high > 0 ? high * 1.01 : high * 0.99
            #expect(
                estimate >= lowBound && estimate <= highBound, "p\(p): \(estimate) not within 1% of \(low)...\(high)")
        }
        #expect(stats.count == 100_000 && stats.lower == all.first && stats.upper == all.last)
    }

    @Test func maxSeries_dropsNewSeriesAndCountsThem_existingOnesGoOn() {
        var settings = StatsDAggregation()
        settings.maxSeries = 3
        var aggregator = StatsDAggregator(settings: settings)
        let text = (0..<5).map { "s\($0):1|c" }.joined(separator: "\n") + "\ns0:1|c\n_sc|x|0"
        let out = StatsDParser().parse(text)
        let added = out.samples.map { aggregator.add($0) }
        #expect(added == [true, true, true, false, false, true])
        let eventAdded = aggregator.add(event: out.events[0])
        #expect(!eventAdded)
        #expect(aggregator.droppedSeries == 3 && aggregator.seriesCount == 3)
        let points = byName(aggregator.flush(at: 1))
        #expect(points["s0"]?.field("value") == .int(2) && points.count == 3)
        // The next interval starts empty (delete_counters): new series fit again.
        let fits = aggregator.add(StatsDSample(name: "s4", kind: .counter, value: 1))
        #expect(fits)
    }

    @Test func deleteFalse_keepsReportingIdleSeries_countersAndSetsAccumulate() {
        var settings = StatsDAggregation()
        settings.deleteCounters = false
        settings.deleteGauges = false
        settings.deleteSets = false
        var aggregator = StatsDAggregator(settings: settings)
        for sample in StatsDParser().parse("c:2|c\ng:5|g\nu:a|s\nt:1|ms").samples { aggregator.add(sample) }
        _ = aggregator.flush(at: 10)
        for sample in StatsDParser().parse("c:3|c\nu:b|s\ng:+1|g").samples { aggregator.add(sample) }
        let second = byName(aggregator.flush(at: 20))
        #expect(second["c"]?.field("value") == .int(5) && second["u"]?.field("value") == .int(2))
        #expect(second["g"]?.field("value") == .float(6) && second["t"] == nil)
        let third = byName(aggregator.flush(at: 30))
        #expect(third["c"]?.field("value") == .int(5) && third["g"]?.time == 30)
    }

    /// A taken interval is the interval as it ended: what arrives after the taking (the listener goes
    /// on reading while the points are made, outside its lock) belongs to the next one, also for
    /// kept series whose entries the aggregator goes on changing.
    @Test func aTakenInterval_isUnchangedByWhatArrivesBeforeItsPointsAreMade() {
        var settings = StatsDAggregation()
        settings.deleteCounters = false
        settings.deleteGauges = false
        var aggregator = StatsDAggregator(settings: settings)
        for sample in StatsDParser().parse("c:2|c\ng:5|g\nt:1|ms\nt:3|ms").samples { aggregator.add(sample) }
        let taken = aggregator.takeInterval(at: 10)
        for sample in StatsDParser().parse("c:3|c\ng:+1|g\nt:100|ms\nnew:1|c").samples { aggregator.add(sample) }
        let first = byName(taken.points())
        #expect(first["c"]?.field("value") == .int(2) && first["g"]?.field("value") == .float(5))
        #expect(first["t"]?.field("upper") == .float(3) && first["t"]?.field("count") == .float(2))
        #expect(first["new"] == nil && first.count == 3)
        let second = byName(aggregator.flush(at: 20))
        #expect(second["c"]?.field("value") == .int(5) && second["g"]?.field("value") == .float(6))
        #expect(second["t"]?.field("count") == .float(1) && second["new"]?.field("value") == .int(1))
    }

    @Test func eventsPassThrough_withTheFlushTimeUnlessTheyHaveTheirOwn() {
        var aggregator = StatsDAggregator()
        for event in StatsDParser().parse("_sc|a|0\n_sc|b|1|d:5").events { aggregator.add(event: event) }
        let points = aggregator.flush(at: 99)
        #expect(points.map(\.time) == [99, 5 * Self.second])
        #expect(aggregator.flush(at: 100).isEmpty)
    }

    @Test func setsAreBounded_membersPastTheLimitAreCountedDropped() {
        var settings = StatsDAggregation()
        settings.setMembers = 2
        let text = ["u:a|s", "u:b|s", "u:c|s", "u:a|s"].joined(separator: "\n")
        var aggregator = StatsDAggregator(settings: settings)
        for sample in StatsDParser().parse(text).samples { aggregator.add(sample) }
        #expect(aggregator.droppedMembers == 1)
        #expect(aggregator.flush(at: 1).first?.field("value") == .int(2))
    }

    @Test func counters_addEachSampleTruncatedToAnInteger_asTelegraf_orFloatsWithFloatCounters() {
        let text = "c:1.7|c\nc:1.7|c\nc:1|c|@0.3\nbig:1e300|c\nbig:1e300|c"
        let ints = aggregate(text)
        // Int64(1.7) + Int64(1.7) + Int64(1 / 0.3): 1 + 1 + 3; huge values saturate.
        #expect(ints["c"]?.field("value") == .int(5))
        #expect(ints["big"]?.field("value") == .int(.max))
        var settings = StatsDAggregation()
        settings.floatCounters = true
        let floats = aggregate(text, settings: settings)
        #expect(floats["c"]?.field("value") == .float(1.7 + 1.7 + 1 / 0.3))
    }

    @Test func metricSeparator_replacesDotsInNames_asTelegrafsDefault_orKeepsThem() {
        let text = "api.requests.ok,region=eu.west:1|c\nplain:2|g"
        let converted = aggregate(text)
        #expect(Set(converted.keys) == ["api_requests_ok", "plain"])
        #expect(converted["api_requests_ok"]?.tag("region") == "eu.west")  // tags are not names
        var settings = StatsDAggregation()
        settings.metricSeparator = "."
        #expect(Set(aggregate(text, settings: settings).keys) == ["api.requests.ok", "plain"])
    }
}
