import Foundation
import Testing

/// `gateway send`, the real binary, against a running gateway.
@Suite(.serialized) struct SendCommandTests {
    func send(_ arguments: [String], stdin: String? = nil) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = GatewayProcess.binary
        process.arguments = ["send"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func sendsLinesAndJSON_overUDPAndHTTP_fromArgumentsAndStdin() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        let udp = "127.0.0.1:\(gateway.udpPort)"
        #expect(try send(["--udp", udp, "a v=1i 1", "a v=2i 2"]).0 == 0)
        #expect(
            try send(["--udp", udp, "--format", "json"], stdin: #"{"series":"b","time":3,"fields":{"v":3}}"#).0 == 0)
        #expect(try send(["--http", gateway.baseURL, "--precision", "s"], stdin: "c v=4i 4\n").0 == 0)
        #expect(
            try send(
                ["--http", gateway.baseURL, "--format", "json"], stdin: #"[{"series":"d","time":5,"fields":{"v":5}}]"#
            ).0 == 0)
        #expect(try await gateway.waitForMetric("gateway_points_written_total", atLeast: 5) == 5)
        try await gateway.stop()
        #expect(
            Set(gateway.stdoutLines) == [
                "a,host=testhost v=1i 1", "a,host=testhost v=2i 2", "b,host=testhost v=3i 3000000000",
                "c,host=testhost v=4i 4000000000", "d,host=testhost v=5i 5000000000",
            ])
    }

    @Test func aBadLine_isReportedAndNotSent_andTheExitStatusIs1() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        let (status, output) = try send(
            ["--udp", "127.0.0.1:\(gateway.udpPort)"], stdin: "ok v=1 1\nbroken\nok v=2 2\n")
        #expect(status == 1)
        #expect(output.contains("line 2"))
        #expect(try await gateway.waitForMetric("gateway_points_written_total", atLeast: 2) == 2)
        #expect(try await gateway.metric("gateway_points_rejected_total") == 0)
        try await gateway.stop()
    }
}
