import Foundation
import Testing

@testable import Gateway

/// What a reload compares: names, and the settings as read.
@Suite struct ReloadChangesTests {
    @Test func namesAreAddedRemovedChangedOrKept() {
        let changes = ReloadChanges(
            old: [("a", "1"), ("b", "2"), ("c", "3")], new: [("b", "2"), ("c", "30"), ("d", "4")])
        #expect(changes.added == ["d"] && changes.removed == ["a"] && changes.changed == ["c"] && changes.kept == ["b"])
        #expect(changes.stopping == ["a", "c"] && changes.making == ["c", "d"])
        #expect(ReloadChanges(old: [("a", "1")], new: [("a", "1")]).isEmpty)
    }
}

/// Reload (SIGHUP, `POST /api/v1/reload`) of the real gateway binary under load, into a real
/// VictoriaMetrics.
@Suite(.serialized, .tags(.slow)) struct ReloadTests {
    static let base: Int64 = 1_760_000_000_000  // ms

    /// Configuration A or B: B sends `vm` bigger batches, and adds a stdout sink with a route of its own
    /// (for the `marker` series) before the catch-all route.
    func config(vm: String, variant: Int) -> String {
        let batch = variant == 0 ? 1000 : 5000
        let sinks = """
            vm: {type: influx2, url: "\(vm)", org: o, bucket: b, token: t, batch_size: \(batch), flush_interval: 100ms,
                   queue_size: 1000000, retry: {max_retries: 1, initial_backoff: 50ms, max_backoff: 500ms}}
            """ + (variant == 0 ? "" : "\n  out: {type: stdout, batch_size: 100, flush_interval: 100ms}")
        let routes =
            variant == 0
            ? "- {to: [vm]}"
            : "- {name: markers, match: {series: marker}, to: [out]}\n  - {name: all, to: [vm]}"
        return testConfig(sinks: sinks, routes: routes, udp: "receive_buffer: 16MiB", http: "ack: memory")
    }

    func rewrite(_ gateway: GatewayProcess, _ text: String) throws {
        try text.replacingOccurrences(of: "$DIR", with: gateway.directory.path).write(
            to: gateway.directory.appendingPathComponent("gateway.yaml"), atomically: true, encoding: .utf8)
    }

    func reload(_ gateway: GatewayProcess) async throws -> (status: Int, outcome: ReloadOutcome) {
        let answer = try await gateway.post("/api/v1/reload", "")
        let outcome = try JSONDecoder().decode(ReloadOutcome.self, from: Data(answer.body.utf8))
        return (answer.status, outcome)
    }

    func lines(_ series: String, _ range: Range<Int>) -> String {
        range.map { "\(series),src=test v=\($0)i \((Self.base + Int64($0)) * 1_000_000)\n" }.joined()
    }

    func expectExactlyOnce(
        _ timestamps: [Int64], _ count: Int, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let distinct = Set(timestamps)
        let expected = Set((0..<count).map { Self.base + Int64($0) })
        #expect(timestamps.count == count, "\(what): samples held", sourceLocation: sourceLocation)
        #expect(
            distinct == expected, "\(what): \(expected.subtracting(distinct).count) missing",
            sourceLocation: sourceLocation)
    }

    /// The issue's test: twenty reloads in 60 s of 100,000 points/s (half over UDP, half over HTTP),
    /// alternating between A and B. Release binary, as users run it.
    @Test func twentyReloadsUnder100kPointsPerSecond_everyPointOnceInVictoriaMetrics_noKernelDrop() async throws {
        let vm = try VictoriaMetrics()
        try await vm.start()
        let gateway = try GatewayProcess(config: config(vm: vm.url, variant: 0), binary: GatewayProcess.releaseBinary)
        try await gateway.start()
        let sender = try UDPSender(port: gateway.udpPort)
        defer { sender.close() }
        let seconds = 60
        let udpTotal = 50_000 * seconds
        let httpTotal = 50_000 * seconds
        // HTTP: 5,000 points every 100 ms, each request answered before the next.
        let http = Task {
            var sent = 0
            var tick = 0
            let start = ContinuousClock.now
            while sent < httpTotal {
                let answer = try await gateway.post("/write?db=x", lines("rl_http", sent..<(sent + 5000)))
                guard answer.status == 204 else { throw TestFailure("write answered \(answer.status): \(answer.body)") }
                sent += 5000
                tick += 1
                try await Task.sleep(until: start + .milliseconds(100 * tick), clock: .continuous)
            }
            return sent
        }
        // Reloads every 3 s, alternating; the markers go to stdout while B runs.
        let reloads = Task {
            var outcomes: [ReloadOutcome] = []
            for round in 1...20 {
                try await Task.sleep(for: .seconds(3))
                try rewrite(gateway, config(vm: vm.url, variant: round % 2))
                let (status, outcome) = try await reload(gateway)
                guard status == 200 else { throw TestFailure("reload \(round) answered \(status): \(outcome)") }
                outcomes.append(outcome)
            }
            return outcomes
        }
        // UDP: 500 points (25 datagrams of 20) every 10 ms.
        let start = ContinuousClock.now
        var sent = 0
        var tick = 0
        while sent < udpTotal {
            for _ in 0..<25 where sent < udpTotal {
                try sender.send(Array(lines("rl_udp", sent..<(sent + 20)).utf8))
                sent += 20
            }
            tick += 1
            try await Task.sleep(until: start + .milliseconds(10 * tick), clock: .continuous)
        }
        let httpSent = try await http.value
        let outcomes = try await reloads.value
        #expect(outcomes.count == 20)
        for (index, outcome) in outcomes.enumerated() {
            let toB = (index + 1) % 2 == 1
            #expect(outcome.result == "applied", "\(outcome)")
            #expect(outcome.sinks?.changed == ["vm"], "\(outcome)")
            #expect(outcome.sinks?.added == (toB ? ["out"] : []) && outcome.sinks?.removed == (toB ? [] : ["out"]))
            #expect(outcome.listeners?.kept.sorted() == ["http", "udp"], "\(outcome)")
            #expect(outcome.routesChanged == true && outcome.failures == nil, "\(outcome)")
        }
        let kernelDrops = try await gateway.metric("gateway_udp_kernel_drops_total")
        #expect(kernelDrops == 0)
        #expect(try await gateway.metric("gateway_points_received_total", ["listener": "udp"]) == Double(udpTotal))
        expectExactlyOnce(
            try await vm.waitForSamples("rl_udp_v", count: udpTotal, timeout: .seconds(120)), udpTotal, "udp")
        expectExactlyOnce(
            try await vm.waitForSamples("rl_http_v", count: httpSent, timeout: .seconds(120)), httpSent, "http")
        let status = try JSONDecoder().decode(
            GatewayStatus.self, from: Data(try await gateway.get("/api/v1/status").body.utf8))
        #expect(status.reload?.result == "applied" && status.reload?.origin == "POST /api/v1/reload")
        #expect(try await gateway.stop() == 0)
        try await vm.stop()
    }

    /// A broken file is refused with `gateway check`'s FILE:LINE problems and the old configuration
    /// goes on; SIGHUP reloads as the endpoint does.
    @Test func aBrokenFileIsRefused_theOldConfigurationGoesOn_andSIGHUPReloads() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        let file = gateway.directory.appendingPathComponent("gateway.yaml").path
        let good = try String(contentsOfFile: file, encoding: .utf8)
        try (good + "\nroutes_typo: 1\n").write(toFile: file, atomically: true, encoding: .utf8)
        let (status, refused) = try await reload(gateway)
        #expect(status == 400)
        #expect(refused.result == "refused")
        #expect(
            refused.errors?.contains { $0.hasPrefix("\(file):") && $0.contains("routes_typo") } == true, "\(refused)")
        try gateway.sendUDP("after_refusal v=1i\n")
        _ = try await gateway.waitForMetric("gateway_points_written_total", ["sink": "out"], atLeast: 1)
        #expect(gateway.stdoutLines.contains { $0.hasPrefix("after_refusal,host=testhost v=1i ") })
        // Fixed, and a stdout sink in JSON added: SIGHUP applies it.
        try good.replacingOccurrences(
            of: "out: {type: stdout, format: line,", with: "out: {type: stdout, format: json,"
        ).write(toFile: file, atomically: true, encoding: .utf8)
        kill(gateway.process.processIdentifier, SIGHUP)
        var reloaded: GatewayStatus?
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let status = try JSONDecoder().decode(
                GatewayStatus.self, from: Data(try await gateway.get("/api/v1/status").body.utf8))
            if status.reload?.origin == "SIGHUP" {
                reloaded = status
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(reloaded?.reload?.result == "applied" && reloaded?.reload?.sinks?.changed == ["out"])
        try gateway.sendUDP("after_sighup v=2i\n")
        _ = try await gateway.waitForMetric("gateway_points_written_total", ["sink": "out"], atLeast: 2)
        #expect(gateway.stdoutLines.contains { $0.contains(#""series":"after_sighup""#) }, "\(gateway.stdout)")
        #expect(try await gateway.stop() == 0)
    }

    /// A backlog spooled while the server is down is taken over by the sink a reload made anew, and
    /// replayed once the server is back.
    @Test func aSpooledBacklog_survivesAReload_andIsReplayedOnce() async throws {
        let vm = try VictoriaMetrics()
        try await vm.start()
        let gateway = try GatewayProcess(config: config(vm: vm.url, variant: 0))
        try await gateway.start()
        try await vm.stop()
        let total = 20_000
        for start in stride(from: 0, to: total, by: 5000) {
            #expect(try await gateway.post("/write?db=x", lines("rl_backlog", start..<(start + 5000))).status == 204)
        }
        let spooled = try await gateway.waitForMetric("gateway_spool_points", ["sink": "vm"], atLeast: Double(total))
        #expect(spooled == Double(total))
        try rewrite(gateway, config(vm: vm.url, variant: 1))
        let (status, outcome) = try await reload(gateway)
        #expect(status == 200 && outcome.sinks?.changed == ["vm"], "\(outcome)")
        #expect(try await gateway.metric("gateway_spool_points", ["sink": "vm"]) == Double(total))
        try await vm.start()
        expectExactlyOnce(
            try await vm.waitForSamples("rl_backlog_v", count: total, timeout: .seconds(120)), total, "backlog")
        _ = try await gateway.waitForMetric("gateway_points_replayed_total", ["sink": "vm"], atLeast: Double(total))
        #expect(try await gateway.metric("gateway_spool_points", ["sink": "vm"]) == 0)
        #expect(try await gateway.stop() == 0)
        try await vm.stop()
    }

    /// A group hands points to its members' queues: a reload that makes a member anew makes the group
    /// anew too, and points reach the new member.
    @Test func aChangedGroupMember_remakesTheGroup_andPointsReachTheNewMember() async throws {
        func groupConfig(_ format: String) -> String {
            testConfig(
                sinks: """
                    out: {type: stdout, format: \(format), batch_size: 100, flush_interval: 100ms}
                      spare: {type: blackhole}
                      g: {type: group, mode: failover, members: [out, spare], flush_interval: 100ms}
                    """, routes: "- {to: [g]}")
        }
        let gateway = try GatewayProcess(config: groupConfig("line"))
        try await gateway.start()
        try gateway.sendUDP("before v=1i\n")
        _ = try await gateway.waitForMetric("gateway_points_written_total", ["sink": "out"], atLeast: 1)
        try rewrite(gateway, groupConfig("json"))
        let (status, outcome) = try await reload(gateway)
        #expect(status == 200, "\(outcome)")
        #expect(outcome.sinks?.changed.sorted() == ["g", "out"] && outcome.sinks?.kept == ["spare"], "\(outcome)")
        try gateway.sendUDP("after v=2i\n")
        _ = try await gateway.waitForMetric("gateway_points_written_total", ["sink": "out"], atLeast: 2)
        #expect(gateway.stdoutLines.contains { $0.hasPrefix("before,host=testhost v=1i ") })
        #expect(gateway.stdoutLines.contains { $0.contains(#""series":"after""#) }, "\(gateway.stdout)")
        #expect(try await gateway.stop() == 0)
    }
}
