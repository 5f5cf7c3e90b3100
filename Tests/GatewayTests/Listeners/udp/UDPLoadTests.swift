import Foundation
import Testing

/// A million points over UDP, 10 lines per datagram, paced at 200,000 points/s: every one counted as
/// received and written, as `/metrics` shows. Judged on the release binary: a debug build is several
/// times slower than what users run.
@Suite(.serialized, .tags(.slow)) struct UDPLoadTests {
    @Test func oneMillionPoints_at200kPerSecond_zeroLoss() async throws {
        let gateway = try GatewayProcess(
            config: testConfig(
                sinks: "drop: {type: blackhole, queue_size: 2000000}", routes: "- {to: [drop]}",
                udp: "receive_buffer: 16MiB"),
            binary: GatewayProcess.releaseBinary)
        try await gateway.start()
        let total = 1_000_000
        let perDatagram = 10
        let datagrams = (0..<1000).map { d in
            var payload = ""
            for i in 0..<perDatagram {
                payload +=
                    "load,host=h\(i),region=r\(d % 5) value=\(d).5,count=\(i)i \(1_700_000_000_000_000_000 + d * 10 + i)\n"
            }
            return Array(payload.utf8)
        }
        let sender = try UDPSender(port: gateway.udpPort)
        defer { sender.close() }
        // 20,000 datagrams/s: a burst of 100 every 5 ms, against the clock.
        let start = ContinuousClock.now
        var sent = 0
        var burst = 0
        while sent < total {
            for _ in 0..<100 where sent < total {
                try sender.send(datagrams[(sent / perDatagram) % datagrams.count])
                sent += perDatagram
            }
            burst += 1
            let due = start + .milliseconds(5 * burst)
            let now = ContinuousClock.now
            if due > now { try await Task.sleep(until: due, clock: .continuous) }
        }
        let elapsed = ContinuousClock.now - start
        let received = try await gateway.waitForMetric(
            "gateway_points_received_total", ["listener": "udp"], atLeast: Double(total), timeout: .seconds(30))
        let written = try await gateway.waitForMetric(
            "gateway_points_written_total", ["sink": "drop"], atLeast: Double(total), timeout: .seconds(30))
        let kernelDrops = try await gateway.metric("gateway_udp_kernel_drops_total")
        #expect(received == Double(total), "sent \(total) in \(elapsed), kernel drops \(kernelDrops)")
        #expect(written == Double(total))
        #expect(kernelDrops == 0, "datagrams the kernel dropped")
        #expect(try await gateway.stop() == 0)
    }
}
