import Foundation
import Plugins
import Testing

/// Plugin API handlers run their blocking work on a fixed pool: a burst of concurrent requests
/// queues there instead of taking an OS thread each (2,000 requests once made 2,007 threads).
@Suite(.serialized) struct PluginPoolTests {
    @Test func jobdirAPI_underAThousandConcurrentRequests_keepsTheThreadCountBounded() async throws {
        RawTCP.raiseFileLimit(to: 10_000)
        let workspace = try JobdirEndToEndTests.Workspace()
        _ = try workspace.pairs(50)
        let config = workspace.config(successDir: "\(workspace.succeeded)", failedDir: "\(workspace.failed)")
            .replacingOccurrences(
                of: #"http: {type: http, listen: "127.0.0.1:0"}"#,
                with: #"http: {type: http, listen: "127.0.0.1:0", max_connections: 2000}"#)
        let gateway = try GatewayProcess(config: config)
        try await gateway.start()
        // Warm up: the pool's threads exist once a request has used it.
        #expect(try await gateway.get("/api/v1/jobdir/jobs?limit=10").status == 200)
        let pid = gateway.process.processIdentifier
        let before = ProcStatus.threads(pid)

        let clients = try (0..<1000).map { _ in try RawTCP(port: gateway.httpPort) }
        // Sampled from a thread of its own: the test's blocking socket calls may hold the
        // concurrency threads, and a sampler that never ran would read 0.
        let sampler = ThreadSampler(pid: pid)
        for client in clients {
            try client.send("GET /api/v1/jobdir/jobs?limit=1000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        }
        var answered = 0
        for client in clients where client.read(until: "\r\n\r\n", timeout: .seconds(60)).hasPrefix("HTTP/1.1 200") {
            answered += 1
        }
        let most = sampler.stop()
        print("figures: threads \(before) before, at most \(most) during 1000 concurrent jobdir requests")
        #expect(answered == 1000)
        // The pool's threads already exist (warm-up); a few more may come and go for the runtime.
        #expect(
            most <= before + 4,
            "threads: \(before) before, at most \(most) during 1000 concurrent requests (pool: \(BlockingPool.threads))"
        )
        _ = try? await gateway.stop()
    }
}

/// The most threads a process had, read from /proc every 2 ms on a thread of its own.
final class ThreadSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var most = 0
    private var running = true
    private var thread: Thread?

    init(pid: Int32) {
        let thread = Thread { [self] in
            while lock.withLock({ running }) {
                let now = ProcStatus.threads(pid)
                lock.withLock { most = max(most, now) }
                usleep(2000)
            }
        }
        self.thread = thread
        thread.start()
    }

    /// Stops sampling; the most threads seen (at least one sample was taken).
    func stop() -> Int {
        while lock.withLock({ most == 0 }) { usleep(1000) }
        lock.withLock { running = false }
        return lock.withLock { most }
    }
}
