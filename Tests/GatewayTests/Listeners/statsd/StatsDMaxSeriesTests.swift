import Foundation
import Testing

/// A million distinct series at once: memory stays within `max_series`' documented bound, the excess
/// is counted, and the gateway keeps serving.
@Suite(.serialized, .tags(.slow)) struct StatsDMaxSeriesTests {
    static func rss(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    @Test func aMillionDistinctSeries_memoryStaysBounded_theExcessIsCounted_andTheGatewayServes() async throws {
        let config = testConfig(sinks: "out: {type: blackhole}").replacingOccurrences(
            of: "listeners:\n",
            with:
                "listeners:\n  sd: {type: statsd, listen: \"127.0.0.1:0\", flush_interval: 1h, receive_buffer: 16MiB}\n"
        )
        let gateway = try GatewayProcess(config: config)
        try await gateway.start(listeners: ["http"])
        let port = try #require(GatewayProcess.port(in: gateway.stderr, listener: "sd"))
        let before = Self.rss(gateway.process.processIdentifier)
        let udp = try UDPSender(port: port)
        let total = 1_000_000
        var sent = 0
        while sent < total {
            // 10 lines per datagram, two tags each, every series new; paced so that the kernel's
            // buffer never overflows (the claim is about memory, not speed).
            for _ in 0..<5_000 {
                let lines = (sent..<(sent + 10)).map { "app.requests,service=svc\($0 % 97):1|c|#instance:i\($0)" }
                try udp.send(Array(lines.joined(separator: "\n").utf8))
                sent += 10
            }
            let received = try await gateway.waitForMetric(
                "gateway_statsd_lines_total", ["listener": "sd"], atLeast: Double(sent), timeout: .seconds(120))
            try #require(received == Double(sent), "lines lost: \(received) of \(sent)")
        }
        let after = Self.rss(gateway.process.processIdentifier)
        #expect(try await gateway.metric("gateway_statsd_series", ["listener": "sd"]) == 100_000)
        #expect(try await gateway.metric("gateway_statsd_dropped_series_total", ["listener": "sd"]) == 900_000)
        #expect(
            try await gateway.metric("gateway_points_rejected_total", ["listener": "sd", "reason": "max_series"])
                == 900_000)
        // The README's bound: about 0.6 KiB per series of this shape; 128 MiB for 100,000 is the claim.
        #expect(after - before < 128 << 20, "RSS grew \((after - before) >> 20) MiB")
        #expect(try await gateway.get("/health").status == 200)
        #expect(try await gateway.stop() == 0)
    }
}
