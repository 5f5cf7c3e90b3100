import Foundation
import GRDB
import GatewayCore
import Logging

// Replay: handing out the oldest sound batch, and removing, releasing or shrinking it once sent.
extension SpoolStore {
    /// The oldest batch whose checksum holds (after batch `after`, when given). Rows that fail it
    /// are moved to `corrupt`, counted in `corruptFound`, logged, and skipped. The batch returned
    /// is marked as being replayed (`drop_oldest` leaves it alone) until ``remove(_:)`` or
    /// ``release(_:)``.
    public func oldest(after: Int64 = 0, corruptFound: (Int) -> Void = { _ in }) async throws -> Entry? {
        while true {
            let skip = delivered.withLock { $0.isEmpty ? "" : $0.map(String.init).joined(separator: ",") }
            let found = try syncRead { db -> (entry: Entry?, id: Int64, points: Int, bytes: Int, checksum: Int64?)? in
                guard
                    let row = try Row.fetchOne(
                        db,
                        sql: """
                            SELECT id, spooled_at, points, precision, checksum, payload, bytes FROM batches
                            WHERE id > ? AND id NOT IN (\(skip)) ORDER BY id LIMIT 1
                            """, arguments: [after])
                else { return nil }
                return (Self.entry(row), row[0], (row[2] as Int?) ?? 0, (row[6] as Int?) ?? 0, row[4])
            }
            guard let found else { return nil }
            let entry = found.entry
            if let entry, entry.payload.checksum == found.checksum {
                inFlight.withLock { _ = $0.insert(entry.id) }
                return entry
            }
            let id = found.id
            let points = found.points
            let bytes = found.bytes
            let reason = entry == nil ? "unreadable columns" : "checksum mismatch"
            try await quarantine(id: id, reason: reason)
            totals.withLock {
                $0.batches -= 1
                $0.points -= points
                $0.bytes -= bytes
            }
            logger.error(
                "corrupt spool row moved aside to the corrupt table",
                metadata: ["path": "\(path)", "batch_id": "\(id)", "points": "\(points)", "reason": "\(reason)"])
            corruptFound(points)
        }
    }

    static func entry(_ row: Row) -> Entry? {
        guard let id = row[0] as Int64?, let spooledAt = row[1] as Int64?, let points = row[2] as Int?,
            let precisionText = row[3] as String?, let precision = Precision(rawValue: precisionText),
            let data = row[5] as Data?
        else { return nil }
        return Entry(
            id: id, spooledAt: spooledAt,
            payload: SpoolPayload(compressed: Array(data), points: points, precision: precision))
    }

    func quarantine(id: Int64, reason: String) async throws {
        let now = Self.now()
        try syncWrite { db in
            try db.execute(
                sql: """
                    INSERT INTO corrupt (batch_id, spooled_at, points, precision, checksum, payload, reason, found_at)
                    SELECT id, spooled_at, points, precision, checksum, payload, ?, ? FROM batches WHERE id = ?
                    """, arguments: [reason, now, id])
            try db.execute(sql: "DELETE FROM batches WHERE id = ?", arguments: [id])
        }
    }

    /// Removes a batch the sink confirmed. When the delete fails (disk full, I/O error) the batch
    /// is remembered as delivered: ``oldest(after:corruptFound:)`` never hands it out again, and
    /// ``deleteDelivered()`` or the next append deletes it; the error is rethrown.
    public func remove(_ entry: Entry) async throws {
        let id = entry.id
        let removed: Bool
        do {
            removed = try syncWrite { db -> Bool in
                try db.execute(sql: "DELETE FROM batches WHERE id = ?", arguments: [id])
                return db.changesCount > 0
            }
        } catch {
            delivered.withLock { _ = $0.insert(id) }
            inFlight.withLock { _ = $0.remove(id) }
            throw error
        }
        inFlight.withLock { _ = $0.remove(id) }
        if removed {
            totals.withLock {
                $0.batches -= 1
                $0.points -= entry.payload.points
                $0.bytes -= entry.payload.compressed.count
            }
        }
    }

    /// Whether delivered batches wait for their delete (replay must not go on until they are gone).
    public var hasUndeletedDeliveries: Bool { delivered.withLock { !$0.isEmpty } }

    /// Deletes the delivered batches whose delete failed before. True when none is left.
    @discardableResult
    public func deleteDelivered() -> Bool {
        let ids = delivered.withLock { $0 }
        if ids.isEmpty { return true }
        do {
            try syncWrite { db in
                try db.execute(sql: "DELETE FROM batches WHERE id IN (\(ids.map(String.init).joined(separator: ",")))")
            }
            delivered.withLock { $0.subtract(ids) }
            try reloadTotals()
            return true
        } catch {
            return false
        }
    }

    /// Ends the replay of a batch that stays in the spool (its send failed): `drop_oldest` may
    /// drop it again.
    public func release(_ entry: Entry) {
        inFlight.withLock { _ = $0.remove(entry.id) }
    }

    /// Replaces a batch with what is left of it after part was delivered or dead-lettered, so a
    /// restart never sends the delivered part twice.
    public func replace(_ entry: Entry, with remainder: SpoolPayload) async throws {
        let id = entry.id
        let updated = try syncWrite { db -> Bool in
            try db.execute(
                sql: "UPDATE batches SET points = ?, bytes = ?, precision = ?, checksum = ?, payload = ? WHERE id = ?",
                arguments: [
                    remainder.points, remainder.compressed.count, remainder.precision.rawValue, remainder.checksum,
                    Data(remainder.compressed), id,
                ])
            return db.changesCount > 0
        }
        guard updated else { return }
        totals.withLock {
            $0.points += remainder.points - entry.payload.points
            $0.bytes += remainder.compressed.count - entry.payload.compressed.count
        }
    }
}
