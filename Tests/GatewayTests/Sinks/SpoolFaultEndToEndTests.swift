import Foundation
import GRDB
import GatewayCore
import Sinks
import TestDoubles
import Testing

/// The spool under faults, end to end: the real gateway binary, a real VictoriaMetrics, real
/// SQLite files, a damaged spool file and a real 8 MiB filesystem (tmpfs) that fills up.
@Suite(.serialized, .tags(.slow)) struct SpoolFaultEndToEndTests {
    static let base: Int64 = 1_760_000_000_000  // ms

    func influxSink(url: String, extra: String = "") -> String {
        """
        influx: {type: influx2, url: "\(url)", org: o, bucket: b, token: t, batch_size: 1000, flush_interval: 100ms,
                   retry: {max_retries: 0, initial_backoff: 50ms, max_backoff: 300ms}\(extra.isEmpty ? "" : ", " + extra)}
        """
    }

    /// Line protocol for points `range` of series `fault`, one distinct millisecond each.
    func lines(_ range: Range<Int>) -> String {
        range.map { "fault,src=test v=\($0)i \((Self.base + Int64($0)) * 1_000_000)\n" }.joined()
    }

    /// Per batch id, looked up on its own: the millisecond timestamps of each batch of the damaged
    /// file that SQLite can still read whole with a good checksum (the test's oracle).
    func readableTimestamps(_ path: String, ids: ClosedRange<Int64>) throws -> [Int64] {
        var config = Configuration()
        config.readonly = true
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA writable_schema = ON") }
        let queue = try DatabaseQueue(path: path, configuration: config)
        defer { try? queue.close() }
        var times: [Int64] = []
        for id in ids {
            let row = try? queue.read { db in
                try Row.fetchOne(
                    db, sql: "SELECT points, precision, checksum, payload FROM batches WHERE id = ?", arguments: [id])
            }
            guard let row, let points = row[0] as Int?,
                let precision = (row[1] as String?).flatMap({ Precision(rawValue: $0) }),
                let data = row[3] as Data?
            else { continue }
            let payload = SpoolPayload(compressed: Array(data), points: points, precision: precision)
            guard payload.checksum == (row[2] as Int64?), let decoded = try? payload.decodePoints() else { continue }
            times += decoded.map { $0.time / 1_000_000 }
        }
        return times
    }

    @Test func spoolWith64KiBOverwritten_gatewayStarts_everyReadablePointReachesVictoriaMetricsOnce() async throws {
        let vm = try VictoriaMetrics()  // not started yet: the outage of the first run
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("gw-data-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let config = testConfig(sinks: influxSink(url: vm.url), routes: "- {to: [influx]}")
            .replacingOccurrences(of: "data_dir: $DIR/data", with: "data_dir: \(dataDir)")
        let total = 60_000
        let first = try GatewayProcess(config: config)
        try await first.start()
        for chunk in 0..<(total / 2000) {
            #expect(try await first.post("/api/v2/write", lines(chunk * 2000..<(chunk + 1) * 2000)).status == 204)
        }
        #expect(
            try await first.waitForMetric("gateway_spool_points", ["sink": "influx"], atLeast: Double(total))
                == Double(total))
        #expect(try await first.stop() == 0)

        // 64 KiB of noise in the middle of the file, as a failing disk or a stray write leaves it.
        let path = "\(dataDir)/spool/influx.db"
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64(size / 2))
        var generator = SeededGenerator(seed: 7)
        handle.write(Data((0..<65_536).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        try handle.close()
        let copy = "\(dataDir)/damaged-copy.db"
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        let readable = try readableTimestamps(copy, ids: 1...Int64(total / 1000 + 10))
        #expect(
            readable.count > 0 && readable.count < total,
            "the damage must cost some batches and leave others: \(readable.count)")

        try await vm.start()
        let second = try GatewayProcess(config: config)
        try await second.start()
        #expect(second.stderr.contains("spool file is damaged"), "\(second.stderr)")
        #expect(second.stderr.contains("damaged spool salvaged"))
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(dataDir)/spool")
        #expect(files.contains { $0.hasPrefix("influx.db.damaged-") }, "\(files)")
        #expect(
            try await second.metric("gateway_spool_salvaged_points_total", ["sink": "influx"]) == Double(readable.count)
        )
        let status = try await second.get("/api/v1/status").body
        #expect(status.contains("\"salvaged\""), "\(status)")
        let held = try await vm.waitForSamples("fault_v", count: readable.count)
        let exactlyOnce = held.sorted() == readable.sorted()
        #expect(
            exactlyOnce, "VictoriaMetrics holds every salvaged point exactly once (\(held.count) of \(readable.count))")
        #expect(
            try await second.waitForMetric(
                "gateway_points_replayed_total", ["sink": "influx"], atLeast: Double(readable.count))
                == Double(readable.count))
        // Nothing more arrives later (no duplicate sent after the count was reached).
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await vm.timestamps("fault_v").count == readable.count)

        // --repair never works on a file a running gateway holds.
        let configPath = second.directory.appendingPathComponent("gateway.yaml").path
        let owned = try runGateway(["spool", "check", "--repair", "--config", configPath])
        #expect(owned.status == 1)
        #expect(owned.out.contains("in use by another gateway process (pid"), "\(owned.out)\(owned.err)")

        // Offline: check names the damage and points to --repair; repair prints what it salvaged.
        let repairCopy = "\(dataDir)/repair.db"
        try FileManager.default.copyItem(atPath: copy, toPath: repairCopy)
        let check = try runGateway(["spool", "check", "--file", repairCopy, "--config", "/nonexistent.yaml"])
        #expect(check.status == 1)
        #expect(check.out.contains("gateway spool check --repair"), "\(check.out)\(check.err)")
        let repair = try runGateway([
            "spool", "check", "--repair", "--file", repairCopy, "--config", "/nonexistent.yaml",
        ])
        #expect(repair.status == 0, "\(repair.out)\(repair.err)")
        #expect(
            repair.out.contains("repaired: salvaged ") && repair.out.contains(" batches (\(readable.count) points)"),
            "\(repair.out)")
        let recheck = try runGateway(["spool", "check", "--file", repairCopy, "--config", "/nonexistent.yaml"])
        #expect(recheck.status == 0, "\(recheck.out)\(recheck.err)")
        #expect(try await second.stop() == 0)
        try await vm.stop()
    }

    /// Writes batches of 2,000 points (each answered 204) until `sink`'s spool cannot write, then 20
    /// more batches than that; returns the points sent.
    func fillTheSpool(_ gateway: GatewayProcess, sink: String) async throws -> Int {
        var sent = 0
        while sent < 2_000_000, try await gateway.metric("gateway_spool_writable", ["sink": sink]) == 1 {
            #expect(try await gateway.post("/api/v2/write", lines(sent..<sent + 2000)).status == 204)
            sent += 2000
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await gateway.metric("gateway_spool_writable", ["sink": sink]) == 0, "the spool never filled")
        for _ in 0..<20 {
            #expect(try await gateway.post("/api/v2/write", lines(sent..<sent + 2000)).status == 204)
            sent += 2000
        }
        return sent
    }

    /// A real 8 MiB filesystem for the spool (tmpfs; mounting needs root), most of it taken by a
    /// file standing for whatever else fills the disk.
    struct SmallFilesystem {
        let path: String
        let filler: String

        init(megabytes: Int, leaveFree: Int) throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("spooldisk-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let mount = try Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path])
            guard mount == 0 else { throw TestFailure("mount -t tmpfs failed (\(mount)): this test needs root") }
            filler = "\(path)/filler"
            var stats = statvfs()
            statvfs(path, &stats)
            let free = Int(stats.f_bavail) * Int(stats.f_frsize)
            try Data(repeating: 0xAB, count: max(0, free - leaveFree)).write(to: URL(fileURLWithPath: filler))
        }

        func freeSpace() throws { try FileManager.default.removeItem(atPath: filler) }

        func unmount() {
            _ = try? Self.run("/bin/umount", ["-l", path])
            try? FileManager.default.removeItem(atPath: path)
        }

        static func run(_ tool: String, _ arguments: [String]) throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = arguments
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    @Test  // mounts an 8 MiB tmpfs: needs root (without it, a failure, not a skip)
    func spoolOn8MiBFilesystem_full_nothingDroppedSilently_serverBackNoDuplicates_spaceFreedAllDelivered() async throws
    {
        let disk = try SmallFilesystem(megabytes: 8, leaveFree: 1 << 20)
        defer { disk.unmount() }
        let vm = try VictoriaMetrics()  // not started yet: the outage
        let sink = influxSink(
            url: vm.url, extra: "queue_size: 20000, when_full: drop_newest, spool: {path: \"\(disk.path)/influx.db\"}")
        let gateway = try GatewayProcess(config: testConfig(sinks: sink, routes: "- {to: [influx]}"))
        try await gateway.start()

        // Server down: the spool takes batches until its filesystem is full, then more than the
        // queue holds (its when_full, drop_newest, applies, counted).
        let sent = try await fillTheSpool(gateway, sink: "influx")
        try await Task.sleep(for: .seconds(1))
        let status = try await gateway.get("/api/v1/status").body
        #expect(status.contains("spool cannot write: SQLite error 13"), "\(status)")
        #expect(try await gateway.metric("gateway_sink_healthy", ["sink": "influx"]) == 0)
        #expect(gateway.stderr.contains("spool cannot write (disk full or I/O error)"))
        #expect(
            try await gateway.metric("gateway_points_dropped_total", ["sink": "influx", "reason": "write_error"]) == 0)
        #expect(
            try await gateway.metric("gateway_points_dropped_total", ["sink": "influx", "reason": "spool_full"]) == 0)
        let dropped = Int(
            try await gateway.metric("gateway_points_dropped_total", ["sink": "influx", "reason": "queue_full"]))
        #expect(dropped > 0, "the queue's when_full policy applied")
        let spooled = Int(try await gateway.metric("gateway_spool_points", ["sink": "influx"]))
        let queued = Int(try await gateway.metric("gateway_sink_queue_points", ["sink": "influx"]))
        // Every point is in the spool, counted dropped by the configured policy, still queued, or
        // in the batches the sink holds while it retries the append (at most max_in_flight + 1).
        let held = sent - spooled - dropped - queued
        #expect(held >= 0 && held <= 3000, "sent \(sent), spooled \(spooled), dropped \(dropped), queued \(queued)")

        // Server back, disk still full: whatever is delivered is delivered once.
        try await vm.start()
        try await Task.sleep(for: .seconds(4))
        let early = try await vm.timestamps("fault_v")
        #expect(
            early.count == Set(early).count, "duplicates with the disk still full: \(early.count - Set(early).count)")

        // Space back: everything kept is delivered, exactly once, without a restart.
        try disk.freeSpace()
        let expected = sent - dropped
        let held2 = try await vm.waitForSamples("fault_v", count: expected, timeout: .seconds(90))
        #expect(held2.count == expected, "delivered \(held2.count) of \(expected)")
        #expect(Set(held2).count == held2.count, "duplicates: \(held2.count - Set(held2).count)")
        #expect(Set(held2).isSubset(of: Set((0..<sent).map { Self.base + Int64($0) })))
        #expect(try await gateway.waitForMetric("gateway_spool_writable", ["sink": "influx"], atLeast: 1) == 1)
        #expect(try await gateway.waitForMetric("gateway_sink_healthy", ["sink": "influx"], atLeast: 1) == 1)
        #expect(gateway.stderr.contains("spool can write again"))
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await vm.timestamps("fault_v").count == expected)
        #expect(try await gateway.stop() == 0)
        try await vm.stop()
    }

    @Test  // mounts an 8 MiB tmpfs: needs root (without it, a failure, not a skip)
    func archiveSpoolOn8MiBFilesystem_full_holdsItsQueue_reportsWhy_archivesEverythingOnceSpaceReturns() async throws {
        let disk = try SmallFilesystem(megabytes: 8, leaveFree: 1 << 20)
        defer { disk.unmount() }
        let sink = """
            archive: {type: spool, path: "\(disk.path)/archive.db", batch_size: 1000, flush_interval: 100ms,
                      queue_size: 20000, when_full: drop_newest}
            """
        let gateway = try GatewayProcess(config: testConfig(sinks: sink, routes: "- {to: [archive]}"))
        try await gateway.start()
        let sent = try await fillTheSpool(gateway, sink: "archive")
        try await Task.sleep(for: .seconds(1))
        let status = try await gateway.get("/api/v1/status").body
        #expect(status.contains("spool cannot write: SQLite error 13"), "\(status)")
        #expect(
            try await gateway.metric("gateway_points_dropped_total", ["sink": "archive", "reason": "write_error"]) == 0)
        let dropped = Int(
            try await gateway.metric("gateway_points_dropped_total", ["sink": "archive", "reason": "queue_full"]))
        #expect(dropped > 0, "the queue's when_full policy applied")
        try disk.freeSpace()
        let expected = Double(sent - dropped)
        #expect(
            try await gateway.waitForMetric(
                "gateway_points_written_total", ["sink": "archive"], atLeast: expected, timeout: .seconds(60))
                == expected)
        #expect(try await gateway.waitForMetric("gateway_spool_writable", ["sink": "archive"], atLeast: 1) == 1)
        #expect(try await gateway.stop() == 0)
        let configPath = gateway.directory.appendingPathComponent("gateway.yaml").path
        let export = try runGateway(["spool", "export", "--config", configPath])
        #expect(export.status == 0, "\(export.err)")
        let exported = export.out.split(separator: "\n")
        #expect(exported.count == sent - dropped)
        #expect(Set(exported).count == exported.count, "each point archived once")
    }
}
