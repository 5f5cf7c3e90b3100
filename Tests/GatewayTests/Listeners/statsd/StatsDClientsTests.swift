import Foundation
import Testing

/// The official DogStatsD client (`datadog`) and the `statsd` Python client, used as an app would,
/// into the real gateway, whose aggregates go to a real VictoriaMetrics through the influx2 sink:
/// counts with sample rates, gauge deltas, set cardinality, and timing statistics equal to Python's
/// (numpy's method) on the same samples, or within the stated 1 % past `timing_samples`.
@Suite(.serialized, .tags(.slow)) struct StatsDClientsTests {
    @Test func realClients_produceTheExpectedAggregatesInVictoriaMetrics() async throws {
        let vm = try VictoriaMetrics()
        try await vm.start()
        defer { Task { [vm] in try? await vm.stop() } }
        // One interval of an hour: the shutdown flush emits everything sent, as one interval.
        let config = """
            gateway:
              name: testhost
              data_dir: $DIR/data
            listeners:
              sd: {type: statsd, listen: "127.0.0.1:0", flush_interval: 1h, receive_buffer: 8MiB}
              http: {type: http, listen: "127.0.0.1:0"}
            sinks:
              vm: {type: influx2, url: "\(vm.url)", org: o, bucket: b, token: t, flush_interval: 100ms}
            routes:
              - {to: [vm]}
            """
        let gateway = try GatewayProcess(config: config)
        try await gateway.start(listeners: ["http"])
        let port = try #require(GatewayProcess.port(in: gateway.stderr, listener: "sd"))

        let expectedFile = gateway.directory.appendingPathComponent("expected.json")
        let script = try #require(
            Bundle.module.url(forResource: "statsd_clients", withExtension: "py", subdirectory: "Scripts"))
        let python = Process()
        python.executableURL = GatewayProcess.packageRoot.appendingPathComponent(".venv/bin/python3")
        python.arguments = [script.path, "\(port)", expectedFile.path]
        let errors = Pipe()
        python.standardError = errors
        python.standardOutput = FileHandle.nullDevice
        try python.run()
        let errorOutput = errors.fileHandleForReading.readDataToEndOfFile()
        python.waitUntilExit()
        try #require(
            python.terminationStatus == 0,
            "python clients failed (scripts/install-deps.sh --test installs datadog and statsd): \(String(decoding: errorOutput, as: UTF8.self))"
        )
        let expectedText = try Data(contentsOf: expectedFile)
        let parsed = try? JSONSerialization.jsonObject(with: expectedText)
        let expected = try #require(
            parsed as? [String: Any], "\(String(decoding: expectedText.prefix(300), as: UTF8.self))")
        let lines = try #require(expected["lines"] as? Int)
        let checks = try #require(expected["checks"] as? [[String: Any]])

        // Every line the clients sent arrived (no loss on loopback), none refused; then the shutdown flush.
        #expect(
            try await gateway.waitForMetric("gateway_statsd_lines_total", ["listener": "sd"], atLeast: Double(lines))
                == Double(lines))
        #expect(try await gateway.metric("gateway_points_rejected_total", ["listener": "sd"]) == 0)
        #expect(try await gateway.stop() == 0)

        let stored = try await Self.export(vm, series: checks.count)
        #expect(stored.count == checks.count, "one series per check: \(stored.keys.sorted())")
        for check in checks {
            let metric = try #require(check["metric"] as? String)
            var labels = try #require(check["labels"] as? [String: String])
            labels["host"] = "testhost"
            let key = Self.key(metric, labels)
            guard let values = stored[key] else {
                Issue.record("VictoriaMetrics has no \(key); it has \(stored.keys.sorted())")
                continue
            }
            #expect(values.count == 1, "\(key): \(values)")
            let got = values[0]
            if let value = (check["value"] as? NSNumber)?.doubleValue {
                #expect(abs(got - value) <= 1e-9 * max(1, abs(value)), "\(key): got \(got), expected \(value)")
            } else {
                let low = try #require((check["low"] as? NSNumber)?.doubleValue)
                let high = try #require((check["high"] as? NSNumber)?.doubleValue)
                #expect(got >= low && got <= high, "\(key): got \(got), expected within 1 % of \(low)...\(high)")
            }
        }
    }

    static func key(_ metric: String, _ labels: [String: String]) -> String {
        metric + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
    }

    /// Every sample VictoriaMetrics stored for the clients' series, by name and labels.
    static func export(_ vm: VictoriaMetrics, series: Int) async throws -> [String: [Double]] {
        let match = #"{__name__=~"(dd|py)_.*"}"#  // the HTTP client encodes it
        var stored: [String: [Double]] = [:]
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            _ = try await vm.get("/internal/force_flush")
            let answer = try await vm.get("/api/v1/export?match[]=\(match)")
            stored = [:]
            for line in answer.body.split(separator: "\n") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    var labels = object["metric"] as? [String: String], let values = object["values"] as? [NSNumber],
                    let name = labels.removeValue(forKey: "__name__")
                else { continue }
                stored[key(name, labels)] = values.map(\.doubleValue)
            }
            // VictoriaMetrics makes new series searchable a moment after it acknowledged them.
            if stored.count >= series { return stored }
            if answer.status != 200 {
                throw TestFailure("export answered \(answer.status): \(answer.body.prefix(300))")
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        return stored
    }
}
