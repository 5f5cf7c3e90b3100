import Foundation
import GatewayCore
import Sinks
import Testing

/// A `group` of `influx2` sinks end to end: the real gateway binary, three real VictoriaMetrics
/// servers (each on its own port and data directory), points sent over HTTP, what each server
/// stored exported and counted point by point.
@Suite(.serialized, .tags(.slow)) struct GroupShardEndToEndTests {
    static let base: Int64 = 1_750_000_000_000  // ms
    static let series = 10_000
    static let members = ["vm_a", "vm_b", "vm_c"]

    /// Point `i` is of series `s = i % 10,000` at millisecond `base + i`: distinct in every series.
    static func body(_ range: Range<Int>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(range.count * 48)
        for i in range {
            out.append(contentsOf: "grp,s=\(i % series) v=\(i)i \((base + Int64(i)) * 1_000_000)\n".utf8)
        }
        return out
    }

    static func config(_ servers: [VictoriaMetrics], group: String) -> String {
        let members = zip(Self.members, servers).map { name, vm in
            """
            \(name): {type: influx2, url: "\(vm.url)", org: o, bucket: b, token: t, batch_size: 5000, flush_interval: 100ms,
                     queue_size: 2000000, retry: {max_retries: 1, initial_backoff: 50ms, max_backoff: 500ms, max_wait: 1s}}
            """
        }
        return testConfig(
            sinks: (members + ["grp: {type: group, \(group), batch_size: 5000, flush_interval: 100ms}"])
                .joined(separator: "\n  "),
            routes: "- {to: [grp]}")
    }

    /// Where the hash places series `s` (the README's documented placement).
    static func owners(replicas: Int) -> [[String]] {
        let rendezvous = Rendezvous(members: members)
        return (0..<series).map { s in
            // The gateway adds its default tag `host` (testConfig names it testhost) before routing.
            let tags = [Tag("host", "testhost"), Tag("s", "\(s)")]
            let point = Point(series: "grp", time: 0, tags: tags, fields: [Field("v", .int(0))])
            return rendezvous.ranking(Rendezvous.seriesHash(point)).prefix(replicas).map { members[$0] }
        }
    }

    static func startServers() async throws -> [VictoriaMetrics] {
        var servers: [VictoriaMetrics] = []
        for _ in members {
            let vm = try VictoriaMetrics()
            try await vm.start()
            servers.append(vm)
        }
        return servers
    }

    /// Posts `range` in bodies of 10,000 points, four requests at a time.
    static func send(_ gateway: GatewayProcess, _ range: Range<Int>) async throws {
        let bodies = stride(from: range.lowerBound, to: range.upperBound, by: 10_000).map {
            $0..<min($0 + 10_000, range.upperBound)
        }
        try await withThrowingTaskGroup(of: Int.self) { group in
            var next = 0
            for _ in 0..<4 where next < bodies.count {
                let part = bodies[next]
                group.addTask { try await gateway.post("/api/v2/write", body: body(part)).status }
                next += 1
            }
            while let status = try await group.next() {
                #expect(status == 204)
                if next < bodies.count {
                    let part = bodies[next]
                    group.addTask { try await gateway.post("/api/v2/write", body: body(part)).status }
                    next += 1
                }
            }
        }
    }

    /// Waits until the members delivered `total` points (directly or from their spools) with
    /// nothing left in their spools.
    static func waitForDelivery(_ gateway: GatewayProcess, total: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        var delivered = 0.0
        while ContinuousClock.now < deadline {
            delivered = 0
            var spooled = 0.0
            for member in members {
                delivered += try await gateway.metric("gateway_points_written_total", ["sink": member])
                delivered += try await gateway.metric("gateway_points_replayed_total", ["sink": member])
                spooled += try await gateway.metric("gateway_spool_points", ["sink": member])
            }
            if delivered >= Double(total), spooled == 0 { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestFailure("members delivered \(Int(delivered)) of \(total) points:\n\(gateway.stderr.suffix(3000))")
    }

    /// Every (series, millisecond) each server stored, once it holds `total` samples in all.
    static func stored(_ servers: [VictoriaMetrics], total: Int) async throws -> [[(series: Int, time: Int64)]] {
        let deadline = ContinuousClock.now + .seconds(60)
        var out: [[(series: Int, time: Int64)]] = []
        while true {
            out = []
            for vm in servers {
                _ = try await vm.get("/internal/force_flush")
                let answer = try await vm.get("/api/v1/export/csv?format=s,__timestamp__:unix_ms&match[]=grp_v")
                #expect(answer.status == 200)
                out.append(
                    answer.body.split(separator: "\n").compactMap { line in
                        let parts = line.split(separator: ",")
                        guard parts.count == 2, let s = Int(parts[0]), let t = Int64(parts[1]) else { return nil }
                        return (s, t)
                    })
            }
            if out.map(\.count).reduce(0, +) >= total || ContinuousClock.now >= deadline { return out }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    @Test func shard_1MPointsOver10kSeries_eachSeriesOnExactlyItsOneServer_aThirdEach() async throws {
        let servers = try await Self.startServers()
        let gateway = try GatewayProcess(
            config: Self.config(servers, group: "mode: shard, members: [vm_a, vm_b, vm_c]"))
        try await gateway.start()
        let total = 1_000_000
        try await Self.send(gateway, 0..<total)
        try await Self.waitForDelivery(gateway, total: total)
        let held = try await Self.stored(servers, total: total)
        let owners = Self.owners(replicas: 1)
        var seriesOn = [Set<Int>](repeating: [], count: servers.count)
        for (index, samples) in held.enumerated() {
            for sample in samples { seriesOn[index].insert(sample.series) }
            // Every sample on the server the hash names for its series.
            let misplaced = samples.filter { owners[$0.series] != [Self.members[index]] }.count
            #expect(misplaced == 0, "\(Self.members[index]) holds \(misplaced) samples of other servers' series")
            let share = Double(seriesOn[index].count) / Double(Self.series)
            #expect(abs(share - 1.0 / 3) <= 0.03, "\(Self.members[index]) holds \(seriesOn[index].count) series")
            // 100 points per series, each once.
            #expect(samples.count == seriesOn[index].count * 100, "\(Self.members[index]) samples")
            #expect(Set(samples.map(\.time)).count == samples.count, "no sample twice on \(Self.members[index])")
        }
        #expect(seriesOn.map(\.count).reduce(0, +) == Self.series, "each series on exactly one server")
        #expect(held.map(\.count).reduce(0, +) == total)
        for member in Self.members {
            let handed = try await gateway.metric("gateway_group_points_total", ["group": "grp", "member": member])
            #expect(Int(handed) == held[Self.members.firstIndex(of: member)!].count, "\(member) handed")
        }
        #expect(try await gateway.stop() == 0)
    }

    @Test func shardWithTwoReplicas_everyPointOnExactlyTwoServers() async throws {
        let servers = try await Self.startServers()
        let gateway = try GatewayProcess(
            config: Self.config(servers, group: "mode: shard, replicas: 2, members: [vm_a, vm_b, vm_c]"))
        try await gateway.start()
        let total = 1_000_000
        try await Self.send(gateway, 0..<total)
        try await Self.waitForDelivery(gateway, total: 2 * total)
        let held = try await Self.stored(servers, total: 2 * total)
        let owners = Self.owners(replicas: 2)
        var copies = [UInt8](repeating: 0, count: total)
        for (index, samples) in held.enumerated() {
            let misplaced = samples.filter { !owners[$0.series].contains(Self.members[index]) }.count
            #expect(misplaced == 0, "\(Self.members[index]) holds samples of series it is no replica of")
            for sample in samples { copies[Int(sample.time - Self.base)] &+= 1 }
        }
        #expect(copies.allSatisfy { $0 == 2 }, "points not on exactly two servers: \(copies.filter { $0 != 2 }.count)")
        #expect(held.map(\.count).reduce(0, +) == 2 * total)
        #expect(try await gateway.stop() == 0)
    }

    /// 100,000 points/s over HTTP for 25 s; `vm_b` stopped from second 3 to second 23 and started
    /// again on the same port and data directory. Its series wait in its own spool (none go to the
    /// other servers) and every point ends exactly once on its own server. Release binary, as users
    /// run it.
    @Test func shard_oneServerDownFor20sUnder100kPerSecond_everyPointOnceOnItsOwnServer() async throws {
        let servers = try await Self.startServers()
        let gateway = try GatewayProcess(
            config: Self.config(servers, group: "mode: shard, members: [vm_a, vm_b, vm_c]"),
            binary: GatewayProcess.releaseBinary)
        try await gateway.start()
        let perTick = 10_000  // every 100 ms: 100,000 points/s
        let ticks = 250
        let start = ContinuousClock.now
        // Stopping and starting run beside the load, which keeps its pace.
        var stopping: Task<Void, any Error>?
        var starting: Task<Void, any Error>?
        let server = servers[1]
        for tick in 0..<ticks {
            try await Self.send(gateway, (tick * perTick)..<((tick + 1) * perTick))
            let elapsed = ContinuousClock.now - start
            if stopping == nil, elapsed >= .seconds(3) { stopping = Task { try await server.stop() } }
            if let stopping, starting == nil, elapsed >= .seconds(23) {
                try await stopping.value
                starting = Task { try await server.start() }
            }
            let next = start + .milliseconds(100 * (tick + 1))
            if next > ContinuousClock.now { try await Task.sleep(until: next) }
        }
        try await stopping?.value
        if let starting { try await starting.value } else { try await server.start() }
        let total = perTick * ticks
        let took = ContinuousClock.now - start
        print("group outage test: \(total) points sent in \(took) (vm_b down 20 s)")
        try await Self.waitForDelivery(gateway, total: total)
        #expect(try await gateway.metric("gateway_points_spooled_total", ["sink": "vm_b"]) > 0, "vm_b's share waited")
        for member in ["vm_a", "vm_c"] {
            #expect(try await gateway.metric("gateway_points_spooled_total", ["sink": member]) == 0)
        }
        let held = try await Self.stored(servers, total: total)
        let owners = Self.owners(replicas: 1)
        let perSeries = total / Self.series
        for (index, samples) in held.enumerated() {
            let own = owners.indices.filter { owners[$0] == [Self.members[index]] }.count
            #expect(samples.count == own * perSeries, "\(Self.members[index]) holds exactly its series' points")
            #expect(samples.allSatisfy { owners[$0.series] == [Self.members[index]] })
            #expect(Set(samples.map(\.time)).count == samples.count, "no point twice on \(Self.members[index])")
        }
        #expect(held.map(\.count).reduce(0, +) == total)
        #expect(try await gateway.stop() == 0)
    }
}
