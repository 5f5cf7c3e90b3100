import GatewayCore
import Metrics
import Synchronization
import Testing

@testable import Sinks

/// A member's health as the group reads it (a TEST DOUBLE for a network sink's control; the real
/// sinks are used end to end in GatewayTests/Sinks/group).
final class HealthDouble: NetworkSinkControl {
    let name: String
    private let current = Mutex(NetworkSinkHealth.healthy)
    init(_ name: String) { self.name = name }
    var health: NetworkSinkHealth {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
    var spool: SpoolStore? { nil }
    func replayNow() {}
    func expedite() {}
}

/// The group's placement into its members' queues, with each member's health set by hand.
@Suite struct GroupSinkTests {
    struct Setup {
        var sink: GroupSink
        var queues: [SinkQueue]
        var health: [HealthDouble]
    }

    func group(_ mode: GroupSettings.Mode, members: Int = 3, replicas: Int = 1, reroute: Bool = false) -> Setup {
        let names = (0..<members).map { "m\($0)" }
        let queues = names.map { _ in SinkQueue(capacity: 1_000_000, policy: .block) }
        let health = names.map { HealthDouble($0) }
        let handles = names.indices.map {
            SinkHandle(
                name: names[$0], queue: queues[$0],
                metrics: SinkMetrics(sink: names[$0], factory: NOOPMetricsHandler.instance), control: health[$0])
        }
        let sink = GroupSink(
            name: "g", mode: mode, members: handles, replicas: replicas, rerouteWhenDown: reroute,
            metrics: SinkMetrics(sink: "g", factory: NOOPMetricsHandler.instance), factory: NOOPMetricsHandler.instance)
        return Setup(sink: sink, queues: queues, health: health)
    }

    func points(_ range: Range<Int>, seriesCount: Int = 100) -> [Point] {
        range.map {
            Point(series: "s", time: Int64($0), tags: [Tag("k", "\($0 % seriesCount)")], fields: [Field("v", .int(1))])
        }
    }

    /// Per member: the series keys (tag `k`) it holds and how many points.
    func held(_ queue: SinkQueue) -> (series: Set<String>, points: Int) {
        let batch = queue.takeBatch(max: 1_000_000)
        return (Set(batch.compactMap { $0.tag("k") }), batch.count)
    }

    @Test func shard_eachSeriesOnExactlyOneMember_everyPointOnce() async {
        let setup = group(.shard)
        await setup.sink.write(PointBatch(points(0..<3000)))
        let held = setup.queues.map(held)
        #expect(held.map(\.points).reduce(0, +) == 3000)
        #expect(held.map(\.series.count).reduce(0, +) == 100, "no series on two members")
        #expect(held.allSatisfy { $0.points > 0 })
    }

    @Test func shardWithTwoReplicas_everyPointOnTwoDistinctMembers() async {
        let setup = group(.shard, replicas: 2)
        await setup.sink.write(PointBatch(points(0..<3000)))
        var copies: [Int64: Int] = [:]
        for queue in setup.queues {
            for point in queue.takeBatch(max: 1_000_000) { copies[point.time, default: 0] += 1 }
        }
        #expect(copies.count == 3000)
        #expect(copies.values.allSatisfy { $0 == 2 })
    }

    @Test func shard_aDownMemberKeepsItsSeries_unlessRerouteWhenDown() async {
        let kept = group(.shard)
        await kept.sink.write(PointBatch(points(0..<3000)))
        let placement = kept.queues.map(held)
        kept.health[1].health = .retrying("connection refused")
        await kept.sink.write(PointBatch(points(0..<3000)))
        #expect(kept.queues.map(held).map(\.series) == placement.map(\.series), "placement is kept while m1 is down")

        let rerouted = group(.shard, reroute: true)
        rerouted.health[1].health = .retrying("connection refused")
        await rerouted.sink.write(PointBatch(points(0..<3000)))
        let moved = rerouted.queues.map(held)
        #expect(moved[1].points == 0, "nothing goes to the member that is down")
        #expect(moved.map(\.points).reduce(0, +) == 3000)
        #expect(moved[0].series.isSuperset(of: placement[0].series))
        #expect(moved[2].series.isSuperset(of: placement[2].series))
    }

    @Test func failover_toTheFirstHealthyMember_andBackWhenItAnswers() async {
        let setup = group(.failover)
        await setup.sink.write(PointBatch(points(0..<10)))
        setup.health[0].health = .retrying("503")
        await setup.sink.write(PointBatch(points(10..<20)))
        setup.health[1].health = .refused("401")
        await setup.sink.write(PointBatch(points(20..<30)))
        setup.health[0].health = .healthy
        await setup.sink.write(PointBatch(points(30..<40)))
        let times = setup.queues.map { Set($0.takeBatch(max: 100).map(\.time)) }
        #expect(times[0] == Set((0..<10).map(Int64.init) + (30..<40).map(Int64.init)))
        #expect(times[1] == Set((10..<20).map(Int64.init)))
        #expect(times[2] == Set((20..<30).map(Int64.init)))
    }

    @Test func failover_allDown_theFirstMemberKeepsThePoints() async {
        let setup = group(.failover, members: 2)
        for health in setup.health { health.health = .retrying("down") }
        await setup.sink.write(PointBatch(points(0..<10)))
        #expect(setup.queues.map(\.count) == [10, 0])
    }

    @Test func aDurableBatch_settlesOnceEveryMemberSettledItsPart() async {
        let setup = group(.shard)
        let settled = Atomic(false)
        let acknowledgement = Acknowledgement { settled.store(true, ordering: .relaxed) }
        var batch = PointBatch(points(0..<300))
        batch.acknowledgements = [acknowledgement]
        await setup.sink.write(batch)
        let early = settled.load(ordering: .relaxed)
        #expect(!early, "members still hold their parts")
        let parts = setup.queues.map { $0.takeBatch(max: 1000) }
        for part in parts.dropLast() { part.settle() }
        let beforeLast = settled.load(ordering: .relaxed)
        #expect(!beforeLast)
        parts.last?.settle()
        let after = settled.load(ordering: .relaxed)
        #expect(after)
    }
}
