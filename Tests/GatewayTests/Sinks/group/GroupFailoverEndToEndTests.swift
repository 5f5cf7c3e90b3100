import Foundation
import Testing

/// A `failover` group of two `influx2` sinks end to end: the real gateway binary, two real
/// VictoriaMetrics servers; the primary stopped under load and started again on the same port and
/// data directory.
@Suite(.serialized, .tags(.slow)) struct GroupFailoverEndToEndTests {
    static let base: Int64 = 1_750_000_000_000  // ms

    /// Point `i` is of series `s = i % 100` at millisecond `base + i`.
    static func body(_ range: Range<Int>) -> [UInt8] {
        Array(range.map { "fo,s=\($0 % 100) v=\($0)i \((base + Int64($0)) * 1_000_000)\n" }.joined().utf8)
    }

    /// The point indices a server stored (each sample's millisecond minus `base`).
    static func indices(_ vm: VictoriaMetrics) async throws -> [Int] {
        try await vm.timestamps("fo_v").map { Int($0 - base) }
    }

    @Test func failover_primaryDownUnderLoad_secondaryTakesOver_primaryBack_noPointLostOrTwice() async throws {
        let primary = try VictoriaMetrics()
        let secondary = try VictoriaMetrics()
        try await primary.start()
        try await secondary.start()
        let member = { (name: String, vm: VictoriaMetrics) in
            """
            \(name): {type: influx2, url: "\(vm.url)", org: o, bucket: b, token: t, batch_size: 2000, flush_interval: 100ms,
                     retry: {max_retries: 1, initial_backoff: 50ms, max_backoff: 500ms, max_wait: 1s}}
            """
        }
        let gateway = try GatewayProcess(
            config: testConfig(
                sinks: [
                    member("primary", primary), member("secondary", secondary),
                    "fo: {type: group, mode: failover, members: [primary, secondary], flush_interval: 100ms}",
                ].joined(separator: "\n  "),
                routes: "- {to: [fo]}"))
        try await gateway.start()
        let perTick = 2000  // every 100 ms: 20,000 points/s
        var sent = 0
        func tick() async throws {
            #expect(try await gateway.post("/api/v2/write", body: Self.body(sent..<(sent + perTick))).status == 204)
            sent += perTick
            try await Task.sleep(for: .milliseconds(100))
        }
        for _ in 0..<20 { try await tick() }
        try await primary.stop()
        let stoppedAt = ContinuousClock.now
        // The secondary takes over once the primary's first failed batch marks it down: its retry
        // (max_wait 1 s) plus one flush interval. The bound only keeps a failover that never happens
        // from hanging; the figure is printed.
        var tookOver: Duration?
        while tookOver == nil, ContinuousClock.now - stoppedAt < .seconds(30) {
            try await tick()
            if try await gateway.metric("gateway_points_written_total", ["sink": "secondary"]) > 0 {
                tookOver = ContinuousClock.now - stoppedAt
            }
        }
        print(
            "failover: the secondary wrote its first points \(String(describing: tookOver)) after the primary stopped")
        #expect(
            tookOver != nil && tookOver! < .seconds(10), "secondary took over after \(String(describing: tookOver))")
        #expect(try await gateway.metric("gateway_group_member_healthy", ["group": "fo", "member": "primary"]) == 0)
        for _ in 0..<30 { try await tick() }
        try await primary.start()
        // Back: the primary replays what it held, reads healthy, and takes new points again.
        var back = false
        for _ in 0..<300 where !back {
            try await tick()
            back = try await gateway.metric("gateway_group_member_healthy", ["group": "fo", "member": "primary"]) == 1
        }
        #expect(back, "the primary never read healthy again")
        let firstAfterBack = sent
        for _ in 0..<20 { try await tick() }
        let total = sent
        let deadline = ContinuousClock.now + .seconds(60)
        var onPrimary: [Int] = []
        var onSecondary: [Int] = []
        while ContinuousClock.now < deadline {
            onPrimary = try await Self.indices(primary)
            onSecondary = try await Self.indices(secondary)
            if onPrimary.count + onSecondary.count >= total { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        let all = onPrimary + onSecondary
        #expect(all.count == total, "samples held: \(all.count) of \(total)")
        #expect(Set(all).count == total, "distinct points held")
        #expect(Set(all) == Set(0..<total), "every point sent is held")
        #expect(!onSecondary.isEmpty)
        #expect(onSecondary.allSatisfy { $0 < firstAfterBack }, "points sent after the primary is back go to it")
        #expect(Set(onPrimary).isSuperset(of: firstAfterBack..<total))
        #expect(try await gateway.metric("gateway_points_spooled_total", ["sink": "secondary"]) == 0)
        // The status shows the group, its mode and, per member, what it was handed and its health.
        let text = try await gateway.get("/api/v1/status").body
        let status = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        let group = (status?["groups"] as? [String: Any])?["fo"] as? [String: Any]
        #expect(group?["mode"] as? String == "failover", "\(text)")
        let members = group?["members"] as? [String: [String: Any]]
        #expect(members?["primary"]?["healthy"] as? Bool == true, "\(text)")
        #expect(members?["primary"]?["points"] as? Int == onPrimary.count, "\(text)")
        #expect(members?["secondary"]?["points"] as? Int == onSecondary.count, "\(text)")
        #expect(try await gateway.stop() == 0)
    }

    /// Shutdown drains the group's queue into its members before they drain: points the group still
    /// held (a long flush interval) reach the server.
    @Test func shutdown_pointsStillInTheGroupsQueue_reachTheMemberAndItsServer() async throws {
        let vm = try VictoriaMetrics()
        try await vm.start()
        let gateway = try GatewayProcess(
            config: testConfig(
                sinks: """
                    only: {type: influx2, url: "\(vm.url)", org: o, bucket: b, token: t, batch_size: 1000, flush_interval: 100ms}
                      fo: {type: group, mode: failover, members: [only], batch_size: 100000, queue_size: 200000, flush_interval: 60s}
                    """,
                routes: "- {to: [fo]}"))
        try await gateway.start()
        #expect(try await gateway.post("/api/v2/write", body: Self.body(0..<5000)).status == 204)
        try await Task.sleep(for: .milliseconds(500))
        #expect(
            try await gateway.metric("gateway_group_points_total", ["group": "fo"]) == 0, "still in the group's queue")
        #expect(try await gateway.stop() == 0)
        let held = try await vm.waitForSamples("fo_v", count: 5000).map { Int($0 - Self.base) }
        #expect(held.count == 5000)
        #expect(Set(held) == Set(0..<5000))
        try await vm.stop()
    }
}
