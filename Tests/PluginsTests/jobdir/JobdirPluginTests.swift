import Foundation
import GatewayCore
import Testing

@testable import Plugins

/// A jobdir plugin on a fixture's folders; its API is called through its routes.
final class JobdirPluginFixture {
    let files: JobdirFixture
    let emitted: EmittedPoints
    let plugin: JobdirPlugin

    init(time: FakeTime? = nil, configure: (inout JobdirSettings) -> Void = { _ in }) throws {
        files = try JobdirFixture()
        var settings = JobdirSettings(storageRoot: files.storage, statePath: "\(files.dir)/state/plugin.db")
        settings.deferredStorageRoot = files.deferred
        settings.timeZone = TimeZone(identifier: "UTC")!
        configure(&settings)
        let emitted = EmittedPoints()
        self.emitted = emitted
        plugin = try JobdirPlugin(
            name: "jobdir", settings: settings, context: time.map { emitted.context(time: $0) } ?? emitted.context)
    }

    deinit { plugin.store.close() }

    func call(
        _ method: PluginRoute.Method, _ path: String, query: [String: String] = [:], body: String = ""
    ) async -> (status: Int, json: JSONValue?) {
        let full = "/api/v1/jobdir\(path)"
        for route in plugin.routes where route.method == method {
            let pattern = route.path.split(separator: "/")
            let parts = full.split(separator: "/")
            guard pattern.count == parts.count else { continue }
            var parameters: [String: String] = [:]
            var matches = true
            for (p, v) in zip(pattern, parts) {
                if p.hasPrefix(":") { parameters[String(p.dropFirst())] = String(v) } else if p != v { matches = false }
            }
            guard matches else { continue }
            let response = await route.handler(
                PluginRequest(parameters: parameters, query: query, body: Array(body.utf8)))
            return (response.status, response.body.isEmpty ? nil : try? JSONValue.parse(response.body))
        }
        Issue.record("no route \(method) \(full)")
        return (0, nil)
    }
}

extension JSONValue {
    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}

@Suite("jobdir plugin: scans, priority, cleanup and the API")
struct JobdirPluginTests {
    @Test("a pair without its dump is not queued; once the dump appears, the next scan queues it")
    func pairWithoutDumpWaitsForIt() async throws {
        let f = try JobdirPluginFixture()
        #expect(await f.call(.post, "/processors/p1/check-in").status == 200)
        let uuid = try f.files.pair(sub: "a/b", dump: false)
        var report = try #require(await f.plugin.scan())
        #expect(report.queued == 0 && report.incomplete == 1)
        #expect(try f.plugin.store.job(uuid) == nil)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: "\(f.files.storage)/a/b/\(uuid).dump"))
        report = try #require(await f.plugin.scan())
        #expect(report.queued == 1 && report.incomplete == 0)
        #expect(try f.plugin.store.job(uuid)?.processor == "p1")
        report = try #require(await f.plugin.scan())
        #expect(report.queued == 0, "a known uuid is not queued twice")
    }

