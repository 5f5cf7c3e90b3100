import Foundation
import Testing

/// `gateway top` in a real terminal (a detached tmux session on a socket of the test's own): it shows
/// the counters `/api/v1/status` reports, follows them, and quits on `q`.
@Suite(.serialized, .tags(.slow)) struct TopCommandTests {
    /// Runs tmux on the test's own server socket; returns its exit status and standard output. Spawned and
    /// reaped directly (posix_spawn, waitpid): the tmux server that new-session starts keeps the client's
    /// descriptors, and Foundation's Process waited on it for ever.
    @discardableResult
    func tmux(_ socket: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        let quoted = (["/usr/bin/tmux", "-L", socket] + arguments).map {
            "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }
        let command = quoted.joined(separator: " ") + " > '\(output.path)' 2>/dev/null < /dev/null"
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(command), nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { throw TestFailure("cannot run tmux") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let exitStatus = (status >> 8) & 0xFF
        return (exitStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    /// The cells of the pane's row that starts with `name` (the table's columns are blank-separated).
    func row(_ pane: String, _ name: String) -> [String]? {
        pane.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.first { $0.first == name }
    }

    func statusCounters(_ gateway: GatewayProcess) async throws -> (received: Int, written: Int, routed: Int) {
        let body = try await gateway.get("/api/v1/status").body
        let status = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] ?? [:]
        let udp = (status["listeners"] as? [String: Any])?["udp"] as? [String: Any]
        let out = (status["sinks"] as? [String: Any])?["out"] as? [String: Any]
        let routes = status["routes"] as? [String: Any]
        return (
            udp?["points_received"] as? Int ?? -1, out?["points_written"] as? Int ?? -1, routes?["all"] as? Int ?? -1
        )
    }

    func grouped(_ value: Int) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.groupingSeparator = ","
        formatter.usesGroupingSeparator = true
        return formatter.string(from: NSNumber(value: value)) ?? "\(value)"
    }

    @Test func topShowsTheStatusCounters_followsThem_andQuitsOnQ() async throws {
        let gateway = try GatewayProcess(config: testConfig(routes: "- {name: all, to: [out]}"))
        try await gateway.start()
        let lines = (0..<25).map { "top,host=a v=\($0)i \(1_700_000_000_000_000_000 + $0)" }.joined(separator: "\n")
        try gateway.sendUDP(lines + "\n")
        _ = try await gateway.waitForMetric("gateway_points_written_total", ["sink": "out"], atLeast: 25)
        let socket = "gateway-top-test-\(UUID().uuidString.prefix(8))"
        defer { _ = try? tmux(socket, ["kill-server"]) }
        try tmux(
            socket,
            [
                "new-session", "-d", "-s", "top", "-x", "200", "-y", "50",
                "\(GatewayProcess.binary.path) top --url \(gateway.baseURL)",
            ])

        /// Captures the pane until `accept` holds for it (the screen refreshes every second).
        func pane(within timeout: Duration, _ accept: (String) -> Bool) async throws -> String {
            let deadline = ContinuousClock.now + timeout
            var text = try tmux(socket, ["capture-pane", "-p", "-t", "top"]).output
            while !accept(text), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                text = try tmux(socket, ["capture-pane", "-p", "-t", "top"]).output
            }
            return text
        }

        // Nothing moves now: the pane shows exactly what the status says.
        let status = try await statusCounters(gateway)
        #expect(status.received == 25 && status.written == 25 && status.routed == 25)
        let first = try await pane(within: .seconds(30)) { row($0, "udp") != nil && row($0, "out") != nil }
        #expect(row(first, "udp")?[3] == grouped(status.received), "pane:\n\(first)")
        #expect(row(first, "out")?[2] == grouped(status.written), "pane:\n\(first)")
        #expect(row(first, "out")?[4] == "0.0M/32.0M", "queue memory of queue_max_bytes: \(first)")
        #expect(row(first, "all")?[2] == grouped(status.routed), "pane:\n\(first)")
        #expect(first.contains("SINK") && first.contains("LISTENER") && first.contains("ROUTE"))

        // More points: the next refreshes show the new counters, equal to the status again.
        let more = (25..<1025).map { "top,host=b v=\($0)i \(1_700_000_000_000_000_000 + $0)" }
        for chunk in stride(from: 0, to: more.count, by: 50) {
            try gateway.sendUDP(more[chunk..<min(chunk + 50, more.count)].joined(separator: "\n") + "\n")
        }
        _ = try await gateway.waitForMetric("gateway_points_written_total", ["sink": "out"], atLeast: 1025)
        let after = try await statusCounters(gateway)
        let second = try await pane(within: .seconds(5)) { row($0, "out")?[2] == grouped(after.written) }
        #expect(row(second, "udp")?[3] == grouped(after.received), "pane:\n\(second)")
        #expect(row(second, "out")?[2] == grouped(after.written), "pane:\n\(second)")

        // q quits: the session (whose only command is top) ends.
        try tmux(socket, ["send-keys", "-t", "top", "q"])
        let deadline = ContinuousClock.now + .seconds(10)
        while try tmux(socket, ["has-session", "-t", "top"]).status == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try tmux(socket, ["has-session", "-t", "top"]).status != 0, "top did not quit on q")
        #expect(try await gateway.stop() == 0)
    }
}
