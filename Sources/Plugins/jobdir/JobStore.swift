import Foundation
import GRDB

/// The plugin's jobs, processors and history in one SQLite file (WAL). Every change is one
/// transaction, so a kill -9 at any point leaves either the state before it or the state after it:
/// a job is never lost or queued twice (its uuid is the key, and history keeps the uuids of
/// cleaned jobs).
///
/// Queue order: `qkey`. Normal jobs get increasing positive keys in discovery order; priority jobs
/// get keys below every normal one, increasing in the order priority was asked, so a processor
/// claims its priority jobs first (oldest request first), then its normal jobs oldest first.
///
/// Assignment rule: a job goes to the live processor with the fewest unfinished (queued + running)
/// jobs, counting the ones assigned earlier in the same batch; ties go to the processor whose name
/// sorts first. New pairs found by a priority request go round-robin among live processors instead.
public final class JobStore: Sendable {
    public let path: String
    let db: DatabasePool
    static let priorityBase: Int64 = -(1 << 50)

    public init(path: String) throws {
        self.path = path
        db = try openStateDatabase(
            path: path, label: "jobdir-state", synchronous: "NORMAL",
            schema: """
                    CREATE TABLE IF NOT EXISTS jobs (
                        uuid TEXT PRIMARY KEY,
                        json_path TEXT NOT NULL,
                        dump_path TEXT NOT NULL,
                        origin TEXT NOT NULL,
                        state TEXT NOT NULL,
                        processor TEXT,
                        priority INTEGER NOT NULL,
                        qkey INTEGER NOT NULL,
                        queued_at REAL NOT NULL,
                        assigned_at REAL,
                        claimed_at REAL,
                        finished_at REAL,
                        message TEXT,
                        cleanup_attempts INTEGER NOT NULL DEFAULT 0,
                        cleanup_error TEXT) WITHOUT ROWID;
                    CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (processor, state, qkey);
                    CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, qkey);
                    CREATE TABLE IF NOT EXISTS processors (
                        name TEXT PRIMARY KEY,
                        registered_at REAL NOT NULL,
                        last_seen REAL NOT NULL,
                        alive INTEGER NOT NULL,
                        died_at REAL,
                        instance TEXT);
                    CREATE TABLE IF NOT EXISTS history (
                        uuid TEXT PRIMARY KEY,
                        json_path TEXT NOT NULL,
                        dump_path TEXT NOT NULL,
                        origin TEXT NOT NULL,
                        processor TEXT,
                        priority INTEGER NOT NULL,
                        queued_at REAL NOT NULL,
                        claimed_at REAL,
                        finished_at REAL,
                        success INTEGER NOT NULL,
                        message TEXT,
                        cleaned_at REAL NOT NULL,
                        destination TEXT NOT NULL) WITHOUT ROWID;
                    CREATE INDEX IF NOT EXISTS history_by_time ON history (cleaned_at);
                    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
                """)
    }

    public func close() { try? db.close() }

    // MARK: Counters and small values

    static func meta(_ db: Database, _ key: String) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) ?? 0
    }

    static func add(_ db: Database, _ key: String, _ delta: Int64) throws {
        guard delta != 0 else { return }
        try db.execute(
            sql:
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
            arguments: [key, delta])
    }

    /// The next value of a counter (1, 2, ...).
    static func next(_ db: Database, _ key: String) throws -> Int64 {
        try add(db, key, 1)
        return try meta(db, key)
    }

    /// Jobs counted since the state file was created: queued, succeeded, failed, requeued (from dead processors).
    public func totals() throws -> [String: Int64] {
        try db.read { db in
            var out: [String: Int64] = [:]
            for key in ["queued_total", "succeeded_total", "failed_total", "requeued_total"] {
                out[key] = try Self.meta(db, key)
            }
            return out
        }
    }
}
