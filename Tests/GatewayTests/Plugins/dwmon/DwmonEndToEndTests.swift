import Foundation
import GRDB
import TestDoubles
import Testing

/// The dwmon plugin in the real binary: a checker over a real SQLite warehouse, its BAD checks
/// reaching a webhook receiver (an in-test HTTP server) and VictoriaMetrics (through the influx2
/// sink) as `dwmon_check` points, and its HTTP API on the gateway's listener.
@Suite(.serialized, .tags(.slow)) struct DwmonEndToEndTests {
    @Test func aBADCheck_reachesTheWebhookReceiver_andVictoriaMetricsAsAPoint() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dwmon-e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(dir)/checkers", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let now = Int64(Date().timeIntervalSince1970)
        try warehouse(
            at: "\(dir)/warehouse.db",
            """
            CREATE TABLE model_executions (execution_id TEXT, ts INTEGER);
            INSERT INTO model_executions VALUES ('e1', \(now - 5)), ('e2', \(now - 4));
            """)
        try """
        __QUERY__
        SELECT execution_id AS dwmon_unique_key, ts AS dwmon_timestamp FROM model_executions
        ORDER BY dwmon_timestamp DESC LIMIT 10000
        __REQUIREMENTS__
        CHECKHOURS0-23 CHECKMINUTES0-59 WEEKENDS WEEKDAYS MINNUM5 MAXNUM20 LOOKBACKSECONDS60
        __SOURCE__
        warehouse
        __EXTRA__
        {"alert": "data-team@example.com"}

        """.write(toFile: "\(dir)/checkers/model_executions.dwmon", atomically: true, encoding: .utf8)

        let receiver = InfluxContractDouble()
        receiver.script { _ in .init(status: 200) }
        try await receiver.start()
        let vm = try VictoriaMetrics()
        try await vm.start()
        let gateway = try GatewayProcess(
            config: testConfig(
                sinks: """
                    influx: {type: influx2, url: "\(vm.url)", org: o, bucket: b, batch_size: 100, flush_interval: 100ms}
                    """,
                routes: "- {to: [influx]}",
                extra: """
                    plugins:
                      dwmon:
                        type: dwmon
                        checkers_dir: \(dir)/checkers
                        timezone: UTC
                        sources: {warehouse: {type: sqlite, path: \(dir)/warehouse.db}}
                        webhook: {url: "\(receiver.url)/hooks/dwmon", backoff: 100ms}
                    """))
        try await gateway.start()

        // At start the new checker backfills its horizon (10 minutes for a 60 s look-back): every
        // one of those minutes holds fewer than 5 keys, so 10 BAD checks.
        let alerts = try await waitUntil { receiver.requests.count >= 10 ? receiver.requests : nil }
        #expect(alerts.count == 10)
        let alert = try #require(
            try JSONSerialization.jsonObject(with: Data(alerts.last!.lines.joined().utf8)) as? [String: Any])
        #expect(alerts.last?.path == "/hooks/dwmon")
        #expect(alert["checker"] as? String == "model_executions")
        #expect(alert["status"] as? String == "BAD")
        #expect(alert["requirement"] as? Int == 5)
        #expect(alert["min_required"] as? Int == 5)
        #expect((alert["extra"] as? [String: Any])?["alert"] as? String == "data-team@example.com")
        let minutes = try await vm.waitForSamples("dwmon_check_event_count", count: 10)
        #expect(minutes.count == 10)
        #expect(minutes.allSatisfy { $0 % 60_000 == 0 })  // each check sits at its minute
        let export = try await vm.get("/api/v1/export?match[]=dwmon_check_min_required")
        #expect(export.body.contains(#""checker":"model_executions""#), "\(export.body)")
        #expect(export.body.contains(#""status":"BAD""#))
        #expect(export.body.contains(#""requirement":"5""#))

        // The API: the latest check per line, and run-now (nothing new is due within this minute
        // unless the minute turned meanwhile).
        let checks = try await gateway.get("/api/v1/dwmon/checks")
        #expect(checks.status == 200)
        #expect(checks.body.contains(#""status":"BAD""#), "\(checks.body)")
        let run = try await gateway.post("/api/v1/dwmon/checkers/model_executions/run", "")
        #expect(run.status == 200, "\(run.body)")
        #expect(run.body.contains(#""rows":2"#), "\(run.body)")
        #expect(try await gateway.post("/api/v1/dwmon/checkers/nope/run", "").status == 404)
        #expect(try await gateway.metric("gateway_points_received_total", ["listener": "plugin:dwmon"]) >= 10)
        #expect(try await gateway.metric("gateway_plugin_dwmon_webhook_total", ["outcome": "delivered"]) >= 10)
        let status = try await gateway.get("/api/v1/status")
        #expect(status.body.contains(#""checkers":["model_executions"]"#), "\(status.body)")

        #expect(try await gateway.stop() == 0)
        #expect(gateway.stderr.contains("dwmon check BAD"))
        try await vm.stop()
        try await receiver.stop()
    }

    /// Creates an SQLite database (synchronously: from async code GRDB would pick its async API).
    func warehouse(at path: String, _ sql: String) throws {
        let db = try DatabaseQueue(path: path)
        try db.write { try $0.execute(sql: sql) }
        try db.close()
    }

    func waitUntil<T>(seconds: Double = 30, _ probe: () -> T?) async throws -> T {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let value = probe() { return value }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("condition not met within \(seconds) s")
    }
}
