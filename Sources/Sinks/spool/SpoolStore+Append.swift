import Foundation
import GRDB
import GatewayCore
import Logging

// Writing: appending batches under the size bound, dead letters, purge.
extension SpoolStore {
    /// Stores a batch at the end of the spool, applying the size bound.
    public func append(_ payload: SpoolPayload, at time: Int64 = SpoolStore.now()) async throws -> AppendResult {
        let size = payload.compressed.count
        let max = options.maxBytes
        if size > max {
            return .refused
        }
        let undeleted = delivered.withLock { $0 }
        let overflow = totals.withLock { $0.bytes + size - max }
        if overflow > 0 {
            switch options.whenFull {
            case .dropNewest: return .refused
            case .block: return .full
            case .dropOldest: break
            }
        }
        let checksum = payload.checksum
        let busy = inFlight.withLock { $0.isEmpty ? "" : $0.map(String.init).joined(separator: ",") }
        let result = try syncWrite { db -> (dropped: Totals, added: Bool) in
            var dropped = Totals()
            if !undeleted.isEmpty {
                // Delivered batches whose delete failed earlier go first: they make room too.
                let ids = undeleted.map(String.init).joined(separator: ",")
                try db.execute(sql: "DELETE FROM batches WHERE id IN (\(ids))")
            }
            if overflow > 0 {
                // Oldest first until the new batch fits.
                let rows = try Row.fetchCursor(
                    db, sql: "SELECT id, points, bytes FROM batches WHERE id NOT IN (\(busy)) ORDER BY id")
                var freed = 0
                var lastID: Int64 = 0
                while freed < overflow, let row = try rows.next() {
                    lastID = row[0]
                    dropped.batches += 1
                    dropped.points += row[1] as Int
                    freed += row[2] as Int
                }
                if dropped.batches > 0 {
                    try db.execute(
                        sql: "DELETE FROM batches WHERE id <= ? AND id NOT IN (\(busy))", arguments: [lastID])
                }
            }
            let statement = try db.cachedStatement(
                sql:
                    "INSERT INTO batches (spooled_at, points, bytes, precision, checksum, payload) VALUES (?, ?, ?, ?, ?, ?)"
            )
            try statement.execute(arguments: [
                time, payload.points, size, payload.precision.rawValue, checksum, Data(payload.compressed),
            ])
            return (dropped, true)
        }
        if !undeleted.isEmpty { delivered.withLock { $0.subtract(undeleted) } }
        if result.dropped.batches > 0 || !undeleted.isEmpty {
            try reloadTotals()
        } else {
            totals.withLock {
                $0.batches += 1
                $0.points += payload.points
                $0.bytes += size
            }
        }
        return .stored(droppedBatches: result.dropped.batches, droppedPoints: result.dropped.points)
    }

    public func addDeadLetters(_ lines: [String], status: Int, message: String, at time: Int64 = SpoolStore.now())
        async throws
    {
        if lines.isEmpty { return }
        try syncWrite { db in
            let statement = try db.cachedStatement(
                sql: "INSERT INTO dead_letters (at, status, message, line) VALUES (?, ?, ?, ?)")
            for line in lines { try statement.execute(arguments: [time, status, message, line]) }
            // Keep the newest `maxDeadLetters`: a server refusing everything must not fill the disk.
            try db.execute(
                sql: "DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?",
                arguments: [Self.maxDeadLetters])
        }
    }

    /// Deletes every spooled batch (not the dead letters or corrupt rows); returns what went.
    public func purge() async throws -> (batches: Int, points: Int) {
        let before = totals.withLock { ($0.batches, $0.points) }
        try syncWrite { db in try db.execute(sql: "DELETE FROM batches") }
        delivered.withLock { $0.removeAll() }
        try reloadTotals()
        return before
    }
}
