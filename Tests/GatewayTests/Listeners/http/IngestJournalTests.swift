import Foundation
import GatewayCore
import Logging
import Metrics
import Testing

@testable import Gateway

/// The ingest journal on its own: what it keeps across a restart, what it forgets once settled, what
/// it does with a torn tail, and when it refuses.
@Suite struct IngestJournalTests {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("journal-test-\(UUID().uuidString)").path

    func open(maxSize: Int = 1 << 30, segmentSize: Int = 1 << 20) throws -> IngestJournal {
        try IngestJournal(
            configuration: .init(path: folder, sync: .normal, maxSize: maxSize, segmentSize: segmentSize),
            metrics: JournalMetrics(listener: "t", factory: NOOPMetricsHandler.instance), logger: Logger(label: "t"))
    }

    func body(_ i: Int) -> [UInt8] { Array("m,i=\(i) v=\(i)i \(1_700_000_000_000_000_000 + i)\n".utf8) }

    @discardableResult
    func append(_ journal: IngestJournal, _ i: Int, format: PayloadFormat = .lineProtocol) throws -> (
        Acknowledgement, UInt64
    ) {
        try body(i).withUnsafeBytes {
            try journal.append(
                $0, format: format, linePrecision: .milliseconds, jsonPrecision: .seconds, receiveTime: Int64(i))
        }
    }

    func segments() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".journal") }
            .sorted()
    }

    @Test func restart_returnsExactlyTheUnsettledRecords_asTheyWereWritten() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        do {
            let journal = try open()
            _ = try journal.load()
            var acks: [Acknowledgement] = []
            for i in 1...10 { acks.append(try append(journal, i).0) }
            // Settled out of order: 1, 2, 3, 5, 8 and 10. The watermark stops at 3.
            for i in [3, 1, 2, 5, 8, 10] { acks[i - 1].release() }
        }  // dropped without close: as after kill -9
        let reopened = try open()
        let backlog = try reopened.load()
        #expect(
            backlog.records.map(\.sequence) == [4, 5, 6, 7, 8, 9, 10].map(UInt64.init), "everything above the watermark"
        )
        let four = try #require(backlog.records.first)
        #expect(four.body == body(4))
        #expect(four.receiveTime == 4 && four.linePrecision == .milliseconds && four.format == .lineProtocol)
        // New records number on after the old ones.
        #expect(try append(reopened, 11).1 == 11)
    }

    @Test func settledSegments_areDeleted_andACleanCloseLeavesNoSegment() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let journal = try open(segmentSize: 200)  // a few records per segment
        _ = try journal.load()
        var acks: [Acknowledgement] = []
        for i in 1...30 { acks.append(try append(journal, i).0) }
        let written = segments().count
        #expect(written > 5)
        for ack in acks.prefix(20) { ack.release() }
        #expect(segments().count < written)
        #expect(journal.pendingRecords == 10)
        for ack in acks.suffix(10) { ack.release() }
        #expect(journal.pendingRecords == 0)
        journal.close()
        #expect(segments().isEmpty)
    }

    /// A journal with records 1 to 3, dropped without closing (as after kill -9); returns its segment.
    func threeRecordsLeftBehind() throws -> String {
        do {
            let journal = try open()
            _ = try journal.load()
            for i in 1...3 { try append(journal, i) }
        }
        return "\(folder)/\(try #require(segments().first))"
    }

    @Test func tornTail_keepsTheWholeRecordsBeforeIt() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = try threeRecordsLeftBehind()
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(truncate(path, off_t(size - 5)) == 0)
        let backlog = try open().load()
        #expect(backlog.records.map(\.sequence) == [1, 2])
        #expect(backlog.damagedBytes > 0)
    }

    @Test func flippedByte_inTheMiddle_losesThatRecordOnly() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = try threeRecordsLeftBehind()
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let recordSize = JournalRecord.headerSize + body(1).count
        bytes[recordSize + JournalRecord.headerSize + 3] ^= 0x20  // inside record 2's body
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let backlog = try open().load()
        #expect(backlog.records.map(\.sequence) == [1, 3], "damage is not data; the record after it is kept")
        #expect(backlog.damagedBytes == recordSize)
    }

    @Test func maxSize_refusesNewRecords_untilSettledOnesAreDeleted() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let journal = try open(maxSize: 2000, segmentSize: 400)
        _ = try journal.load()
        var acks: [Acknowledgement] = []
        var refused: IngestJournal.AppendError?
        for i in 1...100 {
            do {
                acks.append(try append(journal, i).0)
            } catch let error as IngestJournal.AppendError {
                refused = error
                break
            }
        }
        guard case .full = try #require(refused) else {
            Issue.record("expected full, got \(String(describing: refused))")
            return
        }
        #expect(journal.heldBytes <= 2000)
        for ack in acks { ack.release() }
        #expect(throws: Never.self) { try append(journal, 1000) }
    }

    @Test func syncFull_waitDurable_returnsOnceSynced_concurrentWaitersShareTheSync() async throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await syncedRecords()
        #expect(try open().load().records.count == 20)
    }

    func syncedRecords() async throws {
        let journal = try IngestJournal(
            configuration: .init(path: folder, sync: .full),
            metrics: JournalMetrics(listener: "t", factory: NOOPMetricsHandler.instance), logger: Logger(label: "t"))
        _ = try journal.load()
        var sequences: [UInt64] = []
        for i in 1...20 { sequences.append(try append(journal, i).1) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sequence in sequences { group.addTask { try await journal.waitDurable(sequence) } }
            try await group.waitForAll()
        }
    }

    /// The disk refuses a segment (a link to /dev/full, whose writes fail with ENOSPC and which cannot
    /// be cut back), then takes writes again: the segment opened anew under the same name is the only
    /// entry for that file, so settling records never deletes the file the journal writes to.
    @Test func diskRefusesThenRecovers_unsettledRecordsSurviveACrash() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let segment = folder + "/00000000000000000001.journal"
        try FileManager.default.createSymbolicLink(atPath: segment, withDestinationPath: "/dev/full")
        do {
            let journal = try open()
            _ = try journal.load()
            #expect(throws: IngestJournal.AppendError.self) { try append(journal, 1) }
            try FileManager.default.removeItem(atPath: segment)  // space again
            let (first, _) = try append(journal, 1)
            _ = try append(journal, 2)
            first.release()  // record 1 settled, record 2 not
            #expect(FileManager.default.fileExists(atPath: segment), "the live segment was deleted")
        }  // dropped without close: as after kill -9
        #expect(try open().load().records.map(\.sequence) == [2])
    }

    @Test func secondGateway_onTheSameFolder_isRefused() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let first = try open()
        #expect(throws: JournalError.self) { _ = try open() }
        _ = first
    }
}
