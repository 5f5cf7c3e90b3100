import Foundation
import TestDoubles
import Testing

/// The `influx2` sink and its spool end to end: the real gateway binary, a real
/// VictoriaMetrics (accepts `/api/v2/write`), real SQLite spool files. Where a status code
/// VictoriaMetrics never sends is needed (401), `InfluxContractDouble` (a TEST DOUBLE answering
/// as InfluxDB documents) stands in, and the test's name says so.
@Suite(.serialized, .tags(.slow)) struct InfluxSinkEndToEndTests {
    static let base: Int64 = 1_750_000_000_000  // ms

    func influxSink(url: String, token: String = "t", extra: String = "") -> String {
        """
        influx: {type: influx2, url: "\(url)", org: o, bucket: b, token: "\(token)", batch_size: 1000, flush_interval: 100ms,
                   retry: {max_retries: 1, initial_backoff: 50ms, max_backoff: 500ms}\(extra.isEmpty ? "" : ", " + extra)}
        """
    }

    /// Line protocol for points `range` of series `e2e`, one distinct millisecond each.
    func lines(_ range: Range<Int>) -> String {
        range.map { "e2e,src=test v=\($0)i \((Self.base + Int64($0)) * 1_000_000)\n" }.joined()
    }

    func expectExactlyOnce(
        _ timestamps: [Int64], _ range: Range<Int>, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let distinct = Set(timestamps)
        let missing = range.count - distinct.intersection(range.map { Self.base + Int64($0) }).count
        #expect(timestamps.count == range.count, "samples held", sourceLocation: sourceLocation)
        #expect(distinct.count == range.count, "distinct samples held", sourceLocation: sourceLocation)
        #expect(missing == 0, "points sent but not held", sourceLocation: sourceLocation)
    }

    @Test func pointsReachVictoriaMetrics_onceEach() async throws {
        let vm = try VictoriaMetrics()
        try await vm.start()
        let gateway = try GatewayProcess(config: testConfig(sinks: influxSink(url: vm.url), routes: "- {to: [influx]}"))
        try await gateway.start()
        #expect(try await gateway.post("/api/v2/write", lines(0..<5000)).status == 204)
        expectExactlyOnce(try await vm.waitForSamples("e2e_v", count: 5000), 0..<5000)
        #expect(try await gateway.metric("gateway_points_written_total", ["sink": "influx"]) == 5000)
        #expect(try await gateway.metric("gateway_points_spooled_total", ["sink": "influx"]) == 0)
        #expect(try await gateway.stop() == 0)
        try await vm.stop()
    }

    /// The issue's outage: 60,000 points/s over UDP for 60 s; VictoriaMetrics stopped at second
    /// 10 and started again at second 40. Release binary, as users run it.
    @Test func udpOutage_60kPerSecondFor60s_vmDownFrom10sTo40s_everyPointExactlyOnce() async throws {
        let vm = try VictoriaMetrics()
        try await vm.start()
        let gateway = try GatewayProcess(
            config: testConfig(
                sinks: influxSink(url: vm.url, extra: "queue_size: 1000000"), routes: "- {to: [influx]}",
                udp: "receive_buffer: 16MiB"),
            binary: GatewayProcess.releaseBinary)
        try await gateway.start()
        let sender = try UDPSender(port: gateway.udpPort)
        defer { sender.close() }
        let perSecond = 60_000
        let seconds = 60
        let perDatagram = 20
        let total = perSecond * seconds
        // 10 ms ticks: 600 points, 30 datagrams per tick.
        let start = ContinuousClock.now
        var sent = 0
        var tick = 0
        var stopped = false
        var restarted = false
        while sent < total {
            for _ in 0..<(perSecond / 100 / perDatagram) where sent < total {
                try sender.send(Array(lines(sent..<(sent + perDatagram)).utf8))
                sent += perDatagram
            }
            tick += 1
            let elapsed = ContinuousClock.now - start
            if !stopped, elapsed >= .seconds(10) {
                try await vm.stop()
                stopped = true
            }
            if !restarted, elapsed >= .seconds(40) {
                // Restarting takes a moment; the sender goes on meanwhile.
                let restart = Task { try await vm.start() }
                restarted = true
                _ = restart
            }
            let due = start + .milliseconds(10 * tick)
            if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
        }
        let sendTime = ContinuousClock.now - start
        // Drain: everything received is written or replayed, the spool empties.
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let delivered =
                try await gateway.metric("gateway_points_written_total", ["sink": "influx"])
                + gateway.metric("gateway_points_replayed_total", ["sink": "influx"])
            if delivered >= Double(total), try await gateway.metric("gateway_spool_points", ["sink": "influx"]) == 0 {
                break
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        let received = try await gateway.metric("gateway_points_received_total", ["listener": "udp"])
        let written = try await gateway.metric("gateway_points_written_total", ["sink": "influx"])
        let spooled = try await gateway.metric("gateway_points_spooled_total", ["sink": "influx"])
        let replayed = try await gateway.metric("gateway_points_replayed_total", ["sink": "influx"])
        let deadLettered = try await gateway.metric("gateway_points_dead_lettered_total", ["sink": "influx"])
        let dropped = try await gateway.metric("gateway_points_dropped_total", ["sink": "influx"])
        let kernelDrops = try await gateway.metric("gateway_udp_kernel_drops_total")
        let summary =
            "sent \(total) in \(sendTime); received \(received) written \(written) spooled \(spooled) replayed \(replayed) dead-lettered \(deadLettered) dropped \(dropped) kernel drops \(kernelDrops)"
        #expect(received == Double(total), "\(summary)")
        #expect(kernelDrops == 0, "\(summary)")
        #expect(spooled > 0, "the outage must have gone through the spool: \(summary)")
        #expect(replayed == spooled, "\(summary)")
        #expect(received == written + replayed + deadLettered + dropped, "\(summary)")
        #expect(dropped == 0, "\(summary)")
        expectExactlyOnce(try await vm.waitForSamples("e2e_v", count: total, timeout: .seconds(120)), 0..<total)
        #expect(try await gateway.stop() == 0)
        try await vm.stop()
    }

    @Test func kill9WithABacklog_restartReplaysIt_nothingLost() async throws {
        let vm = try VictoriaMetrics()  // not started yet: the outage
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("gw-data-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let config = testConfig(sinks: influxSink(url: vm.url), routes: "- {to: [influx]}")
            .replacingOccurrences(of: "data_dir: $DIR/data", with: "data_dir: \(dataDir)")
        let first = try GatewayProcess(config: config)
        try await first.start()
        for chunk in 0..<10 {
            #expect(try await first.post("/api/v2/write", lines(chunk * 2000..<(chunk + 1) * 2000)).status == 204)
        }
        let spooled = try await first.waitForMetric("gateway_spool_points", ["sink": "influx"], atLeast: 20_000)
        #expect(spooled == 20_000)
        try await first.stop(signal: SIGKILL)

        try await vm.start()
        let second = try GatewayProcess(config: config)
        try await second.start()
        #expect(second.stderr.contains("spool holds a backlog"))
        expectExactlyOnce(try await vm.waitForSamples("e2e_v", count: 20_000), 0..<20_000)
        #expect(
            try await second.waitForMetric("gateway_points_replayed_total", ["sink": "influx"], atLeast: 20_000)
                == 20_000)
        #expect(try await second.metric("gateway_spool_points", ["sink": "influx"]) == 0)
        #expect(try await second.stop() == 0)
        try await vm.stop()
    }

    @Test func badToken401_againstTestDouble_spoolGrows_statusSaysWhy_fixedTokenAndRestartDeliversAll() async throws {
        let double = InfluxContractDouble()
        try await double.start()
        double.requireToken("right")
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("gw-data-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let config = testConfig(
            sinks: influxSink(url: double.url, token: "${INFLUX_TOKEN}"), routes: "- {to: [influx]}"
        )
        .replacingOccurrences(of: "data_dir: $DIR/data", with: "data_dir: \(dataDir)")
        let bad = try GatewayProcess(config: config, environment: ["INFLUX_TOKEN": "wrong"])
        try await bad.start()
        #expect(try await bad.post("/api/v2/write", lines(0..<3000)).status == 204)
        #expect(try await bad.waitForMetric("gateway_spool_points", ["sink": "influx"], atLeast: 3000) == 3000)
        #expect(try await bad.post("/api/v2/write", lines(3000..<4000)).status == 204)
        #expect(try await bad.waitForMetric("gateway_spool_points", ["sink": "influx"], atLeast: 4000) == 4000)
        let status = try await bad.get("/api/v1/status").body
        #expect(status.contains("refused: 401"), "\(status)")
        #expect(try await bad.metric("gateway_sink_healthy", ["sink": "influx"]) == 0)
        #expect(try await bad.metric("gateway_points_dropped_total", ["sink": "influx"]) == 0)
        #expect(bad.stderr.contains("Influx refuses writes"))
        #expect(try await bad.stop() == 0)
        #expect(double.accepted.isEmpty)

        let good = try GatewayProcess(config: config, environment: ["INFLUX_TOKEN": "right"])
        try await good.start()
        #expect(
            try await good.waitForMetric("gateway_points_replayed_total", ["sink": "influx"], atLeast: 4000) == 4000)
        let expected = lines(0..<4000).split(separator: "\n").map {
            $0.replacingOccurrences(of: "src=test", with: "host=testhost,src=test")
        }
        // Every line exactly once (replay keeps max_in_flight 2 batches on the wire, so two
        // batches may arrive in either order).
        #expect(double.accepted.sorted() == expected.sorted())
        #expect(try await good.stop() == 0)
        try await double.stop()
    }

    @Test func malformedLine400_againstTestDouble_otherLinesWritten_badOneDeadLettered_exportedWithTheMessage()
        async throws
    {
        let double = InfluxContractDouble()
        try await double.start()
        // As InfluxDB answers a field type conflict: 400, the whole batch refused, the line named.
        double.script { request in
            guard let index = request.lines.firstIndex(where: { $0.hasPrefix("e2e,") && $0.contains("v=\"") }) else {
                return nil
            }
            return .influxError(
                400, code: "invalid",
                message:
                    "failure writing points to database: partial write: field type conflict: input field \"v\" on measurement \"e2e\" is type string, already exists as type integer",
                line: index + 1)
        }
        let gateway = try GatewayProcess(
            config: testConfig(sinks: influxSink(url: double.url), routes: "- {to: [influx]}"))
        try await gateway.start()
        let body = lines(0..<50) + "e2e,src=test v=\"text\" \((Self.base + 50) * 1_000_000)\n" + lines(51..<100)
        #expect(try await gateway.post("/api/v2/write", body).status == 204)
        #expect(
            try await gateway.waitForMetric("gateway_points_dead_lettered_total", ["sink": "influx"], atLeast: 1) == 1)
        #expect(try await gateway.waitForMetric("gateway_points_written_total", ["sink": "influx"], atLeast: 99) == 99)
        #expect(double.accepted.count == 99)
        #expect(!double.accepted.contains { $0.contains("v=\"text\"") })
        // The sink goes on.
        #expect(try await gateway.post("/api/v2/write", lines(100..<200)).status == 204)
        #expect(
            try await gateway.waitForMetric("gateway_points_written_total", ["sink": "influx"], atLeast: 199) == 199)
        #expect(try await gateway.metric("gateway_sink_healthy", ["sink": "influx"]) == 1)
        let configPath = gateway.directory.appendingPathComponent("gateway.yaml").path
        let export = try runGateway(["spool", "export", "--config", configPath, "--dead-letters"])
        #expect(export.status == 0, "\(export.err)")
        #expect(
            export.out.contains("# status 400: failure writing points to database: partial write: field type conflict"),
            "\(export.out)")
        #expect(
            export.out.contains("e2e,host=testhost,src=test v=\"text\" \((Self.base + 50) * 1_000_000)"),
            "\(export.out)")
        #expect(try await gateway.stop() == 0)
        try await double.stop()
    }

    @Test func spoolCommands_statsExportCheck_replayOffline_purge() async throws {
        let vm = try VictoriaMetrics()
        let gateway = try GatewayProcess(config: testConfig(sinks: influxSink(url: vm.url), routes: "- {to: [influx]}"))
        try await gateway.start()
        #expect(try await gateway.post("/api/v2/write", lines(0..<3000)).status == 204)
        #expect(try await gateway.waitForMetric("gateway_spool_points", ["sink": "influx"], atLeast: 3000) == 3000)
        let configPath = gateway.directory.appendingPathComponent("gateway.yaml").path

        // While the gateway holds the file: stats and export read it beside the owner.
        let owned = try runGateway(["spool", "stats", "--config", configPath, "--json"])
        #expect(owned.status == 0, "\(owned.err)")
        #expect(owned.out.contains("\"points\":3000"), "\(owned.out)")
        #expect(owned.out.contains("\"owned_by_running_gateway\":true"), "\(owned.out)")
        #expect(try await gateway.stop() == 0)

        let stats = try runGateway(["spool", "stats", "--config", configPath])
        #expect(stats.status == 0)
        #expect(stats.out.contains("influx\t3\t3000\t"), "\(stats.out)")
        let export = try runGateway(["spool", "export", "--config", configPath, "--sink", "influx"])
        #expect(export.status == 0, "\(export.err)")
        let exported = export.out.split(separator: "\n").map(String.init)
        #expect(
            exported
                == lines(0..<3000).split(separator: "\n").map {
                    $0.replacingOccurrences(of: "src=test", with: "host=testhost,src=test")
                })
        #expect(export.err.contains("exported 3 batches, 3000 points"))
        let check = try runGateway(["spool", "check", "--config", configPath])
        #expect(check.status == 0, "\(check.out)\(check.err)")
        #expect(check.out.contains(": ok (3 batches, 3000 points"), "\(check.out)")

        try await vm.start()
        let replay = try runGateway(["spool", "replay", "--config", configPath])
        #expect(replay.status == 0, "\(replay.err)")
        #expect(replay.err.contains("replayed 3000/3000 points"), "\(replay.err)")
        expectExactlyOnce(try await vm.waitForSamples("e2e_v", count: 3000), 0..<3000)
        let after = try runGateway(["spool", "stats", "--config", configPath, "--json"])
        #expect(after.out.contains("\"points\":0"), "\(after.out)")
        try await vm.stop()

        // Purge, offline.
        let again = try GatewayProcess(config: testConfig(sinks: influxSink(url: vm.url), routes: "- {to: [influx]}"))
        try await again.start()
        #expect(try await again.post("/api/v2/write", lines(0..<1000)).status == 204)
        #expect(try await again.waitForMetric("gateway_spool_points", ["sink": "influx"], atLeast: 1000) == 1000)
        let againConfig = again.directory.appendingPathComponent("gateway.yaml").path
        // Through the running gateway: purge goes over its admin API.
        let purge = try runGateway(["spool", "purge", "--config", againConfig])
        #expect(purge.status == 0, "\(purge.err)")
        #expect(purge.out.contains("purged 1 batches, 1000 points (through the running gateway)"), "\(purge.out)")
        #expect(try await again.metric("gateway_spool_points", ["sink": "influx"]) == 0)
        #expect(try await again.stop() == 0)
    }

    @Test func replayThroughTheRunningGateway_skipsItsBackoff() async throws {
        let vm = try VictoriaMetrics()
        let sink = influxSink(url: vm.url).replacingOccurrences(
            of: "retry: {max_retries: 1, initial_backoff: 50ms, max_backoff: 500ms}",
            with: "retry: {max_retries: 0, initial_backoff: 10m, max_backoff: 10m}")
        let gateway = try GatewayProcess(config: testConfig(sinks: sink, routes: "- {to: [influx]}"))
        try await gateway.start()
        #expect(try await gateway.post("/api/v2/write", lines(0..<2000)).status == 204)
        #expect(try await gateway.waitForMetric("gateway_spool_points", ["sink": "influx"], atLeast: 2000) == 2000)
        // Let the replayer fail once and settle into its 10-minute backoff.
        try await Task.sleep(for: .milliseconds(500))
        try await vm.start()
        let configPath = gateway.directory.appendingPathComponent("gateway.yaml").path
        let replay = try runGateway(["spool", "replay", "--config", configPath])
        #expect(replay.status == 0, "\(replay.err)")
        #expect(replay.err.contains("replay requested from the running gateway"), "\(replay.err)")
        expectExactlyOnce(try await vm.waitForSamples("e2e_v", count: 2000), 0..<2000)
        #expect(try await gateway.stop() == 0)
        try await vm.stop()
    }

    @Test func spoolSinkArchivesPoints_readBackWithExport() async throws {
        let gateway = try GatewayProcess(
            config: testConfig(
                sinks: "archive: {type: spool, batch_size: 500, flush_interval: 100ms}", routes: "- {to: [archive]}"))
        try await gateway.start()
        #expect(try await gateway.post("/api/v2/write", lines(0..<1200)).status == 204)
        #expect(
            try await gateway.waitForMetric("gateway_points_written_total", ["sink": "archive"], atLeast: 1200) == 1200)
        #expect(try await gateway.metric("gateway_sink_healthy", ["sink": "archive"]) == 1, "a healthy archive reads 1")
        #expect(try await gateway.stop() == 0)
        let configPath = gateway.directory.appendingPathComponent("gateway.yaml").path
        let export = try runGateway(["spool", "export", "--config", configPath])
        #expect(export.status == 0, "\(export.err)")
        #expect(export.out.split(separator: "\n").count == 1200)
        let replay = try runGateway(["spool", "replay", "--config", configPath])
        #expect(replay.status != 0)
        #expect(replay.err.contains("is not a network sink"), "\(replay.err)")
        let unknown = try runGateway(["spool", "stats", "--config", configPath, "--sink", "nope"])
        #expect(unknown.status != 0)
        #expect(
            unknown.err.contains(#"no spool for sink "nope""#) && unknown.err.contains("spools: archive"),
            "\(unknown.err)")
        let missing = try runGateway([
            "spool", "check", "--file", "/nonexistent/spool.db", "--config", "/nonexistent.yaml",
        ])
        #expect(missing.status == 0, "\(missing.err)")
        #expect(missing.out.contains("no spool file yet"), "\(missing.out)")
    }

    @Test func spoolAdminAPI_badRequestsGetClearAnswers() async throws {
        let gateway = try GatewayProcess(
            config: testConfig(sinks: "archive: {type: spool}", routes: "- {to: [archive]}", http: "token: s3cret"))
        try await gateway.start()
        let auth = [("Authorization", "Token s3cret")]
        #expect(try await gateway.post("/api/v1/spool/archive/purge", "").status == 401)
        let unknown = try await gateway.post("/api/v1/spool/nope/replay", "", headers: auth)
        #expect(unknown.status == 404)
        #expect(unknown.body.contains(#"no spool for sink \"nope\" (spools: archive)"#), "\(unknown.body)")
        let archive = try await gateway.post("/api/v1/spool/archive/replay", "", headers: auth)
        #expect(archive.status == 409)
        #expect(archive.body.contains("is an archive"), "\(archive.body)")
        let purge = try await gateway.post("/api/v1/spool/archive/purge", "", headers: auth)
        #expect(purge.status == 200, "\(purge.body)")
        #expect(try await gateway.stop() == 0)
    }

    @Test func sigtermWhileInfluxIsDown_spoolsWhatIsInMemory() async throws {
        let vm = try VictoriaMetrics()
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("gw-data-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        // A long flush interval holds the points in the queue until shutdown.
        let sink = influxSink(url: vm.url).replacingOccurrences(
            of: "batch_size: 1000, flush_interval: 100ms", with: "batch_size: 100000, flush_interval: 60s")
        let config = testConfig(sinks: sink, routes: "- {to: [influx]}").replacingOccurrences(
            of: "data_dir: $DIR/data", with: "data_dir: \(dataDir)")
        let first = try GatewayProcess(config: config)
        try await first.start()
        #expect(try await first.post("/api/v2/write", lines(0..<5000)).status == 204)
        #expect(try await first.waitForMetric("gateway_sink_queue_points", ["sink": "influx"], atLeast: 5000) == 5000)
        #expect(try await first.stop() == 0)
        #expect(first.stderr.contains("spool closed"))
        try await vm.start()
        let second = try GatewayProcess(config: config)
        try await second.start()
        expectExactlyOnce(try await vm.waitForSamples("e2e_v", count: 5000), 0..<5000)
        #expect(try await second.stop() == 0)
        try await vm.stop()
    }
}
