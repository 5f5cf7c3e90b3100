import Foundation
import GatewayCore
import Testing

/// The official Python `influxdb-client` pointed at the gateway must not notice the difference.
@Suite(.serialized, .tags(.slow)) struct InfluxClientTests {
    @Test func pythonInfluxClient_batchingWrites100kPoints_allAcknowledged_andPrintedIntact() async throws {
        let script = try #require(
            Bundle.module.url(forResource: "influx_client_write", withExtension: "py", subdirectory: "Scripts"))
        let gateway = try GatewayProcess(
            config: testConfig(
                sinks: "out: {type: stdout, format: line, batch_size: 5000, queue_size: 200000}",
                http: "token: test-token"))
        try await gateway.start()
        let expectedFile = gateway.directory.appendingPathComponent("expected.lp")
        let python = Process()
        // The project's virtual environment (scripts/install-deps.sh --test makes it).
        python.executableURL = GatewayProcess.packageRoot.appendingPathComponent(".venv/bin/python3")
        python.arguments = [script.path, gateway.baseURL, "100000", expectedFile.path]
        let pipe = Pipe()
        let errors = Pipe()
        python.standardOutput = pipe
        python.standardError = errors
        try python.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        let errorOutput = errors.fileHandleForReading.readDataToEndOfFile()
        python.waitUntilExit()
        try #require(
            python.terminationStatus == 0,
            "python influxdb-client failed (is it installed? scripts/test.sh installs it): \(String(decoding: errorOutput, as: UTF8.self))"
        )
        let summary = try JSONSerialization.jsonObject(with: output) as? [String: Any]
        #expect((summary?["errors"] as? [Any])?.isEmpty == true, "\(String(decoding: output, as: UTF8.self))")
        #expect(summary?["retries"] as? Int == 0)
        #expect(summary?["success"] as? Int == 100_000)

        #expect(
            try await gateway.waitForMetric("gateway_points_written_total", ["sink": "out"], atLeast: 100_000)
                == 100_000)
        #expect(try await gateway.stop() == 0)
        let decoder = LineProtocolDecoder()
        let expected = decoder.decode(try String(contentsOf: expectedFile, encoding: .utf8))
        let printed = decoder.decode(gateway.stdout)
        #expect(expected.errors.isEmpty)
        #expect(printed.errors.isEmpty)
        #expect(expected.points.count == 100_000)
        #expect(printed.points.count == 100_000)
        // Same points: values, types (float, int, bool, string) and timestamps intact.
        let sort: (Point, Point) -> Bool = { $0.time < $1.time }
        let a = expected.points.sorted(by: sort)
        let b = printed.points.sorted(by: sort)
        #expect(a == b)
        #expect(b.first?.field("count") == .int(0))
        #expect(b.first?.field("value") == .float(0.25))
        #expect(b.first?.field("ok") == .bool(true))
        #expect(b.first?.field("label") == .string(#"say "hi" 0, ok\"#))
    }
}
