import Foundation
import GRDB
import GatewayCore
import Testing

/// The jobdir plugin in the real gateway binary: pairs on disk, processors as separate processes
/// speaking the HTTP API, kill -9 in the middle of a scan and of a cleanup.
@Suite(.serialized, .tags(.slow)) struct JobdirEndToEndTests {
    /// A folder that outlives one gateway process (restarts share it).
    final class Workspace {
        let root: String
        var storage: String { "\(root)/crashes/standard" }
        var deferred: String { "\(root)/crashes/deferred" }
        var succeeded: String { "\(root)/crashes/succeeded" }
        var failed: String { "\(root)/crashes/failed" }
        var state: String { "\(root)/data/jobdir/jobdir.db" }

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("jobdir-e2e-\(UUID().uuidString)").path
            for dir in [storage, deferred] {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            }
        }

        deinit { try? FileManager.default.removeItem(atPath: root) }

        /// `count` pairs spread over 100 folders two levels deep; returns their uuids.
        func pairs(_ count: Int) throws -> [String] {
            var uuids: [String] = []
            let dump = Data(repeating: 0xAB, count: 256)
            for i in 0..<count {
                let uuid = UUID().uuidString.lowercased()
                let dir = "\(storage)/2026\(String(format: "%02d", i % 10))/\(i % 100)"
                if i < 100 { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
                try Data("{\"uuid\":\"\(uuid)\",\"product\":\"test\"}".utf8).write(
                    to: URL(fileURLWithPath: "\(dir)/\(uuid).json"))
                try dump.write(to: URL(fileURLWithPath: "\(dir)/\(uuid).dump"))
                uuids.append(uuid)
            }
            return uuids
        }

        func config(successDir: String, failedDir: String, extra: String = "") -> String {
            """
            gateway: {name: testhost, data_dir: \(root)/data}
            listeners:
              udp: {type: udp, listen: "127.0.0.1:0"}
              http: {type: http, listen: "127.0.0.1:0"}
            sinks:
              out: {type: stdout, format: line, batch_size: 1000, flush_interval: 100ms}
            routes:
              - {match: {series: "jobdir_*"}, to: [out]}
            plugins:
              jobdir:
                type: jobdir
                storage_root: \(storage)
                deferred_storage_root: \(deferred)
                success_dir: "\(successDir)"
                failed_dir: "\(failedDir)"
                scan_interval: 1h
                cleanup_interval: 1h
                priority_interval: 1s
                timezone: UTC
            \(extra)
            """
        }

        /// Every regular file under `dir`, as paths relative to it.
        func files(under dir: String) -> [String] {
            guard let walker = FileManager.default.enumerator(atPath: dir) else { return [] }
            var out: [String] = []
            while let path = walker.nextObject() as? String {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: "\(dir)/\(path)", isDirectory: &isDirectory),
                    !isDirectory.boolValue
                {
                    out.append(path)
                }
            }
            return out
        }

        /// A change to the plugin's state file while no gateway runs.
        func execute(_ sql: String) throws {
            let db = try DatabaseQueue(path: state)
            defer { try? db.close() }
            try db.write { db in try db.execute(sql: sql) }
        }

        /// Counts in the plugin's state file, read while the gateway may be writing it (WAL).
        func count(_ sql: String) throws -> Int {
            var configuration = Configuration()
            configuration.readonly = true
            let db = try DatabaseQueue(path: state, configuration: configuration)
            defer { try? db.close() }
            return try db.read { db in try Int.fetchOne(db, sql: sql) ?? 0 }
        }
    }

    func jobs(_ gateway: GatewayProcess, _ query: String) async throws -> [JSONValue] {
        let result = try await gateway.get("/api/v1/jobdir/jobs?\(query)")
        guard result.status == 200, case .array(let jobs)? = try JSONValue.parse(Array(result.body.utf8))["jobs"] else {
            throw TestFailure("GET jobs?\(query): \(result.status) \(result.body)")
        }
        return jobs
    }

    func waitFor(_ what: String, timeout: Duration = .seconds(120), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("timed out waiting for \(what)")
    }

    @Test func tenThousandPairs_areQueuedAndCompletedByThreeProcessorProcesses_thenCleanedUp() async throws {
        let space = try Workspace()
        let uuids = try space.pairs(10_000)
        let gateway = try GatewayProcess(config: space.config(successDir: "", failedDir: space.failed))
        try await gateway.start()
        // The scan at start queues every pair; no processor yet, so they wait unassigned.
        try await waitFor("the first scan") { try await jobs(gateway, "state=unassigned&limit=10000").count == 10_000 }

        let script = try #require(
            Bundle.module.url(forResource: "jobdir_processor", withExtension: "py", subdirectory: "Scripts"))
        var processors: [(name: String, process: Process, out: URL, log: URL)] = []
        for name in ["proc-a", "proc-b", "proc-c"] {
            let process = Process()
            let out = gateway.directory.appendingPathComponent("\(name).done")
            let log = gateway.directory.appendingPathComponent("\(name).log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script.path, gateway.baseURL, name, out.path, "10"]
            process.standardOutput = try FileHandle(forWritingTo: log)
            process.standardError = process.standardOutput
            try process.run()
            processors.append((name, process, out, log))
        }
        try await waitFor("the three processors to finish", timeout: .seconds(600)) {
            processors.allSatisfy { !$0.process.isRunning }
        }
        var finished: [String: Bool] = [:]
        var perProcessor: [String: Int] = [:]
        for p in processors {
            let log = (try? String(contentsOf: p.log, encoding: .utf8)) ?? ""
            #expect(p.process.terminationStatus == 0, "\(p.name): \(log)")
            let lines = try String(contentsOf: p.out, encoding: .utf8).split(separator: "\n")
            perProcessor[p.name] = lines.count
            for line in lines {
                let parts = line.split(separator: " ")
                #expect(
                    finished.updateValue(parts[1] == "true", forKey: String(parts[0])) == nil, "\(parts[0]) done twice")
            }
        }
        #expect(Set(finished.keys) == Set(uuids), "every pair processed exactly once")
        #expect(perProcessor.values.allSatisfy { $0 >= 500 }, "each processor took a share: \(perProcessor)")
        let failedCount = finished.values.filter { !$0 }.count
        #expect(failedCount > 0)

        let cleanup = try await gateway.post("/api/v1/jobdir/cleanup", "")
        #expect(cleanup.status == 200, "\(cleanup.body)")
        let report = try JSONValue.parse(Array(cleanup.body.utf8))
        #expect(report["moved"] == .number("\(failedCount)"))
        #expect(report["deleted"] == .number("\(10_000 - failedCount)"))
        #expect(space.files(under: space.storage).isEmpty, "successful pairs deleted, failed ones moved")
        let moved = space.files(under: space.failed)
        #expect(moved.count == 2 * failedCount)
        #expect(
            moved.allSatisfy { $0.count == 8 + 1 + 36 + 5 && $0.hasPrefix("20") }, "under YYYYMMDD/: \(moved.prefix(3))"
        )
        #expect(try await jobs(gateway, "state=cleaned&limit=10000").count == 10_000)
        #expect(try await jobs(gateway, "limit=10").isEmpty, "no job row left")
        // The queue as points: the totals reach the stdout sink.
        try await waitFor("jobdir_jobs totals") {
            gateway.stdoutLines.contains {
                $0.hasPrefix("jobdir_jobs,") && $0.contains("state=all")
                    && $0.contains("completed_total=\(10_000 - failedCount)i")
                    && $0.contains("failed_total=\(failedCount)i")
            }
        }
        #expect(try await gateway.stop() == 0)
    }

    /// Starts the gateway and kills it (-9) as soon as `countSQL` is above 0 and below `total`;
    /// false when it never was (the work went too fast to catch).
    func killMidway(_ gateway: GatewayProcess, _ space: Workspace, _ countSQL: String, _ total: Int) async throws
        -> Bool
    {
        try await gateway.start()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let done = (try? space.count(countSQL)) ?? 0
            if done > 0 && done < total {
                try await gateway.stop(signal: SIGKILL)
                return true
            }
            if done == total { break }
            try await Task.sleep(for: .milliseconds(2))
        }
        try await gateway.stop(signal: SIGKILL)
        return false
    }

    @Test func killMinus9_duringAScanAndDuringACleanup_losesAndDuplicatesNothing() async throws {
        let space = try Workspace()
        let total = 20_000
        let uuids = try space.pairs(total)
        let config = space.config(successDir: space.succeeded, failedDir: space.failed)

        // 1. Killed while the scan at start is inserting (some chunks committed, not all).
        var partial = false
        for _ in 0..<3 where !partial {
            try? FileManager.default.removeItem(atPath: "\(space.root)/data")
            partial = try await killMidway(GatewayProcess(config: config), space, "SELECT count(*) FROM jobs", total)
        }
        try #require(partial, "the gateway was never caught in the middle of its scan")
        let restarted = try GatewayProcess(config: config)
        try await restarted.start()
        try await waitFor("the scan after the restart") { try space.count("SELECT count(*) FROM jobs") == total }
        try await restarted.stop()
        #expect(try space.count("SELECT count(DISTINCT uuid) FROM jobs") == total)
        #expect(try space.count("SELECT value FROM meta WHERE key = 'queued_total'") == total, "each pair queued once")
        #expect(space.files(under: space.storage).count == 2 * total, "no file lost")

        // 2. Every job done (as processors would report it), then killed while the cleanup moves them.
        try space.execute("UPDATE jobs SET state = 'succeeded', finished_at = \(Date().timeIntervalSince1970)")
        partial = try await killMidway(GatewayProcess(config: config), space, "SELECT count(*) FROM history", total)
        try #require(partial, "the gateway was never caught in the middle of its cleanup")
        let again = try GatewayProcess(config: config)
        try await again.start()
        try await waitFor("the cleanup after the restart") { try space.count("SELECT count(*) FROM history") == total }
        #expect(try space.count("SELECT count(*) FROM jobs") == 0)
        try await again.stop()
        #expect(space.files(under: space.storage).isEmpty)
        let moved = space.files(under: space.succeeded)
        #expect(moved.count == 2 * total, "every file moved once: no copy, none lost")
        let names = Set(moved.map { ($0 as NSString).lastPathComponent })
        #expect(names == Set(uuids.flatMap { ["\($0).json", "\($0).dump"] }))
    }
}