    @Test("a priority uuid found only under deferred_storage_root is queued and claimed before older normal jobs")
    func deferredPriorityClaimedFirst() async throws {
        let f = try JobdirPluginFixture()
        #expect(await f.call(.post, "/processors/p1/check-in").status == 200)
        let older = try (0..<3).map { _ in try f.files.pair() }
        _ = await f.plugin.scan()
        let deferred = try f.files.pair(in: f.files.deferred, sub: "2026/11")
        // A scan never queues deferred pairs.
        #expect(try #require(await f.plugin.scan()).queued == 0)
        let answer = await f.call(.post, "/priority", body: "{\"uuid\": \"\(deferred)\"}")
        #expect(answer.status == 200)
        #expect(answer.json?["outcome"]?.string == "queued")
        #expect(answer.json?["origin"]?.string == "deferred")
        let claimed = await f.call(.post, "/claim", query: ["processor": "p1"])
        #expect(claimed.status == 200)
        #expect(claimed.json?["uuid"]?.string == deferred)
        #expect(claimed.json?["json_path"]?.string == "\(f.files.deferred)/2026/11/\(deferred).json")
        #expect(claimed.json?["dump_path"]?.string == "\(f.files.deferred)/2026/11/\(deferred).dump")
        #expect(claimed.json?["priority"] == .bool(true))
        // A queued normal job asked for: to the front.
        let moved = await f.call(.post, "/priority", query: ["uuid": older[2]])
        #expect(moved.json?["outcome"]?.string == "moved")
        #expect(await f.call(.post, "/claim", query: ["processor": "p1"]).json?["uuid"]?.string == older[2])
        #expect(await f.call(.post, "/claim", query: ["processor": "p1"]).json?["uuid"]?.string == older[0])
        let missing = "0badc0de-0000-4000-8000-000000000000"
        #expect(await f.call(.post, "/priority", body: missing).status == 404)
        #expect(await f.call(.post, "/priority", body: "{\"uuid\": \"nope\"}").status == 400)
        #expect(await f.call(.post, "/priority").status == 400)
    }

    @Test(
        "cleanup: a failed job's files end under failed_dir/YYYYMMDD/, originals and row gone; success_dir empty deletes"
    )
    func cleanupMovesAndDeletes() async throws {
        let failedDir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "jobdir-failed-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: failedDir) }
        let g = try JobdirPluginFixture {
            $0.failedDir = failedDir; $0.successDir = ""
        }
        #expect(await g.call(.post, "/processors/p1/check-in").status == 200)
        let bad = try g.files.pair(sub: "x")
        let good = try g.files.pair(sub: "y")
        _ = await g.plugin.scan()
        for _ in 0..<2 { #expect(await g.call(.post, "/claim", query: ["processor": "p1"]).status == 200) }
        #expect(await g.call(.post, "/claim", query: ["processor": "p1"]).status == 204)
        let failed = await g.call(
            .post, "/jobs/\(bad)/done", query: ["processor": "p1"],
            body: "{\"success\": false, \"message\": \"unreadable dump\"}")
        #expect(failed.status == 200)
        #expect(await g.call(.post, "/jobs/\(good)/done", body: "{\"success\": true}").status == 200)
        let finishedAt = try #require(try g.plugin.store.job(bad)?.finishedAt)
        let report = try #require(await g.plugin.cleanup())
        #expect(report.moved == 1 && report.deleted == 1 && report.failed.isEmpty)
        let day = JobdirPlugin.day(finishedAt, in: TimeZone(identifier: "UTC")!)
        #expect(day.count == 8)
        let fm = FileManager.default
        #expect(fm.fileExists(atPath: "\(failedDir)/\(day)/\(bad).json"))
        #expect(fm.fileExists(atPath: "\(failedDir)/\(day)/\(bad).dump"))
        for uuid in [bad, good] {
            for sub in ["x", "y"] {
                #expect(!fm.fileExists(atPath: "\(g.files.storage)/\(sub)/\(uuid).json"))
                #expect(!fm.fileExists(atPath: "\(g.files.storage)/\(sub)/\(uuid).dump"))
            }
        }
        #expect(try g.plugin.store.jobs(state: nil, processor: nil, limit: 10).isEmpty, "the job rows are gone")
        let history = await g.call(.get, "/jobs", query: ["state": "cleaned"])
        guard case .array(let jobs)? = history.json?["jobs"] else {
            Issue.record("no history")
            return
        }
        #expect(jobs.count == 2)
        #expect(
            jobs.contains {
                $0["uuid"]?.string == bad && $0["message"]?.string == "unreadable dump"
                    && $0["destination"]?.string == "\(failedDir)/\(day)"
            })
    }

