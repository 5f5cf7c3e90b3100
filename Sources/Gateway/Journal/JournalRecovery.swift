import GatewayCore
import Logging

/// Routes again what an earlier run journaled and no sink settled (a crash, `kill -9`, power loss
/// with `sync: full`), before the listener takes new requests. Each record is decoded as it was when
/// it arrived (same body, precisions and receive time) and holds its journal entry until settled.
struct JournalRecovery {
    let journal: IngestJournal
    let ingest: Ingest
    let logger: Logger

    func run() async throws {
        let backlog = try journal.load()
        if backlog.damagedBytes > 0 || !backlog.damagedSegments.isEmpty {
            logger.error(
                "journal had damaged bytes (a write torn by a crash, never answered 2xx, or disk damage); the records around them are routed",
                metadata: [
                    "damaged_bytes": "\(backlog.damagedBytes)", "unreadable_segments": "\(backlog.damagedSegments)",
                ])
        }
        guard backlog.requests > 0 else { return }
        logger.notice(
            "journal holds requests from an earlier run that no sink settled; routing them again",
            metadata: [
                "requests": "\(backlog.requests)", "bytes": "\(backlog.bytes)", "path": "\(journal.configuration.path)",
            ])
        var points = 0
        // One segment in memory at a time.
        for segment in backlog.segments {
            for record in backlog.records(in: segment) {
                var decoded: [Point] = []
                record.body.withUnsafeBytes { body in
                    _ = ingest.decode(
                        body, format: record.format, linePrecision: record.linePrecision,
                        jsonPrecision: record.jsonPrecision, receiveTime: record.receiveTime, into: &decoded)
                }
                ingest.normalise(&decoded, receiveTime: record.receiveTime)
                let acknowledgement = journal.acknowledgement(for: record.sequence)
                if !decoded.isEmpty {
                    await ingest.push(decoded, acknowledgement: acknowledgement)
                }
                acknowledgement.release()
                journal.metrics.recoveredRequests.increment()
                points += decoded.count
            }
        }
        logger.notice(
            "journal backlog routed", metadata: ["requests": "\(backlog.requests)", "points": "\(points)"])
    }
}
