import Foundation
import Testing

@Suite(.serialized, .tags(.slow)) struct ShutdownTests {
    /// Points still queued at SIGTERM (a 60 s flush interval holds them) are written before exit 0.
    @Test func sigterm_drainsQueuedPointsIntoTheSink_andExits0() async throws {
        let gateway = try GatewayProcess(
            config: testConfig(
                sinks: "out: {type: stdout, batch_size: 100000, queue_size: 200000, flush_interval: 60s}"))
        try await gateway.start()
        let sender = try UDPSender(port: gateway.udpPort)
        var sent = 0
        for d in 0..<500 {
            var payload = ""
            for i in 0..<10 { payload += "q,d=\(d) i=\(i)i \(d * 10 + i)\n" }
            try sender.send(Array(payload.utf8))
            sent += 10
        }
        #expect(
            try await gateway.waitForMetric("gateway_points_accepted_total", ["listener": "udp"], atLeast: Double(sent))
                == Double(sent))
        #expect(gateway.stdoutLines.isEmpty, "the flush interval should still be holding the points")
        #expect(try await gateway.stop(signal: SIGTERM) == 0)
        #expect(gateway.stdoutLines.count == sent)
        #expect(gateway.stderr.contains("gateway stopped"))
    }

    /// Under HTTP load: every request answered 204 before SIGINT is in the output, and exit is 0.
    @Test func sigint_underHTTPLoad_keepsEveryAcknowledgedPoint() async throws {
        let gateway = try GatewayProcess(
            config: testConfig(sinks: "out: {type: stdout, batch_size: 5000, flush_interval: 1s}"))
        try await gateway.start()
        let acknowledged = AcknowledgedCounter()
        let load = Task {
            var batch = 0
            while !Task.isCancelled {
                var body = ""
                for i in 0..<200 { body += "load,b=\(batch) i=\(i)i \(batch * 1000 + i)\n" }
                guard let result = try? await gateway.post("/api/v2/write", body) else { break }
                if result.status == 204 { await acknowledged.add(200) }
                batch += 1
            }
        }
        try await Task.sleep(for: .milliseconds(800))
        let before = await acknowledged.value
        #expect(before > 0)
        let status = try await gateway.stop(signal: SIGINT)
        load.cancel()
        _ = await load.result
        #expect(status == 0)
        let written = gateway.stdoutLines.count
        #expect(written >= before)
        #expect(written == (await acknowledged.value), "every acknowledged point is written, and only those")
    }
}

actor AcknowledgedCounter {
    var value = 0
    func add(_ n: Int) { value += n }
}
