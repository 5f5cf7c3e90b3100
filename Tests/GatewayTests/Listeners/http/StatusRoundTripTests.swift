import Foundation
import Testing

@testable import Gateway

/// `/api/v1/status` and `/api/v1/spool` of a running gateway decode into the typed answers the
/// gateway encodes them from, and their counters are the ones `/metrics` exports.
@Suite struct StatusRoundTripTests {
    @Test func status_decodesIntoItsTypes_andAgreesWithMetrics() async throws {
        let gateway = try GatewayProcess(
            config: testConfig(
                sinks: """
                    out: {type: stdout, format: line, batch_size: 1000, flush_interval: 100ms, queue_max_bytes: 2MiB}
                      archive: {type: spool, batch_size: 1000, flush_interval: 100ms}
                    """, routes: "- {name: all, to: [out, archive]}",
                extra: "plugins:\n  proc: {type: proc, collect: false}\n  idle: {type: proc, enabled: false}"))
        try await gateway.start()
        #expect(try await gateway.post("/api/v2/write", "m v=1i 1\nm v=2i 2\nm v=3i 3\n").status == 204)
        #expect(try await gateway.post("/api/v1/points", #"[{"series": "m", "fields": {}}]"#).status == 400)
        _ = try await gateway.waitForMetric("gateway_points_written_total", ["sink": "archive"], atLeast: 3)
        _ = try await gateway.waitForMetric("gateway_points_written_total", ["sink": "out"], atLeast: 3)

        let body = try await gateway.get("/api/v1/status").body
        let status = try JSONDecoder().decode(GatewayStatus.self, from: Data(body.utf8))
        #expect(status.name == "testhost")
        #expect(status.status == "pass")
        #expect(status.uptimeSeconds >= 0)
        let http = try #require(status.listeners["http"], "\(body)")
        #expect((http.pointsReceived ?? 0) >= 3)
        #expect(http.pointsAccepted == 3)
        #expect(http.pointsRejected?.values.reduce(0, +) == 1, "\(body)")
        #expect(status.sinks["out"]?.pointsWritten == 3)
        #expect(status.sinks["archive"]?.pointsWritten == 3)
        // The queues' memory and its limit (written out, so nothing is queued now).
        #expect(status.sinks["out"]?.sinkQueueMaxBytes == 2 << 20, "\(body)")
        #expect(status.sinks["archive"]?.sinkQueueMaxBytes == 32 << 20, "\(body)")
        #expect(status.sinks["out"]?.sinkQueueBytes == 0, "\(body)")
        let spool = try #require(status.sinks["archive"]?.spool, "\(body)")
        #expect(spool.type == "spool")
        #expect(spool.points == 3)
        #expect(spool.writable)
        #expect(spool.health == nil, "the spool's health is the sink's: \(body)")
        #expect(status.sinks["archive"]?.health == "healthy")
        #expect(status.routes["all"] == 3, "\(body)")
        #expect(status.pointsUnrouted == 0)
        #expect(status.plugins["proc"]?.enabled == true)
        #expect(status.plugins["proc"]?.type == "proc")
        #expect(status.plugins["idle"]?.enabled == false)
        #expect(status.plugins["idle"]?.type == "proc")
        // The plugin's own state sits beside `enabled` in one object.
        let raw = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        let proc = try #require((raw["plugins"] as? [String: Any])?["proc"] as? [String: Any])
        // `host` only when configured (the points carry the gateway's host tag); `ip` always.
        #expect(proc["ip"] is String && proc["collect"] as? Bool == false && proc["passes"] is Int, "\(proc)")

        // The same counters as /metrics.
        #expect(
            try await gateway.metric("gateway_points_received_total", ["listener": "http"])
                == Double(http.pointsReceived ?? -1))
        #expect(try await gateway.metric("gateway_points_rejected_total", ["listener": "http"]) == 1)
        #expect(try await gateway.metric("gateway_points_routed_total", ["route": "all"]) == 3)

        let spools = try JSONDecoder().decode(
            SpoolList.self, from: Data(try await gateway.get("/api/v1/spool").body.utf8))
        #expect(spools.sinks["archive"]?.points == 3)
        #expect(spools.sinks["archive"]?.health == "healthy")
        #expect(try await gateway.stop() == 0)
    }
}
