import CoreMetrics
import GatewayCore

/// The `group` sink: takes batches from its own queue and hands every point to its member(s)'
/// queues, where each member's worker, spool and health take over. It sends nothing itself.
///
/// - `shard`: each series to the member(s) ``Rendezvous`` places it on. A member that is down keeps
///   its series: its own sink spools them and replays them when it is back. With
///   `reroute_when_down`, a series whose member is down goes to the next healthy member in its
///   ranking instead (a member counts as down while its health is not `healthy`).
/// - `failover`: each batch to the first member (in the order written) that is healthy, the first
///   member when none is. What a member took before it went down stays with it (its queue and
///   spool) and is delivered by it when it answers again: no point is handed to two members.
///
/// Health is read once per batch from each member's ``NetworkSinkControl``; a member that is not a
/// network sink is always healthy. A point is written to a member once the member's queue took it;
/// points a member's queue drops (`when_full: drop_*`) are counted on the member. With `ack:
/// durable`, the batch is settled once every member settled its part.
public final class GroupSink: Sink, Sendable {
    struct Member: Sendable {
        let handle: SinkHandle
        /// `gateway_group_points_total{group,member}`: points handed to the member.
        let points: CoreMetrics.Counter
        /// `gateway_group_rerouted_points_total{group,member}`: of those, points it took for a
        /// member that was down (`reroute_when_down`).
        let rerouted: CoreMetrics.Counter
        /// `gateway_group_member_healthy{group,member}`.
        let healthy: CoreMetrics.Gauge

        var isHealthy: Bool { handle.control.map { $0.health == .healthy } ?? true }
    }

    public let name: String
    public let mode: GroupSettings.Mode
    public let replicas: Int
    public let rerouteWhenDown: Bool
    let members: [Member]
    let placement: Rendezvous
    let metrics: SinkMetrics

    public init(
        name: String, mode: GroupSettings.Mode, members: [SinkHandle], replicas: Int, rerouteWhenDown: Bool,
        metrics: SinkMetrics, factory: any MetricsFactory
    ) {
        self.name = name
        self.mode = mode
        self.replicas = max(1, min(replicas, members.count))
        self.rerouteWhenDown = rerouteWhenDown
        self.members = members.map { handle in
            let dimensions = [("group", name), ("member", handle.name)]
            return Member(
                handle: handle,
                points: Counter(label: "gateway_group_points_total", dimensions: dimensions, factory: factory),
                rerouted: Counter(
                    label: "gateway_group_rerouted_points_total", dimensions: dimensions, factory: factory),
                healthy: Gauge(label: "gateway_group_member_healthy", dimensions: dimensions, factory: factory))
        }
        placement = Rendezvous(members: members.map(\.name))
        self.metrics = metrics
        Gauge(label: "gateway_group_members", dimensions: [("group", name), ("mode", mode.rawValue)], factory: factory)
            .record(members.count)
        recordHealth()
    }

    public var countsOwnWrites: Bool { true }
    public var settlesBatches: Bool { true }

    /// Each member's health as `gateway_group_member_healthy` (1 healthy, 0 not).
    public func recordHealth() {
        for member in members { member.healthy.record(member.isHealthy ? 1 : 0) }
    }

    public func write(_ batch: PointBatch) async {
        if batch.isEmpty { return batch.settle() }
        let healthy = members.map(\.isHealthy)
        var parts = [[Point]](repeating: [], count: members.count)
        var rerouted = [Int](repeating: 0, count: members.count)
        switch mode {
        case .failover:
            parts[healthy.firstIndex(of: true) ?? 0] = batch.points
        case .shard:
            place(batch, healthy: healthy, into: &parts, rerouted: &rerouted)
        }
        // The group's hold on the batch: released once every member's queue took its part, so the
        // batch settles when the last member settles what it took.
        let acknowledgement = batch.acknowledgements.isEmpty ? nil : Acknowledgement { batch.settle() }
        for index in members.indices where !parts[index].isEmpty {
            let member = members[index]
            let count = parts[index].count
            let dropped = await member.handle.queue.push(parts[index], acknowledgement: acknowledgement)
            if dropped > 0 { member.handle.metrics.droppedQueueFull.increment(by: Int64(dropped)) }
            member.points.increment(by: Int64(count - dropped))
            if rerouted[index] > 0 { member.rerouted.increment(by: Int64(rerouted[index])) }
        }
        metrics.written.increment(by: Int64(batch.count))
        metrics.batches.increment()
        if let acknowledgement { acknowledgement.release() } else { batch.settle() }
        for (index, member) in members.enumerated() { member.healthy.record(healthy[index] ? 1 : 0) }
    }

    /// Shard placement of a batch: each point to its series' top `replicas` members; with
    /// `reroute_when_down`, healthy members in ranking order first, then (when fewer than
    /// `replicas` are healthy) its own members that are down.
    func place(_ batch: PointBatch, healthy: [Bool], into parts: inout [[Point]], rerouted: inout [Int]) {
        let share = batch.count * replicas / max(1, members.count) + 16
        for index in parts.indices { parts[index].reserveCapacity(share) }
        if replicas == 1, !rerouteWhenDown {
            for point in batch { parts[placement.first(Rendezvous.seriesHash(point))].append(point) }
            return
        }
        var order = [Int](repeating: 0, count: members.count)
        var scores = [UInt64](repeating: 0, count: members.count)
        for point in batch {
            placement.rank(Rendezvous.seriesHash(point), order: &order, scores: &scores)
            if !rerouteWhenDown {
                for rank in 0..<replicas { parts[order[rank]].append(point) }
                continue
            }
            var placed = 0
            for rank in order.indices where placed < replicas && healthy[order[rank]] {
                parts[order[rank]].append(point)
                if rank >= replicas { rerouted[order[rank]] += 1 }
                placed += 1
            }
            for rank in 0..<replicas where placed < replicas && !healthy[order[rank]] {
                parts[order[rank]].append(point)
                placed += 1
            }
        }
    }
}

extension Rendezvous {
    /// ``ranking(_:)`` into buffers the caller reuses (no allocation per point): `order` holds the
    /// member indices, highest score first.
    @inline(__always)
    func rank(_ hash: UInt64, order: inout [Int], scores: inout [UInt64]) {
        for index in seeds.indices {
            let score = Self.splitmix64(hash ^ seeds[index])
            var slot = index
            while slot > 0, scores[slot - 1] < score {
                scores[slot] = scores[slot - 1]
                order[slot] = order[slot - 1]
                slot -= 1
            }
            scores[slot] = score
            order[slot] = index
        }
    }
}
