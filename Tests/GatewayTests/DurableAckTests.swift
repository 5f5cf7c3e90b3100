import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import TestDoubles
import Testing

/// `ack: durable` (the HTTP listener's default): a write answered 2xx is in the ingest journal, so no
/// crash loses it; when the journal cannot take a request, the answer is 429 or 503, never 2xx.
@Suite(.serialized, .tags(.slow)) struct DurableAckTests {
    static let base: Int64 = 1_750_000_000_000  // ms
    static let pointsPerRequest = 5000

    /// Request `request` of the test's point space: `pointsPerRequest` points of series `dur`, each
    /// with its own millisecond.
    static func body(request: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(pointsPerRequest * 40)
        for i in request * pointsPerRequest..<(request + 1) * pointsPerRequest {
            out.append(contentsOf: "dur v=\(i)i \(base + Int64(i))\n".utf8)
        }
        return out
    }

    /// Posts requests `range` over `connections` connections until the range is done or the gateway
    /// stops answering; returns the requests answered 204.
    final class LoadState: Sendable {
        let acked = Mutex(Set<Int>())
        let next: Atomic<Int>
        init(first: Int) { next = Atomic(first) }
    }

    static func load(port: Int, requests range: Range<Int>, connections: Int) async -> Set<Int> {
        let state = LoadState(first: range.lowerBound)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<connections {
                group.addTask {
                    while true {
                        let request = state.next.add(1, ordering: .relaxed).oldValue
                        if request >= range.upperBound { return }
                        var post = HTTPClientRequest(
                            url: "http://127.0.0.1:\(port)/api/v2/write?org=o&bucket=b&precision=ms")
                        post.method = .POST
                        post.body = .bytes(ByteBuffer(bytes: body(request: request)))
                        do {
                            let response = try await HTTPClient.shared.execute(post, timeout: .seconds(60))
                            _ = try await response.body.collect(upTo: 1 << 20)
                            if response.status.code == 204 { state.acked.withLock { _ = $0.insert(request) } }
                        } catch {
                            return  // killed
                        }
                    }
                }
            }
        }
        return state.acked.withLock { $0 }
    }

    /// The test: 10 times, 1,000,000 points of HTTP load (4 connections) and `kill -9` at a
    /// random moment; the next start routes what the journal holds. Every point goes to two
    /// VictoriaMetrics: one as it comes (`raw`), one with `-dedup.minScrapeInterval=1ms`, which stores an
    /// identical point once as InfluxDB does (`dedup`). At the end every point answered 204 is in both,
    /// nothing that was never sent is, `dedup` holds each exactly once, and the only repeats in `raw`
    /// are points that were on their way when the gateway died (the journal sends again what no sink
    /// confirmed: at least once; which of them the server had stored, no sender can know). Release
    /// binary, as users run it.
    @Test func kill9AtRandomMoments_underAMillionPointsOfHTTPLoad_everyAnsweredPointInVictoriaMetrics() async throws {
        let vm = try VictoriaMetrics()
        try await vm.start()
        let dedup = try VictoriaMetrics(arguments: ["-dedup.minScrapeInterval=1ms"])
        try await dedup.start()
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("gw-durable-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let sink = { (name: String, url: String) in
            "\(name): {type: influx2, url: \"\(url)\", org: o, bucket: b, token: t, batch_size: 5000, flush_interval: 100ms}"
        }
        let config = testConfig(
            sinks: sink("raw", vm.url) + "\n  " + sink("dedup", dedup.url), routes: "- {to: [raw, dedup]}"
        ).replacingOccurrences(of: "data_dir: $DIR/data", with: "data_dir: \(dataDir)")
        let requestsPerRound = 1_000_000 / Self.pointsPerRequest
        var acked = Set<Int>()
        var sent = 0
        var recoveredRequests = 0.0
        for round in 0..<10 {
            let gateway = try GatewayProcess(config: config, binary: GatewayProcess.releaseBinary)
            try await gateway.start(listeners: ["http"])
            recoveredRequests += try await gateway.metric("gateway_journal_recovered_requests_total")
            let range = round * requestsPerRound..<(round + 1) * requestsPerRound
            let killAfter = Duration.milliseconds(Int.random(in: 50...1500))
            async let answered = Self.load(port: gateway.httpPort, requests: range, connections: 4)
            try await Task.sleep(for: killAfter)
            try await gateway.stop(signal: SIGKILL)
            let got = await answered
            acked.formUnion(got)
            sent = range.upperBound
            print("round \(round): killed after \(killAfter), \(got.count) of \(range.count) requests answered 204")
        }
        // A last start delivers what the journal and the spool still hold, then stops cleanly.
        let last = try GatewayProcess(config: config, binary: GatewayProcess.releaseBinary)
        try await last.start(listeners: ["http"])
        recoveredRequests += try await last.metric("gateway_journal_recovered_requests_total")
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let pending = try await last.metric("gateway_journal_pending_requests")
            let spooled = try await last.metric("gateway_spool_points")
            if pending == 0, spooled == 0 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(try await last.metric("gateway_journal_pending_requests") == 0)
        #expect(try await last.stop() == 0)
        #expect(!acked.isEmpty)

        let stored = try await vm.timestamps("dur_v")
        var counts: [Int64: Int] = [:]
        for t in stored { counts[t, default: 0] += 1 }
        var missing = 0
        for request in acked {
            for i in request * Self.pointsPerRequest..<(request + 1) * Self.pointsPerRequest
            where counts[Self.base + Int64(i)] == nil {
                missing += 1
            }
        }
        let invented = counts.keys.filter { $0 < Self.base || $0 >= Self.base + Int64(sent * Self.pointsPerRequest) }
            .count
        let repeats = stored.count - counts.count
        print(
            "acked \(acked.count * Self.pointsPerRequest) points; VictoriaMetrics holds \(counts.count) distinct, \(repeats) repeats; journal resent \(Int(recoveredRequests)) requests"
        )
        #expect(missing == 0, "points answered 204 and not in VictoriaMetrics")
        #expect(invented == 0, "points in VictoriaMetrics that were never sent")
        #expect(
            repeats <= Int(recoveredRequests) * Self.pointsPerRequest, "repeats come only from what the journal resent")

        let once = try await dedup.timestamps("dur_v")
        let onceSet = Set(once)
        let missingOnce = acked.reduce(0) { sum, request in
            sum
                + (request * Self.pointsPerRequest..<(request + 1) * Self.pointsPerRequest).filter {
                    !onceSet.contains(Self.base + Int64($0))
                }.count
        }
        print("dedup: holds \(once.count) samples, \(onceSet.count) distinct")
        #expect(missingOnce == 0, "points answered 204 and not in the deduplicating VictoriaMetrics")
        #expect(once.count == onceSet.count, "each point exactly once")
        #expect(onceSet == Set(counts.keys), "both servers hold the same points")
        try await vm.stop()
        try await dedup.stop()
    }

    /// A server that answers slowly holds points in the journal; once it holds `max_size`, writes are
    /// answered 429 with Retry-After, never 204. When the server catches up, writes are taken again,
    /// without a restart. Every point answered 204 reaches the server once.
    @Test func journalAtMaxSize_answers429WithRetryAfter_thenTakesWritesAgain_againstSlowTestDouble() async throws {
        let influx = InfluxContractDouble()
        try await influx.start()
        influx.delayAnswers(.seconds(3))
        let gateway = try GatewayProcess(
            config: testConfig(
                sinks: """
                    influx: {type: influx2, url: "\(influx.url)", org: o, bucket: b, token: t, batch_size: 5000, flush_interval: 100ms, max_in_flight: 1, timeout: 30s}
                    """, routes: "- {to: [influx]}", http: "journal: {max_size: 1MiB}"))
        try await gateway.start(listeners: ["http"])
        var answered: [Int] = []
        var retryAfter: String?
        var acked: [Int] = []
        for request in 0..<12 {  // about 190 KB each
            var post = HTTPClientRequest(url: gateway.baseURL + "/api/v2/write?precision=ms")
            post.method = .POST
            post.body = .bytes(ByteBuffer(bytes: Self.body(request: request)))
            let response = try await HTTPClient.shared.execute(post, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 20)
            answered.append(Int(response.status.code))
            if response.status.code == 204 { acked.append(request) }
            if response.status.code == 429 { retryAfter = response.headers.first(name: "Retry-After") }
        }
        #expect(answered.contains(429), "answers: \(answered)")
        #expect(Set(answered).isSubset(of: [204, 429]), "answers: \(answered)")
        #expect(retryAfter == "1")
        #expect(try await gateway.metric("gateway_journal_refused_total", ["reason": "full"]) > 0)
        #expect(try await gateway.metric("gateway_points_rejected_total", ["reason": "journal_full"]) > 0)
        // The server catches up: the journal empties and takes writes again.
        influx.delayAnswers(nil)
        let deadline = ContinuousClock.now + .seconds(60)
        var again = 0
        while ContinuousClock.now < deadline {
            again = try await gateway.post("/api/v2/write?precision=ms", body: Self.body(request: 100)).status
            if again == 204 { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(again == 204)
        acked.append(100)
        #expect(try await gateway.stop() == 0)
        let delivered = influx.accepted
        var expected = Set<String>()
        for request in acked {
            for i in request * Self.pointsPerRequest..<(request + 1) * Self.pointsPerRequest {
                expected.insert("dur v=\(i)i \((Self.base + Int64(i)) * 1_000_000)")
            }
        }
        let deliveredSet = Set(delivered.map { $0.replacingOccurrences(of: ",host=testhost", with: "") })
        #expect(expected.isSubset(of: deliveredSet), "every point answered 204 was delivered")
        #expect(delivered.count == deliveredSet.count, "none twice")
        try await influx.stop()
    }

    /// A disk that refuses writes (the journal's next segment is a link to /dev/full, which fails
    /// every write with ENOSPC, standing in for a full filesystem): writes are answered 503 with
    /// Retry-After and nothing is routed; once the disk takes writes again, so does the gateway.
    @Test func journalOnAFullDisk_answers503_andRecoversWithoutRestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gw-full-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = directory + "/journal"
        try FileManager.default.createDirectory(atPath: journal, withIntermediateDirectories: true)
        let segment = journal + "/00000000000000000001.journal"
        try FileManager.default.createSymbolicLink(atPath: segment, withDestinationPath: "/dev/full")
        let gateway = try GatewayProcess(config: testConfig(http: "journal: {path: \(journal)}"))
        try await gateway.start(listeners: ["http"])
        let refused = try await gateway.send(.POST, "/api/v2/write", body: Array("full v=1i 1\n".utf8))
        #expect(refused.status == 503)
        #expect(refused.body.contains("cannot write"), "\(refused.body)")
        #expect(try await gateway.metric("gateway_journal_refused_total", ["reason": "io_error"]) == 1)
        #expect(try await gateway.metric("gateway_points_rejected_total", ["reason": "journal_error"]) == 1)
        #expect(gateway.stderr.contains("cannot write to the ingest journal"))
        // Space again.
        try FileManager.default.removeItem(atPath: segment)
        #expect(try await gateway.post("/api/v2/write", "full v=2i 2\n").status == 204)
        #expect(try await gateway.stop() == 0)
        #expect(gateway.stdoutLines == ["full,host=testhost v=2i 2"], "the refused point was not routed")
    }

    /// What `kill -9` leaves in the journal is routed at the next start, before new requests; here
    /// the sink could not settle it (its server never answered), so it was only in the journal.
    @Test func kill9WhileTheSinkHoldsPoints_nextStartRoutesThemFromTheJournal() async throws {
        let influx = InfluxContractDouble()
        try await influx.start()
        influx.delayAnswers(.seconds(600))
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("gw-journal-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let config = testConfig(
            sinks: """
                influx: {type: influx2, url: "\(influx.url)", org: o, bucket: b, token: t, batch_size: 5000, flush_interval: 100ms, timeout: 600s}
                """, routes: "- {to: [influx]}"
        ).replacingOccurrences(of: "data_dir: $DIR/data", with: "data_dir: \(dataDir)")
        let first = try GatewayProcess(config: config)
        try await first.start(listeners: ["http"])
        #expect(try await first.post("/api/v2/write?precision=ms", body: Self.body(request: 0)).status == 204)
        #expect(try await first.post("/write?precision=ms", body: Self.body(request: 1)).status == 204)
        #expect(try await first.metric("gateway_journal_pending_requests") == 2)
        // Both batches reached the server (which never answers) before the kill, so that what it
        // counts from here on is what the second start sent.
        let sent = ContinuousClock.now + .seconds(30)
        while influx.accepted.count < 2 * Self.pointsPerRequest, ContinuousClock.now < sent {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await first.stop(signal: SIGKILL)
        // What the server saw so far (the first batch, never answered) does not count.
        let before = influx.accepted.count

        influx.delayAnswers(nil)
        let second = try GatewayProcess(config: config)
        try await second.start(listeners: ["http"])
        #expect(second.stderr.contains("journal holds requests from an earlier run"))
        #expect(try await second.metric("gateway_journal_recovered_requests_total") == 2)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, try await second.metric("gateway_journal_pending_requests") > 0 {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await second.stop() == 0)
        let delivered = Set(influx.accepted[before...])
        let missing = (0..<(2 * Self.pointsPerRequest)).filter {
            !delivered.contains("dur,host=testhost v=\($0)i \((Self.base + Int64($0)) * 1_000_000)")
        }
        #expect(missing.isEmpty, "\(missing.count) points answered 204 before kill -9 not delivered after the restart")
        #expect(influx.accepted.count - before == 2 * Self.pointsPerRequest, "each once")
        try await influx.stop()
    }

    /// The full disk: the spool (and in a second run the journal too) on a real 8 MiB
    /// filesystem, the server down, HTTP load with `ack: durable` and a `block` queue. Once the disk is
    /// full (the sink holds its batch, its queue fills; or the journal cannot write), writes are
    /// answered 503, never 2xx; the server back with the disk still full gets no duplicate; once space is
    /// freed every point answered 204 is delivered, exactly once, without a restart.
    @Test(arguments: [false, true])
    func spoolOnAFull8MiBDisk_no2xxForWhatIsNotKept_noDuplicates_allDeliveredOnceSpaceReturns(journalThereToo: Bool)
        async throws
    {
        let disk = try SpoolFaultEndToEndTests.SmallFilesystem(megabytes: 8, leaveFree: 3 << 20)
        defer { disk.unmount() }
        let vm = try VictoriaMetrics()  // not started yet: the outage
        let sink =
            "influx: {type: influx2, url: \"\(vm.url)\", org: o, bucket: b, token: t, batch_size: 5000, "
            + "flush_interval: 100ms, queue_size: 20000, retry: {max_retries: 0, initial_backoff: 50ms, max_backoff: 300ms}, "
            + "spool: {path: \"\(disk.path)/influx.db\"}}"
        let gateway = try GatewayProcess(
            config: testConfig(
                sinks: sink, routes: "- {to: [influx]}",
                http: "queue_wait: 500ms" + (journalThereToo ? ", journal: {path: \"\(disk.path)/journal\"}" : "")))
        try await gateway.start(listeners: ["http"])
        var acked: [Int] = []
        var answers: [Int: Int] = [:]
        var request = 0
        // Until 30 requests in a row were refused: the disk (spool, then journal) is full.
        var refusedInARow = 0
        while refusedInARow < 30, request < 2000 {
            let status = try await gateway.post("/api/v2/write?precision=ms", body: Self.body(request: request)).status
            answers[status, default: 0] += 1
            if status == 204 {
                acked.append(request)
                refusedInARow = 0
            } else {
                refusedInARow += 1
            }
            request += 1
        }
        #expect(refusedInARow == 30, "the disk never filled: \(answers)")
        #expect(Set(answers.keys) == [204, 503], "\(answers)")
        #expect(!acked.isEmpty)

        // Server back, disk still full: whatever is delivered is delivered once.
        try await vm.start()
        try await Task.sleep(for: .seconds(3))
        let early = try await vm.timestamps("dur_v")
        #expect(
            early.count == Set(early).count, "duplicates with the disk still full: \(early.count - Set(early).count)")

        // Space back: every point answered 204 is delivered, once, without a restart.
        try disk.freeSpace()
        let expected = acked.count * Self.pointsPerRequest
        let deadline = ContinuousClock.now + .seconds(90)
        var stored: [Int64] = []
        while ContinuousClock.now < deadline {
            stored = try await vm.timestamps("dur_v")
            if stored.count >= expected, try await gateway.metric("gateway_journal_pending_requests") == 0 { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        let storedSet = Set(stored)
        var missing = 0
        for request in acked {
            for i in request * Self.pointsPerRequest..<(request + 1) * Self.pointsPerRequest
            where !storedSet.contains(Self.base + Int64(i)) {
                missing += 1
            }
        }
        print("answers \(answers); acked \(expected) points; VictoriaMetrics holds \(stored.count)")
        #expect(missing == 0, "points answered 204 and not delivered")
        #expect(stored.count == storedSet.count, "duplicates: \(stored.count - storedSet.count)")
        #expect(try await gateway.stop() == 0)
        try await vm.stop()
    }

    @Test func ackMemory_answersWithoutAJournal() async throws {
        let gateway = try GatewayProcess(config: testConfig(http: "ack: memory"))
        try await gateway.start(listeners: ["http"])
        #expect(try await gateway.post("/api/v2/write", "mem v=1i 1\n").status == 204)
        #expect(try await gateway.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: gateway.directory.path + "/data/journal"))
        #expect(gateway.stdoutLines == ["mem,host=testhost v=1i 1"])
    }

    /// SIGHUP, SIGUSR1, SIGUSR2 and SIGPIPE would end the process at once by default, losing what
    /// memory holds. Sent under HTTP load: the process stays up, SIGHUP reloads the (unchanged)
    /// file, the others are logged, and every point answered 204 is written once.
    @Test func operatorSignals_underLoad_SIGHUPReloads_othersAreLogged_nothingLost() async throws {
        let gateway = try GatewayProcess(
            config: testConfig(sinks: "out: {type: stdout, format: line, batch_size: 5000, flush_interval: 100ms}"))
        try await gateway.start(listeners: ["http"])
        let pid = gateway.process.processIdentifier
        async let answered = Self.load(port: gateway.httpPort, requests: 0..<40, connections: 2)
        for signal in [SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE, SIGHUP] {
            try await Task.sleep(for: .milliseconds(50))
            kill(pid, signal)
        }
        let acked = await answered
        #expect(gateway.process.isRunning)
        #expect(acked.count == 40, "every request answered 204 (\(acked.count))")
        #expect(try await gateway.stop() == 0)
        for name in ["SIGUSR1", "SIGUSR2"] {
            #expect(gateway.stderr.contains("signal=\(name)"), "\(name) logged")
        }
        #expect(gateway.stderr.contains("SIGHUP received: reloading the configuration"))
        #expect(gateway.stderr.contains("reload: the configuration is unchanged"), "\(gateway.stderr)")
        let lines = gateway.stdoutLines
        #expect(lines.count == 40 * Self.pointsPerRequest, "each point once")
        #expect(Set(lines).count == lines.count)
    }
}