    @Test("a move that fails is retried next cleanup and never loses the files")
    func failedMoveIsRetried() async throws {
        let blocked = FileManager.default.temporaryDirectory.appendingPathComponent(
            "jobdir-blocked-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: blocked) }
        // A file where the success folder should be: the move cannot create its dated folder.
        try Data("x".utf8).write(to: URL(fileURLWithPath: blocked))
        let f = try JobdirPluginFixture { $0.successDir = blocked }
        _ = await f.call(.post, "/processors/p1/check-in")
        let uuid = try f.files.pair()
        _ = await f.plugin.scan()
        _ = await f.call(.post, "/claim", query: ["processor": "p1"])
        #expect(await f.call(.post, "/jobs/\(uuid)/done", body: "{\"success\": true}").status == 200)
        var report = try #require(await f.plugin.cleanup())
        #expect(report.failed.count == 1)
        #expect(FileManager.default.fileExists(atPath: "\(f.files.storage)/\(uuid).json"))
        #expect(FileManager.default.fileExists(atPath: "\(f.files.storage)/\(uuid).dump"))
        let job = try #require(try f.plugin.store.job(uuid))
        #expect(job.state == .succeeded && job.cleanupAttempts == 1 && job.cleanupError != nil)
        try FileManager.default.removeItem(atPath: blocked)
        report = try #require(await f.plugin.cleanup())
        #expect(report.moved == 1 && report.failed.isEmpty)
        let day = JobdirPlugin.day(job.finishedAt!, in: TimeZone(identifier: "UTC")!)
        #expect(FileManager.default.fileExists(atPath: "\(blocked)/\(day)/\(uuid).dump"))
        #expect(try f.plugin.store.job(uuid)?.state == .cleaned)
    }

    @Test("cleanup never replaces a file of the same name, and finishes a job whose file someone removed")
    func cleanupCollisionsAndMissingFiles() async throws {
        let done = FileManager.default.temporaryDirectory.appendingPathComponent("jobdir-done-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: done) }
        let f = try JobdirPluginFixture { $0.successDir = done }
        _ = await f.call(.post, "/processors/p1/check-in")
        let first = try f.files.pair(sub: "a")
        let gone = try f.files.pair(sub: "b")
        _ = await f.plugin.scan()
        for uuid in [first, gone] {
            _ = await f.call(.post, "/claim", query: ["processor": "p1"])
            #expect(await f.call(.post, "/jobs/\(uuid)/done", body: "{\"success\": true}").status == 200)
        }
        let day = JobdirPlugin.day(
            try #require(try f.plugin.store.job(first)?.finishedAt), in: TimeZone(identifier: "UTC")!)
        // Another file already has the first job's dump name at the destination.
        try FileManager.default.createDirectory(atPath: "\(done)/\(day)", withIntermediateDirectories: true)
        try Data("older".utf8).write(to: URL(fileURLWithPath: "\(done)/\(day)/\(first).dump"))
        try FileManager.default.removeItem(atPath: "\(f.files.storage)/b/\(gone).dump")
        let report = try #require(await f.plugin.cleanup())
        #expect(report.moved == 2 && report.failed.isEmpty)
        #expect(report.missing == ["\(f.files.storage)/b/\(gone).dump"])
        #expect(try String(contentsOfFile: "\(done)/\(day)/\(first).dump", encoding: .utf8) == "older", "not replaced")
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: "\(done)/\(day)/\(first).dump.1"))
                == Data(repeating: 7, count: 64))
        #expect(FileManager.default.fileExists(atPath: "\(done)/\(day)/\(gone).json"))
        #expect(try f.plugin.store.job(gone)?.state == .cleaned)
    }

