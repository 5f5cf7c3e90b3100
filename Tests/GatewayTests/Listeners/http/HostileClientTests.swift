import Foundation
import Testing

/// The real gateway against clients that hold connections without finishing requests, under a
/// small open-file limit: timeouts close them, the connection limit keeps room for real clients,
/// and running out of descriptors does not spin the accept loop.
@Suite(.serialized, .tags(.slow)) struct HostileClientTests {
    /// Medians of `/health` round trips on fresh connections (each a new TCP connection, as a
    /// probe's would be): the first sample pays for nothing the others do not.
    func healthLatencies(_ gateway: GatewayProcess, count: Int) throws -> [Duration] {
        var out: [Duration] = []
        for _ in 0..<count {
            let start = ContinuousClock.now
            let client = try RawTCP(port: gateway.httpPort)
            try client.send("GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            let answer = client.read(until: "pass", timeout: .seconds(5))
            guard answer.hasPrefix("HTTP/1.1 200") else { throw TestFailure("/health answered: \(answer.prefix(200))") }
            out.append(ContinuousClock.now - start)
        }
        return out
    }

    func median(_ values: [Duration]) -> Duration { values.sorted()[values.count / 2] }

    /// The must-be-true of issue 15: 2,000 idle connections and 2,000 that sent half a request
    /// head, against a gateway limited to 1,024 open files. `/health` is measured on new
    /// connections before and during the flood; the bound is the 100 ms on the median
    /// (a debug build answers in about a millisecond unloaded, so 100 ms is generous and a gateway
    /// that cannot accept, as before, fails it by timing out). Then every hostile connection must
    /// be closed within its timeout plus a margin for the machine being busy.
    @Test func idleAndSlowHeaderFlood_underFileLimit_healthStaysFast_writesWork_andTheyAreClosed() async throws {
        RawTCP.raiseFileLimit(to: 10_000)
        let timeout = 15
        let gateway = try GatewayProcess(
            config: testConfig(http: "read_header_timeout: \(timeout)s, idle_timeout: \(timeout)s"), fileLimit: 1024)
        try await gateway.start()
        let baseline = median(try healthLatencies(gateway, count: 9))

        let floodStart = ContinuousClock.now
        var hostile: [RawTCP] = []
        for _ in 0..<2000 { hostile.append(try RawTCP(port: gateway.httpPort)) }
        for _ in 0..<2000 {
            let client = try RawTCP(port: gateway.httpPort)
            try client.send("POST /api/v2/write HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n")
            hostile.append(client)
        }
        let floodEnd = ContinuousClock.now
        print("figures: 4,000 connections opened in \(floodEnd - floodStart)")
        let flooded = try healthLatencies(gateway, count: 15)
        let write = try await gateway.post("/api/v2/write?precision=s", "hostile,case=flood v=1i 1700000000")
        #expect(write.status == 204, "\(write)")
        #expect(
            median(flooded) < .milliseconds(100),
            "median /health under the flood \(median(flooded)) (unloaded \(baseline)); all: \(flooded)")
        // The measurement was taken under the flood: the gateway still holds about max_connections (512).
        let held = try await gateway.metric("gateway_http_connections")
        print(
            "figures: /health median unloaded \(baseline), under the flood \(median(flooded)); open connections \(held)"
        )
        #expect(held >= 400 && held <= 520, "open connections after the measurement: \(held)")

        // Every hostile connection is closed: the oldest to make room, the rest by the timeout.
        let deadline = floodEnd + .seconds(timeout + 15)
        var open = hostile.count
        while ContinuousClock.now < deadline {
            open = hostile.filter { !$0.isClosedByPeer }.count
            if open == 0 { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(open == 0, "\(open) of 4000 hostile connections still open \(timeout + 15) s after the last was made")
        let byTimeout = try await gateway.metric(
            "gateway_http_connections_closed_total", ["reason": "read_header_timeout"])
        let evicted = try await gateway.metric("gateway_http_connections_closed_total", ["reason": "evicted"])
        #expect(byTimeout > 0 && evicted > 0, "timeout \(byTimeout), evicted \(evicted)")
        #expect(byTimeout + evicted >= 4000, "timeout \(byTimeout) + evicted \(evicted)")
        #expect(try await gateway.metric("gateway_http_accept_errors_total") == 0)
        #expect(gateway.stderr.contains("http connection limit reached"))
        _ = try? await gateway.stop()
        #expect(gateway.stdout.contains("hostile,case=flood"))
    }

    /// Each timeout closes its kind of connection, not before it is due and not much after.
    @Test func headBodyAndIdleTimeouts_closeTheirConnections() async throws {
        let gateway = try GatewayProcess(
            config: testConfig(http: "read_header_timeout: 4s, body_timeout: 4s, idle_timeout: 4s"))
        try await gateway.start()
        let slowHead = try RawTCP(port: gateway.httpPort)
        try slowHead.send("GET /health HTTP/1.1\r\nHost: t\r\n")
        let slowBody = try RawTCP(port: gateway.httpPort)
        try slowBody.send("POST /api/v2/write HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nm v=1i")
        let keptAlive = try RawTCP(port: gateway.httpPort)
        try keptAlive.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(keptAlive.read(until: "pass").hasPrefix("HTTP/1.1 200"))
        let start = ContinuousClock.now

        try await Task.sleep(for: .seconds(1))
        #expect(!slowHead.isClosedByPeer && !slowBody.isClosedByPeer && !keptAlive.isClosedByPeer, "closed before due")
        var closedAfter: [String: Duration] = [:]
        while ContinuousClock.now - start < .seconds(20), closedAfter.count < 3 {
            for (name, client) in [("head", slowHead), ("body", slowBody), ("idle", keptAlive)]
            where closedAfter[name] == nil && client.isClosedByPeer {
                closedAfter[name] = ContinuousClock.now - start
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(closedAfter.count == 3, "\(closedAfter)")
        // Not before it was due (4 s from a connection's open or its response; start is just after those).
        #expect(closedAfter.values.allSatisfy { $0 >= .seconds(3) }, "\(closedAfter)")
        for reason in ["read_header_timeout", "body_timeout", "idle_timeout"] {
            #expect(
                try await gateway.metric("gateway_http_connections_closed_total", ["reason": reason]) == 1, "\(reason)")
        }
        // A connection kept busy by requests is not idle: a second request on a fresh one still works.
        let again = try RawTCP(port: gateway.httpPort)
        try again.send("GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(again.read(until: "\r\n\r\n").hasPrefix("HTTP/1.1 204"))
    }

    /// Out of file descriptors with nothing that may be closed (every connection is in the middle
    /// of a request body): new connections are shed instead of the accept being retried at full
    /// CPU (2 s of CPU in these 3 s before: 86 % of a core in the issue), the failure is counted and
    /// logged, and the gateway serves again once descriptors free up.
    @Test func outOfFileDescriptors_acceptBacksOffInsteadOfSpinning() async throws {
        RawTCP.raiseFileLimit(to: 10_000)
        let gateway = try GatewayProcess(
            config: testConfig(http: "max_connections: 5000, body_timeout: 60s"), fileLimit: 128)
        try await gateway.start()
        var busy: [RawTCP] = []
        // More than the gateway can accept: the rest wait in the listen backlog (256).
        for _ in 0..<200 {
            let client = try RawTCP(port: gateway.httpPort)
            try client.send("POST /api/v2/write HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nm v=1i")
            busy.append(client)
        }
        try await Task.sleep(for: .seconds(1))
        let pid = gateway.process.processIdentifier
        let before = ProcStatus.cpuSeconds(pid)
        try await Task.sleep(for: .seconds(3))
        let used = ProcStatus.cpuSeconds(pid) - before
        print("figures: CPU out of descriptors \(used) s in 3 s")
        #expect(used < 0.6, "the gateway used \(used) s of CPU in 3 s while out of descriptors")

        busy.removeAll()  // closes them: descriptors free up (a connection made meanwhile may still be shed)
        var served = false
        for _ in 0..<50 where !served {
            served = (try? healthLatencies(gateway, count: 1)) != nil
            if !served { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(served, "/health does not answer after the descriptors were freed")
        #expect(try await gateway.metric("gateway_http_accept_errors_total", ["error": "EMFILE"]) > 0)
        #expect(try await gateway.metric("gateway_http_connections_closed_total", ["reason": "shed"]) > 0)
        #expect(gateway.stderr.contains("http listener cannot accept connections"))
    }
}
