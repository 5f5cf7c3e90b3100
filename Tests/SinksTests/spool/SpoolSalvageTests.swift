import Foundation
import GRDB
import GatewayCore
import Logging
import TestDoubles
import Testing

@testable import Sinks

/// A damaged spool file never stops the store from opening: what SQLite can still read is copied
/// into a fresh file, in order, and the rest is counted. The oracle for "what SQLite can still
/// read" is an independent read of the damaged file: one point lookup per batch id the test wrote
/// (a different access path from the salvage's ordered walk), keeping rows whose checksum holds.
@Suite struct SpoolSalvageTests {
    let logger = Logger(label: "test")
    static let batches = 200
    static let perBatch = 300

    enum Damage {
        case overwrite64KiBMidFile
        case truncateToHalf
        case zeroHeaderPage
        case garbageWholeFile
    }

    /// A spool of `batches` batches (ids 1...batches) and 50 dead letters, closed (WAL checkpointed).
    func makeSpool(_ path: String) async throws {
        let store = try SpoolStore(path: path, options: .init(maxBytes: 1 << 40), logger: logger)
        for i in 0..<Self.batches {
            _ = try await store.append(
                try SpoolPayload(
                    points: testPoints(i * Self.perBatch..<(i + 1) * Self.perBatch), precision: .nanoseconds))
        }
        try await store.addDeadLetters((0..<50).map { "dead v=\($0)i" }, status: 400, message: "bad")
        store.close()
        #expect(!FileManager.default.fileExists(atPath: path + "-wal") || fileSize(path + "-wal") == 0)
    }