    @Test("symbolic links are not jobs; overlapping suffixes pair correctly; uuids are matched in any case")
    func linksSuffixesAndCase() async throws {
        let f = try JobdirPluginFixture {
            $0.jsonSuffix = ".json"; $0.dumpSuffix = ".dump.json"
        }
        _ = await f.call(.post, "/processors/p1/check-in")
        let upper = "DE1BB258-CBBF-4589-A673-34F800160918"
        try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(f.files.storage)/\(upper).json"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(f.files.storage)/\(upper).dump.json"))
        let linked = "0a1bb258-cbbf-4589-a673-34f800160918"
        try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(f.files.dir)/\(linked).json"))
        try FileManager.default.createSymbolicLink(
            atPath: "\(f.files.storage)/\(linked).json", withDestinationPath: "\(f.files.dir)/\(linked).json")
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(f.files.storage)/\(linked).dump.json"))
        let report = try #require(await f.plugin.scan())
        #expect(report.queued == 1 && report.incomplete == 1)
        let job = try #require(try f.plugin.store.job(upper.lowercased()))
        #expect(job.dumpPath == "\(f.files.storage)/\(upper).dump.json")
        #expect(await f.call(.get, "/jobs/\(upper)").status == 200)
        #expect(await f.call(.post, "/jobs/\(upper)/done", body: "{\"success\": true}").status == 200)
    }

    @Test(
        "operators remove a processor; check-in with a new instance requeues its running jobs; unreadable roots answer 503"
    )
    func processorAdministration() async throws {
        let f = try JobdirPluginFixture { $0.deferredStorageRoot = "/proc/1/no-such-root" }
        #expect(await f.call(.post, "/processors/p1/check-in", body: "{\"instance\": \"a\"}").status == 200)
        #expect(await f.call(.post, "/processors/p2/check-in").status == 200)
        let uuid = try f.files.pair()
        _ = await f.plugin.scan()
        #expect(await f.call(.post, "/claim", query: ["processor": "p1"]).json?["uuid"]?.string == uuid)
        let restarted = await f.call(.post, "/processors/p1/check-in", query: ["instance": "b"])
        #expect(restarted.json?["requeued"] == .number("1"))
        let removed = await f.call(.delete, "/processors/p1")
        #expect(removed.status == 200 && removed.json?["requeued"] == .number("1"))
        #expect(try f.plugin.store.job(uuid)?.processor == "p2")
        #expect(await f.call(.delete, "/processors/p1").status == 404)
        #expect(await f.call(.post, "/processors/p1/check-in", body: "{\"instance\": 5}").status == 400)
        #expect(await f.call(.post, "/priority", query: ["uuid": "0badc0de-0000-4000-8000-000000000000"]).status == 503)
    }

    @Test("bad requests get clear 4xx answers")
    func badRequests() async throws {
        let f = try JobdirPluginFixture()
        #expect(await f.call(.post, "/processors/bad name/check-in").status == 400)
        #expect(await f.call(.post, "/claim").status == 400)
        #expect(await f.call(.post, "/claim", query: ["processor": "ghost"]).status == 404)
        let uuid = "de1bb258-cbbf-4589-a673-34f800160918"
        #expect(await f.call(.post, "/jobs/\(uuid)/done", body: "{\"success\": true}").status == 404)
        #expect(await f.call(.post, "/jobs/not-a-uuid/done", body: "{\"success\": true}").status == 400)
        #expect(await f.call(.post, "/jobs/\(uuid)/done", body: "{\"success\": \"yes\"}").status == 400)
        #expect(await f.call(.post, "/jobs/\(uuid)/done", body: "{success").status == 400)
        #expect(await f.call(.post, "/jobs/\(uuid)/done", body: "[]").status == 400)
        #expect(await f.call(.get, "/jobs", query: ["state": "lost"]).status == 400)
        #expect(await f.call(.get, "/jobs", query: ["limit": "0"]).status == 400)
        #expect(await f.call(.get, "/jobs/\(uuid)").status == 404)
        // Done by a processor the job is not assigned to.
        _ = await f.call(.post, "/processors/p1/check-in")
        _ = await f.call(.post, "/processors/p2/check-in")
        let pair = try f.files.pair(uuid)
        _ = await f.plugin.scan()
        #expect(try f.plugin.store.job(pair)?.processor == "p1")
        #expect(
            await f.call(.post, "/jobs/\(uuid)/done", query: ["processor": "p2"], body: "{\"success\": true}").status
                == 409)
    }

    @Test("jobdir_jobs points: depth per processor and state, totals, wait and processing times")
    func points() async throws {
        let f = try JobdirPluginFixture()
        await f.plugin.maintain()
        #expect(
            f.emitted.all.contains {
                $0.tags.contains(Tag("processor", "none")) && $0.fields == [Field("depth", .int(0))]
            })
        _ = await f.call(.post, "/processors/p1/check-in")
        let uuids = try (0..<3).map { _ in try f.files.pair() }
        _ = await f.plugin.scan()
        _ = await f.call(.post, "/claim", query: ["processor": "p1"])
        _ = await f.call(.post, "/jobs/\(uuids[0])/done", body: "{\"success\": false}")
        let points = try f.plugin.points(now: Date().timeIntervalSince1970)
        func depth(_ processor: String, _ state: String) -> FieldValue? {
            points.first { $0.tags.contains(Tag("processor", processor)) && $0.tags.contains(Tag("state", state)) }?
                .fields.first?.value
        }
        #expect(depth("p1", "queued") == .int(2))
        #expect(depth("p1", "running") == .int(0))
        #expect(depth("p1", "failed") == .int(1))
        #expect(depth("none", "queued") == .int(0))
        let all = try #require(points.first { $0.tags.contains(Tag("state", "all")) })
        let fields = Dictionary(uniqueKeysWithValues: all.fields.map { ($0.key, $0.value) })
        #expect(fields["queued_total"] == .int(3))
        #expect(fields["failed_total"] == .int(1))
        #expect(fields["completed_total"] == .int(0))
        #expect(fields["live_processors"] == .int(1))
        #expect(fields["claimed"] == .int(1))
        #expect(fields["finished"] == .int(1))
        #expect(fields["wait_seconds_mean"] != nil && fields["processing_seconds_max"] != nil)
    }
}

