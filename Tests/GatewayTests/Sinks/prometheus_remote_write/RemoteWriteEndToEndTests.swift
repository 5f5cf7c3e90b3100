import Foundation
import TestDoubles
import Testing

/// The `prometheus_remote_write` sink end to end: the real gateway binary takes line protocol over
/// HTTP and UDP and writes remote write to a real Prometheus (its remote-write receiver) and a real
/// VictoriaMetrics (`/api/v1/write`); what they store, queried back, must equal what was sent:
/// names (sanitised), labels, values (booleans 0/1) and millisecond timestamps; string fields left
/// out and counted. And an outage: spooled, replayed, every point exactly once.
@Suite(.serialized, .tags(.slow)) struct RemoteWriteEndToEndTests {
    /// Ten minutes ago, whole seconds (ms): Prometheus takes samples within an hour of its newest.
    static let base: Int64 = (Int64(Date().timeIntervalSince1970) - 600) * 1000

    func sink(url: String, extra: String = "") -> String {
        """
        rw: {type: prometheus_remote_write, url: "\(url)", batch_size: 1000, flush_interval: 100ms, max_in_flight: 1,
               retry: {max_retries: 1, initial_backoff: 50ms, max_backoff: 500ms}\(extra.isEmpty ? "" : ", " + extra)}
        """
    }

    /// Point `i`: series `cpu.load` (a name to sanitise), a tag key to sanitise, an integer, a
    /// float, a boolean and a string field, at `base + i` ms (plus some nanoseconds, cut off).
    func line(_ i: Int) -> String {
        let ns = (Self.base + Int64(i)) * 1_000_000 + 123_456
        return
            "cpu.load,dc=eu,core-id=c\(i % 3) idle=\(i)i,ratio=\(Double(i) / 4),up=\(i % 2 == 0),state=\"s\(i)\" \(ns)\n"
    }

    /// What must be stored for points `range`: three samples each (`state` left out).
    func expected(_ range: Range<Int>) -> Set<String> {
        var out = Set<String>()
        for i in range {
            let labels = "core_id=c\(i % 3),dc=eu,host=testhost"
            let t = Self.base + Int64(i)
            out.insert("{__name__=cpu_load_idle,\(labels)} \(Double(i)) @\(t)")
            out.insert("{__name__=cpu_load_ratio,\(labels)} \(Double(i) / 4) @\(t)")
            out.insert("{__name__=cpu_load_up,\(labels)} \(i % 2 == 0 ? 1.0 : 0.0) @\(t)")
        }
        return out
    }

    /// `got` equals `expected`; a failure names the first few samples missing and unexpected.
    func expectSame(_ got: Set<String>, _ expected: Set<String>, sourceLocation: SourceLocation = #_sourceLocation) {
        let missing = expected.subtracting(got).sorted()
        let unexpected = got.subtracting(expected).sorted()
        #expect(
            missing.isEmpty && unexpected.isEmpty,
            "\(missing.count) missing, e.g. \(missing.prefix(3)); \(unexpected.count) unexpected, e.g. \(unexpected.prefix(3))",
            sourceLocation: sourceLocation)
    }

    /// Sends points 0..<n/2 over HTTP and n/2..<n over UDP (20 lines per datagram).
    func send(_ n: Int, to gateway: GatewayProcess) async throws {
        let half = n / 2
        #expect(try await gateway.post("/api/v2/write", (0..<half).map(line).joined()).status == 204)
        for start in stride(from: half, to: n, by: 20) {
            try gateway.sendUDP((start..<min(start + 20, n)).map(line).joined())
        }
    }

    @Test func prometheusStoresWhatWasSent_namesLabelsValuesTimes() async throws {
        let prometheus = try PrometheusServer()
        try await prometheus.start()
        let gateway = try GatewayProcess(
            config: testConfig(sinks: sink(url: prometheus.writeURL), routes: "- {to: [rw]}"))
        try await gateway.start()
        let n = 600
        try await send(n, to: gateway)
        let stored = try await prometheus.waitForSamples(
            "{__name__=~\"cpu_load_.*\"}", at: Self.base + Int64(n), count: 3 * n)
        let got = Set(stored.map(\.description))
        #expect(stored.count == 3 * n)
        expectSame(got, expected(0..<n))
        #expect(try await gateway.metric("gateway_points_written_total", ["sink": "rw"]) == Double(n))
        #expect(
            try await gateway.metric("gateway_sink_fields_dropped_total", ["sink": "rw", "reason": "string"])
                == Double(n))
        #expect(try await gateway.metric("gateway_points_dead_lettered_total", ["sink": "rw"]) == 0)
        #expect(try await gateway.stop() == 0)
        try await prometheus.stop()
    }

    @Test func victoriaMetricsStoresWhatWasSent_namesLabelsValuesTimes() async throws {
        let vm = try VictoriaMetrics()
        try await vm.start()
        let gateway = try GatewayProcess(
            config: testConfig(
                sinks: sink(url: vm.url + "/api/v1/write", extra: "max_in_flight: 4"), routes: "- {to: [rw]}"
            )
            .replacingOccurrences(of: "max_in_flight: 1,", with: ""))
        try await gateway.start()
        let n = 600
        try await send(n, to: gateway)
        var got = Set<String>()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            got = try await exported(vm, "{__name__=~\"cpu_load_.*\"}")
            if got.count >= 3 * n { break }
            try await Task.sleep(for: .milliseconds(300))
        }
        expectSame(got, expected(0..<n))
        #expect(
            try await gateway.metric("gateway_sink_fields_dropped_total", ["sink": "rw", "reason": "string"])
                == Double(n))
        #expect(try await gateway.stop() == 0)
        try await vm.stop()
    }

    /// VictoriaMetrics down: the batches go to the spool; back: replayed, each point stored once.
    @Test func receiverDownThenBack_spooledAndReplayed_everyPointExactlyOnce() async throws {
        let vm = try VictoriaMetrics()  // not started yet: the outage
        let gateway = try GatewayProcess(
            config: testConfig(sinks: sink(url: vm.url + "/api/v1/write"), routes: "- {to: [rw]}"))
        try await gateway.start()
        let n = 20_000
        for chunk in 0..<10 {
            let body = (chunk * 2000..<(chunk + 1) * 2000).map(line).joined()
            #expect(try await gateway.post("/api/v2/write", body).status == 204)
        }
        #expect(
            try await gateway.waitForMetric("gateway_spool_points", ["sink": "rw"], atLeast: Double(n)) == Double(n))
        #expect(try await gateway.metric("gateway_sink_healthy", ["sink": "rw"]) == 0)
        try await vm.start()
        #expect(
            try await gateway.waitForMetric("gateway_points_replayed_total", ["sink": "rw"], atLeast: Double(n))
                == Double(n))
        for field in ["idle", "ratio", "up"] {
            let times = try await vm.waitForSamples("cpu_load_\(field)", count: n)
            #expect(times.count == n, "\(field): samples held")
            #expect(Set(times) == Set((0..<n).map { Self.base + Int64($0) }), "\(field): each point exactly once")
        }
        #expect(try await gateway.metric("gateway_spool_points", ["sink": "rw"]) == 0)
        // Counted once each, though every batch was encoded again on each attempt.
        #expect(
            try await gateway.metric("gateway_sink_fields_dropped_total", ["sink": "rw", "reason": "string"])
                == Double(n))
        #expect(try await gateway.stop() == 0)
        try await vm.stop()
    }

    /// `gateway spool replay` with no gateway running sends a remote-write sink's spool itself.
    @Test func offlineSpoolReplay_sendsTheBacklog_exactlyOnce() async throws {
        let vm = try VictoriaMetrics()  // not started yet: the outage
        let gateway = try GatewayProcess(
            config: testConfig(sinks: sink(url: vm.url + "/api/v1/write"), routes: "- {to: [rw]}"))
        try await gateway.start()
        let n = 3000
        #expect(try await gateway.post("/api/v2/write", (0..<n).map(line).joined()).status == 204)
        #expect(
            try await gateway.waitForMetric("gateway_spool_points", ["sink": "rw"], atLeast: Double(n)) == Double(n))
        #expect(try await gateway.stop() == 0)
        try await vm.start()
        let configPath = gateway.directory.appendingPathComponent("gateway.yaml").path
        let replay = try runGateway(["spool", "replay", "--config", configPath])
        #expect(replay.status == 0, "\(replay.err)")
        #expect(replay.err.contains("replayed \(n)/\(n) points"), "\(replay.err)")
        let times = try await vm.waitForSamples("cpu_load_idle", count: n)
        #expect(times.count == n)
        #expect(Set(times) == Set((0..<n).map { Self.base + Int64($0) }))
        try await vm.stop()
    }

    /// VictoriaMetrics' `/api/v1/export` (JSON lines) as `{labels} value @ms` per sample.
    func exported(_ vm: VictoriaMetrics, _ selector: String) async throws -> Set<String> {
        _ = try await vm.get("/internal/force_flush")
        let match = selector.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? selector
        let answer = try await vm.get("/api/v1/export?match%5B%5D=\(match)")
        guard answer.status == 200 else { throw TestFailure("export answered \(answer.status): \(answer.body)") }
        var out = Set<String>()
        for row in answer.body.split(separator: "\n") {
            guard let object = try JSONSerialization.jsonObject(with: Data(row.utf8)) as? [String: Any],
                let metric = object["metric"] as? [String: String],
                let values = (object["values"] as? [NSNumber])?.map(\.doubleValue),
                let times = (object["timestamps"] as? [NSNumber])?.map(\.int64Value)
            else { throw TestFailure("unexpected export row: \(row.prefix(300))") }
            let labels = metric.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            for (value, time) in zip(values, times) { out.insert("{\(labels)} \(value) @\(time)") }
        }
        return out
    }
}