    func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? -1
    }

    func damage(_ path: String, _ kind: Damage, seed: UInt64 = 42) throws {
        let size = fileSize(path)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var generator = SeededGenerator(seed: seed)
        switch kind {
        case .overwrite64KiBMidFile:
            try handle.seek(toOffset: UInt64(size / 2 / 4096 * 4096))
            handle.write(Data((0..<65_536).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        case .truncateToHalf:
            try handle.truncate(atOffset: UInt64(size / 2))
        case .zeroHeaderPage:
            handle.write(Data(repeating: 0, count: 4096))
        case .garbageWholeFile:
            handle.write(Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        }
    }

    /// The oracle: every batch id looked up on its own in the damaged file; the points of those
    /// read whole with a good checksum, in id order; and the dead letters readable one by one.
    func readableByPointLookups(_ path: String) -> (batches: Int, times: [Int64], deadLetters: Int) {
        var config = Configuration()
        config.readonly = true
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA writable_schema = ON") }
        guard let queue = try? DatabaseQueue(path: path, configuration: config) else { return (0, [], 0) }
        defer { try? queue.close() }
        var batches = 0
        var times: [Int64] = []
        for id in 1...Int64(Self.batches) {
            let row = try? queue.read { db in
                try Row.fetchOne(
                    db, sql: "SELECT id, spooled_at, points, precision, checksum, payload FROM batches WHERE id = ?",
                    arguments: [id])
            }
            guard let row, let entry = SpoolStore.entry(row), entry.payload.checksum == (row[4] as Int64?),
                let points = try? entry.payload.decodePoints()
            else { continue }
            batches += 1
            times += points.map(\.time)
        }
        var deadLetters = 0
        for id in 1...50 {
            let line = try? queue.read { db in
                try String.fetchOne(db, sql: "SELECT line FROM dead_letters WHERE id = ?", arguments: [id])
            }
            if line != nil { deadLetters += 1 }
        }
        return (batches, times, deadLetters)
    }

    func salvage(_ kind: Damage, seed: UInt64 = 42) async throws -> (
        report: SpoolSalvageReport, oracle: (batches: Int, times: [Int64], deadLetters: Int), replayed: [Int64],
        store: SpoolStore
    ) {
        let dir = try temporaryDirectory()
        let path = "\(dir)/s.db"
        try await makeSpool(path)
        try damage(path, kind, seed: seed)
        let store = try SpoolStore(path: path, logger: logger)
        let report = try #require(store.salvage)
        #expect(report.damagedPath.hasPrefix("\(path).damaged-"))
        #expect(FileManager.default.fileExists(atPath: report.damagedPath))
        let oracle = readableByPointLookups(report.damagedPath)
        var replayed: [Int64] = []
        var corrupt = 0
        while let entry = try await store.oldest(corruptFound: { corrupt += $0 }) {
            replayed += try entry.payload.decodePoints().map(\.time)
            try await store.remove(entry)
        }
        #expect(corrupt == 0, "salvage keeps only rows whose checksum holds in `batches`")
        if !report.unreadable {
            // Every batch the test wrote is accounted for: salvaged, failed its checksum, or lost.
            #expect(report.batches + report.corruptBatches + report.lostBatchesAtMost >= Self.batches, "\(report.text)")
        }
        #expect(report.batches == oracle.batches, "\(report.text)")
        #expect(report.points == oracle.times.count)
        let sameAsOracle = replayed == oracle.times
        #expect(
            sameAsOracle,
            "salvaged points, in their order, are exactly what SQLite can read (\(replayed.count) vs \(oracle.times.count))"
        )
        #expect(report.deadLetters == oracle.deadLetters)
        #expect(try store.stats().deadLetters == oracle.deadLetters)
        return (report, oracle, replayed, store)
    }

    @Test(arguments: [42, 7, 2026] as [UInt64])
    func overwritten64KiBMidFile_opens_andSalvagesEveryReadableRowInOrder(seed: UInt64) async throws {
        let (report, _, replayed, store) = try await salvage(.overwrite64KiBMidFile, seed: seed)
        // The damage hit batches, and most of them survive.
        #expect(report.batches < Self.batches, "\(report.text)")
        #expect(report.batches > Self.batches / 2, "\(report.text)")
        #expect(replayed.first == testPoints(0..<1)[0].time)
        // The fresh spool takes new batches after the salvaged ids.
        _ = try await store.append(try SpoolPayload(points: testPoints(0..<10), precision: .nanoseconds))
        let next = try #require(try await store.oldest())
        #expect(next.id > Int64(Self.batches))
        #expect(try store.check().isEmpty)
    }

    @Test func truncatedToHalf_opens_andSalvagesTheReadableHalf() async throws {
        let (report, _, _, _) = try await salvage(.truncateToHalf)
        #expect(report.batches > Self.batches / 4, "\(report.text)")
        #expect(report.batches < Self.batches, "\(report.text)")
    }

    /// Page 1 holds only the header and the schema, which every spool file shares: with it rebuilt,
    /// every batch is salvaged, in order.
    @Test func zeroedHeaderPage_opens_andSalvagesEveryBatchThroughARebuiltFirstPage() async throws {
        let dir = try temporaryDirectory()
        let path = "\(dir)/s.db"
        try await makeSpool(path)
        try damage(path, .zeroHeaderPage)
        let store = try SpoolStore(path: path, logger: logger)
        let report = try #require(store.salvage)
        #expect(readableByPointLookups(report.damagedPath).batches == 0, "SQLite cannot open the damaged file as it is")
        #expect(report.rebuiltFirstPage)
        #expect(report.batches == Self.batches, "\(report.text)")
        #expect(report.deadLetters == 50)
        #expect(report.lostBatchesAtMost == 0)
        var replayed: [Int64] = []
        while let entry = try await store.oldest() {
            replayed += try entry.payload.decodePoints().map(\.time)
            try await store.remove(entry)
        }
        let all = replayed == testPoints(0..<Self.batches * Self.perBatch).map(\.time)
        #expect(all, "every point, in order (\(replayed.count))")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(!files.contains { $0.hasSuffix(".rebuilt") || $0.hasSuffix(".template") }, "\(files)")
    }

    @Test func garbageWholeFile_opens_withAnEmptySpool() async throws {
        let (report, oracle, _, store) = try await salvage(.garbageWholeFile)
        #expect(oracle.batches == 0)
        #expect(report.batches == 0)
        #expect(report.unreadable)
        #expect(report.text.contains("nothing could be read"), "\(report.text)")
        #expect(store.isEmpty)
        _ = try await store.append(try SpoolPayload(points: testPoints(0..<10), precision: .nanoseconds))
        #expect(store.batchCount == 1)
    }

    @Test func soundFile_isNotSalvaged() async throws {
        let dir = try temporaryDirectory()
        try await makeSpool("\(dir)/s.db")
        let store = try SpoolStore(path: "\(dir)/s.db", logger: logger)
        #expect(store.salvage == nil)
        #expect(store.batchCount == Self.batches)
    }

    /// A checksum failure found while salvaging is kept aside in `corrupt` and counted, as replay does.
    @Test func rowWithABadChecksum_goesToCorrupt_whileSalvaging() async throws {
        let dir = try temporaryDirectory()
        let path = "\(dir)/s.db"
        try await makeSpool(path)
        do {
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in try db.execute(sql: "UPDATE batches SET checksum = checksum + 1 WHERE id = 3")
            }
            try queue.close()
        }
        try damage(path, .overwrite64KiBMidFile)
        let store = try SpoolStore(path: path, logger: logger)
        let report = try #require(store.salvage)
        #expect(report.corruptBatches == 1)
        #expect(report.corruptPoints == Self.perBatch)
        #expect(try store.stats().corrupt == 1)
    }
}
