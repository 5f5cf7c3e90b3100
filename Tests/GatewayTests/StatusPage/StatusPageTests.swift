import Foundation
import Synchronization
import Testing

/// The status page in a real browser (headless Chromium over the DevTools protocol) against the real
/// binary and a real VictoriaMetrics behind an influx2 sink: the page's DOM follows the gateway.
@Suite(.serialized, .tags(.slow)) struct StatusPageTests {
    static func config(vm: String) -> String {
        testConfig(
            sinks: """
                vm: {type: influx2, url: "\(vm)", org: o, bucket: b, batch_size: 500, flush_interval: 100ms,
                       retry: {max_retries: 0, initial_backoff: 50ms, max_backoff: 500ms}}
                """,
            routes: "- {name: everything, to: [vm]}")
    }

    /// UDP points at about `perSecond` until stopped, each of a distinct millisecond.
    final class Load: Sendable {
        let stopped = Atomic<Bool>(false)
        let sent = Atomic<Int>(0)

        func run(port: Int, perSecond: Int) async throws {
            let sender = try UDPSender(port: port)
            defer { sender.close() }
            let base = Int64(Date().timeIntervalSince1970 * 1000)
            var index = 0
            let start = ContinuousClock.now
            while !stopped.load(ordering: .relaxed) {
                var payload = ""
                for _ in 0..<10 {
                    payload += "page,host=h\(index % 7) v=\(index)i \((base + Int64(index)) * 1_000_000)\n"
                    index += 1
                }
                try sender.send(Array(payload.utf8))
                sent.store(index, ordering: .relaxed)
                let due = start + .seconds(Double(index) / Double(perSecond))
                if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
            }
        }
    }

    func number(_ text: String?) -> Int? {
        guard let text else { return nil }
        return Int(text.filter(\.isNumber))
    }

    /// Polls `expression` until `accept` holds, up to `timeout`; returns the last value.
    func waitFor(
        _ browser: HeadlessChromium, _ expression: String, timeout: Duration, _ accept: (String?) -> Bool
    ) async throws -> String? {
        let deadline = ContinuousClock.now + timeout
        var value = try browser.evaluate(expression)
        while !accept(value), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            value = try browser.evaluate(expression)
        }
        return value
    }

    @Test func pageFollowsLoad_anOutageWithItsSpool_andTheRecovery() async throws {
        let vm = try VictoriaMetrics()
        try await vm.start()
        let gateway = try GatewayProcess(config: Self.config(vm: vm.url))
        try await gateway.start()
        let load = Load()
        let loadTask = Task { try await load.run(port: gateway.udpPort, perSecond: 2000) }
        defer { load.stopped.store(true, ordering: .relaxed) }

        let browser = try HeadlessChromium(url: gateway.baseURL + "/ui")
        try await browser.connect()
        let received = #"document.querySelector('tr[data-listener="udp"] .received')?.textContent"#
        let receivedRate = #"document.querySelector('tr[data-listener="udp"] .received-rate')?.textContent"#
        let health = #"document.querySelector('tr[data-sink="vm"] .health')?.textContent"#
        let spoolPoints = #"document.querySelector('tr[data-sink="vm"] .spool-points')?.textContent"#

        // Under load the received count and rate the page shows move.
        let first = number(try await waitFor(browser, received, timeout: .seconds(30)) { number($0) ?? 0 > 0 })
        #expect(first != nil && first! > 0, "the page shows no received points")
        let later = number(
            try await waitFor(browser, received, timeout: .seconds(10)) { number($0) ?? 0 > (first ?? 0) })
        #expect(later ?? 0 > first ?? 0, "the received count on the page does not move")
        let rate = try await waitFor(browser, receivedRate, timeout: .seconds(10)) { number($0) ?? 0 > 0 }
        #expect(number(rate) ?? 0 > 0, "received/s on the page: \(rate ?? "nil")")
        #expect(try await waitFor(browser, health, timeout: .seconds(10)) { $0 == "healthy" } == "healthy")

        // The sink's server goes away: within 3 s the page says retrying and its spool grows.
        try await vm.stop()
        let stoppedAt = ContinuousClock.now
        let retrying = try await waitFor(browser, health, timeout: .seconds(3)) { $0?.hasPrefix("retrying") ?? false }
        let spoolA = number(
            try await waitFor(browser, spoolPoints, timeout: .seconds(3) - (ContinuousClock.now - stoppedAt)) {
                number($0) ?? 0 > 0
            })
        let spoolB = number(
            try await waitFor(browser, spoolPoints, timeout: .seconds(3) - (ContinuousClock.now - stoppedAt)) {
                number($0) ?? 0 > (spoolA ?? 0)
            })
        let outageSeen = ContinuousClock.now - stoppedAt
        #expect(retrying?.hasPrefix("retrying") ?? false, "health shown: \(retrying ?? "nil")")
        #expect(spoolA ?? 0 > 0 && spoolB ?? 0 > spoolA ?? 0, "spool shown: \(spoolA ?? -1) then \(spoolB ?? -1)")
        #expect(outageSeen <= .seconds(3), "the page took \(outageSeen) to show the outage")
        try await Task.sleep(for: .seconds(2))
        // The README's screenshot: docs/status-page.png with GATEWAY_UPDATE_SCREENSHOT=1, else beside
        // the test's files (taken either way, so a page Chromium cannot draw fails here).
        let update = ProcessInfo.processInfo.environment["GATEWAY_UPDATE_SCREENSHOT"] == "1"
        let folder = update ? GatewayProcess.packageRoot.appendingPathComponent("docs") : gateway.directory
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let shot = folder.appendingPathComponent("status-page.png")
        try browser.screenshot(to: shot)
        let size = (try? FileManager.default.attributesOfItem(atPath: shot.path)[.size] as? Int) ?? 0
        #expect(size > 10_000, "screenshot of \(size) bytes")

        // The server is back: healthy, and the spool drains (the load goes on).
        try await vm.start()
        let healthy = try await waitFor(browser, health, timeout: .seconds(30)) { $0 == "healthy" }
        #expect(healthy == "healthy")
        let drained = try await waitFor(browser, spoolPoints, timeout: .seconds(60)) {
            (number($0) ?? Int.max) < (spoolB ?? 0)
        }
        #expect(number(drained) ?? Int.max < spoolB ?? 0, "spool shown after the restart: \(drained ?? "nil")")
        let empty = try await waitFor(browser, spoolPoints, timeout: .seconds(60)) { number($0) == 0 }
        #expect(number(empty) == 0, "the spool did not drain: \(empty ?? "nil")")

        // A reload's outcome appears in the configuration view.
        #expect(try await gateway.post("/api/v1/reload", "").status == 200)
        let reload = #"document.querySelector('[data-reload]')?.textContent"#
        let shown = try await waitFor(browser, reload, timeout: .seconds(10)) { $0?.hasPrefix("unchanged") ?? false }
        #expect(shown?.hasPrefix("unchanged (POST /api/v1/reload, ") ?? false, "reload shown: \(shown ?? "nil")")

        load.stopped.store(true, ordering: .relaxed)
        try await loadTask.value
        #expect(try await gateway.stop() == 0)
    }

    @Test func pageAndEvents_areServedOnEveryPath() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        for path in ["/", "/ui"] {
            let page = try await gateway.get(path)
            #expect(page.status == 200)
            #expect(page.body.contains("<title>gateway status</title>"))
            #expect(
                !page.body.contains("src=\"http") && !page.body.contains("href=\"http")
                    && !page.body.contains("@import"),
                "the page loads nothing from elsewhere")
        }
        let events = try RawTCP(port: gateway.httpPort)
        try events.send("GET /api/v1/events HTTP/1.1\r\nHost: gateway\r\n\r\n")
        let text = events.read(until: "\"uptime_seconds\"", timeout: .seconds(10))
        #expect(text.contains("content-type: text/event-stream") || text.contains("Content-Type: text/event-stream"))
        #expect(text.contains("event: status\ndata: {"))
        #expect(try await gateway.stop() == 0)
    }
}
