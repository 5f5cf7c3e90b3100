import Foundation
import TestDoubles
import Testing

/// `/metrics` as a Prometheus user expects it: every family with `# HELP`, sorted, the process's own
/// figures, a build-info metric, checked by Prometheus' own linter (`promtool check metrics`, from
/// Debian's `prometheus`, which `scripts/install-deps.sh --test` installs).
@Suite struct MetricsExpositionTests {
    @Test func metrics_passPromtool_everyFamilyHasHelp_sorted_withProcessFigures_andHonestHealth() async throws {
        let closedPort = try freeTCPPort()  // nothing listens there: the Influx server is down
        let gateway = try GatewayProcess(
            config: testConfig(
                sinks: """
                    out: {type: stdout, format: line, batch_size: 1000, flush_interval: 100ms}
                      archive: {type: spool, batch_size: 1000, flush_interval: 100ms}
                      influx: {type: influx2, url: "http://127.0.0.1:\(closedPort)", org: o, bucket: b, token: t, batch_size: 1000, flush_interval: 100ms, retry: {max_retries: 0}}
                      grp: {type: group, mode: failover, members: [influx], flush_interval: 100ms}
                    """, routes: "- {to: [out, archive, grp]}",
                extra: "plugins:\n  proc: {type: proc, interval: 1s}"))
        try await gateway.start()
        #expect(try await gateway.post("/api/v2/write", "m v=1i 1\nm v=2i 2\n").status == 204)
        #expect(try await gateway.get("/no/such/path").status == 404)
        _ = try await gateway.waitForMetric("gateway_points_spooled_total", ["sink": "influx"], atLeast: 2)
        _ = try await gateway.waitForMetric("gateway_plugin_proc_passes_total", atLeast: 2)
        let text = try await gateway.get("/metrics").body
        #expect(try await gateway.stop() == 0)

        // promtool's verdict.
        let promtool = Process()
        promtool.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        promtool.arguments = ["check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        promtool.standardInput = input
        promtool.standardOutput = output
        promtool.standardError = output
        try promtool.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        promtool.waitUntilExit()
        #expect(promtool.terminationStatus == 0 && said.isEmpty, "promtool: \(said)")

        let lines = text.split(separator: "\n")
        let families = lines.filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        let helped = Set(lines.filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] })
        #expect(families == families.sorted(), "families sorted by name")
        #expect(Set(families) == helped, "families without help: \(Set(families).subtracting(helped))")
        #expect(!text.contains("no help text"), "a family is missing from MetricHelp")
        for name in [
            "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_max_fds",
            "process_start_time_seconds", "gateway_build_info",
        ] {
            #expect(families.contains(Substring(name)), "\(name) missing")
        }
        #expect(
            text.contains(
                #"gateway_http_requests_total{listener="http",endpoint="/api/v2/write",method="POST",code="204"} 1"#),
            "requests counted by endpoint, method and code")
        #expect(text.contains(#"endpoint="unmatched",method="GET",code="404"} 1"#), "a path no route serves")
        #expect(
            text.contains(
                #"gateway_http_request_duration_seconds_count{listener="http",endpoint="/api/v2/write",method="POST"} 1"#
            ))
        #expect(text.contains("gateway_sink_healthy{sink=\"archive\"} 1"), "a healthy archive reads 1")
        #expect(text.contains("gateway_sink_healthy{sink=\"influx\"} 0"), "an Influx sink whose server is down reads 0")
    }
}
