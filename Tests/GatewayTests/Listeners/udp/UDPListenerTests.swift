import Foundation
import Testing

/// The UDP listener against the real binary and real sockets.
@Suite(.serialized) struct UDPListenerTests {
    @Test func datagramsOfLinesAndOfJSON_reachTheSink() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        try gateway.sendUDP("cpu,region=eu usage=0.5 1700000000000000000\nmem free=1u 1700000000000000001\n")
        try gateway.sendUDP(#"  {"series":"j","time":1700000000.5,"tags":{"code":404},"fields":{"n":2}}"#)
        try gateway.sendUDP(#"[{"series":"k","time":1,"fields":{"x":1.5}},{"series":"k","time":2,"fields":{"x":2.5}}]"#)
        #expect(try await gateway.waitForMetric("gateway_points_accepted_total", ["listener": "udp"], atLeast: 5) == 5)
        try await gateway.stop()
        #expect(
            Set(gateway.stdoutLines) == [
                "cpu,host=testhost,region=eu usage=0.5 1700000000000000000",
                "mem,host=testhost free=1u 1700000000000000001",
                "j,code=404,host=testhost n=2i 1700000000500000000",
                "k,host=testhost x=1.5 1000000000",
                "k,host=testhost x=2.5 2000000000",
            ])
    }

    @Test func a60KBDatagram_arrivesWhole() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        var payload = ""
        var count = 0
        while payload.utf8.count < 60_000 {
            payload += "big,tag=t\(count) value=\(count)i \(1_700_000_000_000_000_000 + count)\n"
            count += 1
        }
        #expect(payload.utf8.count >= 60_000)
        try gateway.sendUDP(payload)
        #expect(
            try await gateway.waitForMetric(
                "gateway_points_accepted_total", ["listener": "udp"], atLeast: Double(count)) == Double(count))
        #expect(try await gateway.metric("gateway_points_rejected_total") == 0)
        try await gateway.stop()
        #expect(gateway.stdoutLines.count == count)
        #expect(
            gateway.stdoutLines.last
                == "big,host=testhost,tag=t\(count - 1) value=\(count - 1)i \(1_700_000_000_000_000_000 + count - 1)")
    }

    /// A bad line is counted by reason and never stops the other lines of its datagram.
    @Test(arguments: [
        ("cpu value=\"open", "unterminated_string"),
        ("cpu\\", "bad_escape"),
        ("cpu", "no_fields"),
        ("cpu,a=1,a=2 v=1", "duplicate_key"),
        ("cpu v=99999999999999999999i", "integer_overflow"),
        (",a=1 v=1", "empty_name"),
        ("cpu v=1 12ab", "invalid_timestamp"),
        ("cpu v=1.2.3", "invalid_number"),
        ("{\"series\":", "invalid_json"),
    ])
    func malformedLine_isCountedByReason_andTheRestOfTheDatagramIsWritten(line: String, reason: String) async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        if line.hasPrefix("{") {
            try gateway.sendUDP(
                "{\"series\":\"ok\",\"time\":1,\"fields\":{\"v\":1}}\n\(line)\n{\"series\":\"ok\",\"time\":2,\"fields\":{\"v\":2}}\n"
            )
        } else {
            try gateway.sendUDP("ok v=1 1\n\(line)\nok v=2 2\n")
        }
        #expect(
            try await gateway.waitForMetric(
                "gateway_points_rejected_total", ["listener": "udp", "reason": reason], atLeast: 1) == 1)
        #expect(try await gateway.waitForMetric("gateway_points_written_total", ["sink": "out"], atLeast: 2) == 2)
        // It goes on serving.
        try gateway.sendUDP("after v=3 3\n")
        #expect(try await gateway.waitForMetric("gateway_points_written_total", ["sink": "out"], atLeast: 3) == 3)
        try await gateway.stop()
        #expect(gateway.stdoutLines.filter { $0.hasPrefix("ok,") }.count == 2)
        #expect(gateway.stderr.contains("input rejected"))
    }

    @Test func invalidUTF8_isCounted() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        try UDPSender(port: gateway.udpPort).send(Array("bad,t=".utf8) + [0xff, 0xfe] + Array(" v=1\nok v=1 1\n".utf8))
        #expect(
            try await gateway.waitForMetric("gateway_points_rejected_total", ["reason": "invalid_utf8"], atLeast: 1)
                == 1)
        #expect(try await gateway.waitForMetric("gateway_points_written_total", atLeast: 1) == 1)
        try await gateway.stop()
    }

    @Test func datagramLargerThanMaxDatagram_isDroppedWholeAndCounted() async throws {
        let gateway = try GatewayProcess(config: testConfig(udp: "max_datagram: 1KiB"))
        try await gateway.start()
        try gateway.sendUDP(String(repeating: "x v=1 1\n", count: 200))  // 1,600 bytes
        try gateway.sendUDP("small v=1 1\n")
        #expect(try await gateway.waitForMetric("gateway_udp_truncated_datagrams_total", atLeast: 1) == 1)
        #expect(try await gateway.waitForMetric("gateway_points_written_total", atLeast: 1) == 1)
        try await gateway.stop()
        #expect(gateway.stdoutLines == ["small,host=testhost v=1 1"])
    }
}
