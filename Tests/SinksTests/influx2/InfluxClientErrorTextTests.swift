import GatewayCore
import TestDoubles
import Testing

@testable import Sinks

/// Network failures named as an operator looks for them, against real sockets.
@Suite struct InfluxClientErrorTextTests {
    @Test func refusedConnection_isNamedRefused() async throws {
        let port = try freeTCPPort()  // nothing listens there
        let client = InfluxClient(
            target: InfluxTarget(
                url: "http://127.0.0.1:\(port)", org: "o", bucket: "b", token: "", timeout: .seconds(5)))
        let outcome = await client.write(body: Array("m v=1i 1\n".utf8), gzipped: false, precision: .nanoseconds)
        await client.shutdown()
        #expect(outcome == .failed(status: nil, message: "connection refused"))
    }

    @Test func serverThatNeverAnswers_isNamedByTheTimeout() async throws {
        let silent = InfluxContractDouble()  // a TEST DOUBLE holding its answers
        try await silent.start()
        silent.delayAnswers(.seconds(600))
        let client = InfluxClient(
            target: InfluxTarget(url: silent.url, org: "o", bucket: "b", token: "", timeout: .seconds(5)))
        let outcome = await client.write(
            body: Array("m v=1i 1\n".utf8), gzipped: false, precision: .nanoseconds, timeout: .milliseconds(300))
        await client.shutdown()
        try await silent.stop()
        #expect(outcome == .failed(status: nil, message: "no answer within 300ms"))
    }
}
