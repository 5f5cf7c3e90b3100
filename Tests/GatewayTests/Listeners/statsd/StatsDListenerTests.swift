import Foundation
import Testing

/// The statsd listener against the real binary and real sockets (UDP and TCP).
@Suite(.serialized) struct StatsDListenerTests {
    static func config(_ statsd: String) -> String {
        testConfig().replacingOccurrences(
            of: "listeners:\n", with: "listeners:\n  sd: {type: statsd, listen: \"127.0.0.1:0\", \(statsd)}\n")
    }

    static func start(_ statsd: String) async throws -> (GatewayProcess, Int) {
        let gateway = try GatewayProcess(config: config(statsd))
        try await gateway.start()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let port = GatewayProcess.port(in: gateway.stderr, listener: "sd") { return (gateway, port) }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("statsd listener not ready:\n\(gateway.stderr)")
    }

    static func sendTCP(port: Int, _ text: String) throws {
        let connection = try RawTCP(port: port)
        try connection.send(text)  // closed when `connection` goes
    }

    @Test func udpAndTcpLines_areAggregated_andShutdownFlushesTheCurrentInterval() async throws {
        // An interval of an hour: only the shutdown flush can emit these points.
        let (gateway, port) = try await Self.start("protocol: both, flush_interval: 1h")
        let udp = try UDPSender(port: port)
        try udp.send(
            Array("hits:1|c|@0.5\nhits:3|c\nload:5|g\nload:+2|g\nload:-10|g\nrt:10|ms\nrt:20|ms|#env:prod".utf8))
        try udp.send(Array("u:alice|s\nu:bob|s\nu:alice|s\nrt:30|ms\n_sc|db.up|2|m:down".utf8))
        try Self.sendTCP(port: port, "hits:4|c\nrt,env=prod:40|ms\n")
        try Self.sendTCP(port: port, "tcp.last:1|c")  // no final newline: still a line at close
        let received = try await gateway.waitForMetric("gateway_statsd_lines_total", ["listener": "sd"], atLeast: 15)
        #expect(received == 15, "\(gateway.stderr)")
        #expect(try await gateway.metric("gateway_statsd_series", ["listener": "sd"]) == 7)
        #expect(try await gateway.metric("gateway_points_rejected_total", ["listener": "sd"]) == 0)
        #expect(gateway.stdoutLines.isEmpty)
        #expect(try await gateway.stop() == 0)
        let lines = gateway.stdoutLines
        let time = try #require(lines.first?.split(separator: " ").last)
        #expect(lines.allSatisfy { $0.hasSuffix(" \(time)") })
        #expect(
            Set(lines.map { String($0.dropLast(time.count + 1)) }) == [
                "hits,host=testhost,metric_type=counter value=9i",
                "load,host=testhost,metric_type=gauge value=-3",
                "u,host=testhost,metric_type=set value=2i",
                "rt,host=testhost,metric_type=timing count=2,lower=10,upper=30,mean=20,median=20,stddev=10,sum=40,"
                    + "50_percentile=20,90_percentile=28,99_percentile=29.8",
                "rt,env=prod,host=testhost,metric_type=timing count=2,lower=20,upper=40,mean=30,median=30,stddev=10,"
                    + "sum=60,50_percentile=30,90_percentile=38,99_percentile=39.8",
                "tcp_last,host=testhost,metric_type=counter value=1i",
                #"statsd_service_check,check=db.up,host=testhost status=2i,message="down""#,
            ], "\(lines)")
    }

    @Test func malformedLines_areCountedByReason_andTheRestOfTheDatagramGoesOn() async throws {
        let (gateway, port) = try await Self.start("flush_interval: 1h")
        let udp = try UDPSender(port: port)
        try udp.send(Array("ok:1|c\nnocolon\nx:1\nx:1|zz\nx:abc|c\nx:1|c|@3\nx:1|c|#:v\nok:2|c".utf8))
        let reasons = ["no_colon", "no_pipe", "unknown_type", "invalid_value", "bad_rate", "bad_tag"]
        #expect(try await gateway.waitForMetric("gateway_statsd_lines_total", ["listener": "sd"], atLeast: 8) == 8)
        for reason in reasons {
            #expect(
                try await gateway.metric("gateway_points_rejected_total", ["listener": "sd", "reason": reason]) == 1,
                "\(reason)")
        }
        #expect(try await gateway.stop() == 0)
        #expect(
            gateway.stdoutLines.count == 1
                && gateway.stdoutLines.first?.hasPrefix("ok,host=testhost,metric_type=counter value=3i ") == true)
        #expect(gateway.stderr.contains("reason=no_colon"))
    }

    @Test func pastMaxSeries_newSeriesAreDroppedAndCounted_existingOnesGoOn() async throws {
        let (gateway, port) = try await Self.start("flush_interval: 1h, max_series: 5")
        let udp = try UDPSender(port: port)
        try udp.send(Array((0..<10).map { "s\($0):1|c" }.joined(separator: "\n").utf8))
        try udp.send(Array("s0:1|c\ns9:1|c".utf8))
        #expect(try await gateway.waitForMetric("gateway_statsd_lines_total", ["listener": "sd"], atLeast: 12) == 12)
        #expect(try await gateway.metric("gateway_statsd_dropped_series_total", ["listener": "sd"]) == 6)
        #expect(
            try await gateway.metric("gateway_points_rejected_total", ["listener": "sd", "reason": "max_series"]) == 6)
        #expect(try await gateway.metric("gateway_statsd_series", ["listener": "sd"]) == 5)
        // The same figures in /api/v1/status, under the listener's `statsd` part.
        let status = try await gateway.get("/api/v1/status")
        let object = try JSONSerialization.jsonObject(with: Data(status.body.utf8)) as? [String: Any]
        let listeners = object?["listeners"] as? [String: Any]
        let part = (listeners?["sd"] as? [String: Any])?["statsd"] as? [String: Int]
        #expect(part == ["lines": 12, "series": 5, "flushes": 0, "dropped_series": 6], "\(status.body)")
        #expect(try await gateway.stop() == 0)
        let values = gateway.stdoutLines.map { $0.split(separator: " ")[0...1].joined(separator: " ") }.sorted()
        #expect(values == (0..<5).map { "s\($0),host=testhost,metric_type=counter value=\($0 == 0 ? 2 : 1)i" })
    }

    @Test func flushesFallOnMultiplesOfTheInterval() async throws {
        let (gateway, port) = try await Self.start("flush_interval: 200ms")
        let udp = try UDPSender(port: port)
        try udp.send(Array("tick:1|c".utf8))
        #expect(try await gateway.waitForMetric("gateway_points_accepted_total", ["listener": "sd"], atLeast: 1) == 1)
        #expect(try await gateway.metric("gateway_statsd_flushes_total", ["listener": "sd"]) >= 1)
        #expect(try await gateway.stop() == 0)
        let line = try #require(gateway.stdoutLines.first)
        let time = try #require(Int64(line.split(separator: " ").last ?? ""))
        #expect(time % 200_000_000 == 0, "\(line)")
        #expect(gateway.stdoutLines.count == 1)
    }
}
