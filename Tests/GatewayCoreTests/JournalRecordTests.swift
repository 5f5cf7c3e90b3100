import Foundation
import GatewayCore
import Testing

/// The journal record format, against the seed files written independently (Python's zlib CRC-32):
/// the same bytes on disk whoever writes them.
@Suite struct JournalRecordTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus/journal")

    func seed(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: Self.corpus.appendingPathComponent(name)))
    }

    @Test func independentlyWrittenRecords_readBack_withTheirFields() throws {
        let parsed = JournalRecord.parseAll(try seed("two-records"))
        #expect(parsed.damagedBytes == 0)
        #expect(parsed.records.map(\.sequence) == [1, 2])
        #expect(parsed.records.map(\.format) == [.lineProtocol, .json])
        #expect(parsed.records[1].linePrecision == .milliseconds && parsed.records[1].jsonPrecision == .seconds)
        #expect(String(decoding: parsed.records[0].body, as: UTF8.self).hasPrefix("cpu,host=a"))
    }

    @Test func tornTail_andDamageBetween_keepEveryWholeRecord() throws {
        #expect(JournalRecord.parseAll(try seed("torn-tail")).records.map(\.sequence) == [1])
        let damaged = JournalRecord.parseAll(try seed("damage-between"))
        #expect(damaged.records.map(\.sequence) == [1, 2])
        #expect(damaged.damagedBytes == 8)
    }

    @Test func writtenHere_isTheSameBytesAsWrittenThere() throws {
        let bytes = try seed("two-records")
        let record = try #require(JournalRecord.parseAll(bytes).records.first)
        let written = record.body.withUnsafeBytes {
            JournalRecord.header(
                sequence: record.sequence, receiveTime: record.receiveTime, format: record.format,
                linePrecision: record.linePrecision, jsonPrecision: record.jsonPrecision, body: $0) + record.body
        }
        #expect(written == Array(bytes.prefix(written.count)))
    }
}
