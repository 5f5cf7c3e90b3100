import Foundation
import TestDoubles
import Testing

/// A server that accepts connections and never answers (InfluxContractDouble, a TEST DOUBLE, holding
/// every answer for 10 minutes): the direct path gives a batch up after `max_wait` and spools it, so
/// ingest never waits longer; shutdown gives up the requests on the wire at `shutdown_timeout`.
@Suite(.serialized, .tags(.slow)) struct HungServerTests {
    static let base: Int64 = 1_760_000_000_000  // ms

    func lines(_ range: Range<Int>) -> String {
        range.map { "hung,src=test v=\($0)i \((Self.base + Int64($0)) * 1_000_000)\n" }.joined()
    }

    /// 200,000 points/s over UDP for 5 s into a gateway whose server hangs: no kernel drop, every
    /// point spooled; SIGTERM with the replayer's request hanging exits within `shutdown_timeout`
    /// (plus the margin a busy machine needs); a working server then gets every point once.
    @Test func hungServer_underUDPLoad_everyPointSpooled_sigtermExitsInTime_thenAllDelivered() async throws {
        let influx = InfluxContractDouble()
        try await influx.start()
        influx.delayAnswers(.seconds(600))
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("gw-hung-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let config = testConfig(
            sinks: """
                influx: {type: influx2, url: "\(influx.url)", org: o, bucket: b, token: t, batch_size: 5000, flush_interval: 100ms, timeout: 10s, retry: {max_retries: 2, initial_backoff: 100ms, max_backoff: 1s, max_wait: 1s}}
                """, routes: "- {to: [influx]}", extra: "", udp: "receive_buffer: 16MiB"
        )
        .replacingOccurrences(of: "data_dir: $DIR/data", with: "data_dir: \(dataDir)\n  shutdown_timeout: 3s")
        let gateway = try GatewayProcess(config: config, binary: GatewayProcess.releaseBinary)
        try await gateway.start()
        let sender = try UDPSender(port: gateway.udpPort)
        defer { sender.close() }
        let perSecond = 200_000
        let total = perSecond * 5
        let perDatagram = 20
        let start = ContinuousClock.now
        var sent = 0
        var tick = 0
        while sent < total {
            for _ in 0..<(perSecond / 100 / perDatagram) where sent < total {
                try sender.send(Array(lines(sent..<(sent + perDatagram)).utf8))
                sent += perDatagram
            }
            tick += 1
            let due = start + .milliseconds(10 * tick)
            if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
        }
        let spooled = try await gateway.waitForMetric(
            "gateway_points_spooled_total", ["sink": "influx"], atLeast: Double(total), timeout: .seconds(60))
        let received = try await gateway.metric("gateway_points_received_total", ["listener": "udp"])
        let kernelDrops = try await gateway.metric("gateway_udp_kernel_drops_total")
        let written = try await gateway.metric("gateway_points_written_total", ["sink": "influx"])
        let dropped = try await gateway.metric("gateway_points_dropped_total", ["sink": "influx"])
        let summary =
            "received \(received) spooled \(spooled) written \(written) dropped \(dropped) kernel drops \(kernelDrops)"
        #expect(received == Double(total), "\(summary)")
        #expect(kernelDrops == 0, "\(summary)")
        #expect(spooled == Double(total) && written == 0 && dropped == 0, "\(summary)")
        #expect(
            gateway.stderr.contains("no answer within"), "the log says why: \(summary)")

        // SIGTERM while the replayer's request hangs (its timeout is 10 s).
        let stopping = ContinuousClock.now
        let status = try await gateway.stop()
        let took = ContinuousClock.now - stopping
        #expect(status == 0)
        #expect(took < .seconds(3) + .seconds(4), "shutdown took \(took) with shutdown_timeout 3s")

        // A working server takes its place: every point once.
        influx.delayAnswers(nil)
        let before = influx.accepted.count
        let second = try GatewayProcess(config: config, binary: GatewayProcess.releaseBinary)
        try await second.start()
        let replayed = try await second.waitForMetric(
            "gateway_points_replayed_total", ["sink": "influx"], atLeast: Double(total), timeout: .seconds(120))
        #expect(replayed == Double(total))
        #expect(try await second.stop() == 0)
        let delivered = influx.accepted[before...]
        let distinct = Set(delivered)
        #expect(distinct.count == total, "every point delivered")
        #expect(delivered.count == total, "none twice")
        try await influx.stop()
    }
}