@Suite("jobdir plugin on a manual clock")
struct JobdirClockTests {
    /// 2026-11-18 12:00:00 UTC.
    static let start: Double = 1_795_003_200

    @Test(
        "a processor silent for twice processor_check_in is found dead at the first maintenance after, not before; its job is requeued"
    )
    func deadProcessor_atExactInstants() async throws {
        let time = FakeTime(start: Date(timeIntervalSince1970: Self.start))
        let f = try JobdirPluginFixture(time: time) {
            $0.processorCheckIn = .seconds(30)  // dead after 60 s of silence
            $0.priorityInterval = .seconds(10)  // maintenance every 10 s
            $0.scanInterval = .seconds(3600)
            $0.cleanupInterval = .seconds(3600)
        }
        #expect(await f.call(.post, "/processors/p1/check-in").status == 200)
        let uuid = try f.files.pair()
        try await withThrowingTaskGroup(of: Void.self) { group in
            let plugin = f.plugin
            group.addTask { try await plugin.run() }
            // Scan (which queues the pair for p1), cleanup and maintenance ran once and sleep.
            try await time.waitForSleepers(3)
            #expect(try f.plugin.store.job(uuid)?.processor == "p1")
            for elapsed in stride(from: 10, through: 60, by: 10) {
                time.advance(by: .seconds(10))
                try await time.waitForSleepers(3)
                // Last seen at 0: not dead while now - 60 s is not past it.
                #expect(try f.plugin.store.processors().first?.alive == true, "p1 alive at \(elapsed) s")
            }
            time.advance(by: .seconds(10))
            try await time.waitForSleepers(3)
            let p1 = try #require(try f.plugin.store.processors().first)
            #expect(!p1.alive)
            #expect(p1.diedAt == Self.start + 70)
            let job = try #require(try f.plugin.store.job(uuid))
            #expect(job.processor == nil && job.state == .queued)
            #expect(try f.plugin.store.totals()["requeued_total"] == 1)
            group.cancelAll()
        }
    }
}
