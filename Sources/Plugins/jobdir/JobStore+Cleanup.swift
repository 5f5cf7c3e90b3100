import Foundation
import GRDB

// Cleanup of finished jobs and the history they leave.
extension JobStore {
    // MARK: Cleanup

    /// Done jobs waiting for cleanup, oldest first.
    public func finished(limit: Int) throws -> [JobdirJob] {
        try db.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM jobs WHERE state IN ('succeeded', 'failed') ORDER BY finished_at LIMIT ?",
                arguments: [limit]
            ).map(Self.job)
        }
    }

    /// The job's files are moved (to `destination`) or deleted (""): the row goes to the history.
    public func cleaned(_ uuid: String, destination: String, now: Double) throws {
        try db.write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO history (uuid, json_path, dump_path, origin, processor, priority, queued_at,
                      claimed_at, finished_at, success, message, cleaned_at, destination)
                    SELECT uuid, json_path, dump_path, origin, processor, priority, queued_at, claimed_at, finished_at,
                      state = 'succeeded', message, ?, ? FROM jobs WHERE uuid = ? AND state IN ('succeeded', 'failed')
                    """,
                arguments: [now, destination, uuid])
            try db.execute(
                sql: "DELETE FROM jobs WHERE uuid = ? AND state IN ('succeeded', 'failed')", arguments: [uuid])
        }
    }

    /// A cleanup that failed: kept for the next one, with the reason.
    public func cleanupFailed(_ uuid: String, error: String) throws {
        try db.write { db in
            try db.execute(
                sql: "UPDATE jobs SET cleanup_attempts = cleanup_attempts + 1, cleanup_error = ? WHERE uuid = ?",
                arguments: [error, uuid])
        }
    }

    /// Forgets history older than `before`; returns how many rows went.
    @discardableResult
    public func purgeHistory(before: Double) throws -> Int {
        try db.write { db in
            try db.execute(sql: "DELETE FROM history WHERE cleaned_at < ?", arguments: [before])
            return db.changesCount
        }
    }
}
