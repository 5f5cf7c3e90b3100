import Foundation
import GRDB

/// One row a checker's query returned: a unique key and its timestamp (epoch seconds).
public struct DwmonRow: Sendable, Equatable {
    public var key: String
    public var timestamp: Double

    public init(key: String, timestamp: Double) {
        self.key = key
        self.timestamp = timestamp
    }
}

/// One check of one requirement line at one minute.
public struct DwmonCheck: Sendable, Equatable {
    public var checker: String
    public var line: Int
    public var minute: Int64
    public var status: CheckStatus
    public var count: Int
    public var minCount: Int
    public var maxCount: Int
    public var lookbackSeconds: Int
    /// When the check ran (epoch seconds): later than `minute` for a backfilled minute.
    public var checkedAt: Int64
}

/// The plugin's state, in one SQLite file (WAL): the keys each checker has seen with their first
/// timestamp, the last minute checked per checker and line, and the check results.
///
/// Calls are synchronous and short (indexed statements in one transaction); GRDB serialises them.
public final class DwmonState: Sendable {
    public let path: String
    /// A pool: the API's reads go on while a run writes (WAL).
    private let db: DatabasePool

    public init(path: String) throws {
        self.path = path
        db = try openStateDatabase(
            path: path, label: "dwmon-state", synchronous: "NORMAL",
            schema: """
                    CREATE TABLE IF NOT EXISTS seen_keys (
                        checker TEXT NOT NULL,
                        key TEXT NOT NULL,
                        ts REAL NOT NULL,
                        first_seen INTEGER NOT NULL,
                        PRIMARY KEY (checker, key)) WITHOUT ROWID;
                    CREATE INDEX IF NOT EXISTS seen_keys_by_time ON seen_keys (checker, ts);
                    CREATE TABLE IF NOT EXISTS last_checked (
                        checker TEXT NOT NULL,
                        line INTEGER NOT NULL,
                        minute INTEGER NOT NULL,
                        PRIMARY KEY (checker, line));
                    CREATE TABLE IF NOT EXISTS checks (
                        checker TEXT NOT NULL,
                        line INTEGER NOT NULL,
                        minute INTEGER NOT NULL,
                        status TEXT NOT NULL,
                        event_count INTEGER NOT NULL,
                        min_required INTEGER NOT NULL,
                        max_allowed INTEGER NOT NULL,
                        lookback_seconds INTEGER NOT NULL,
                        checked_at INTEGER NOT NULL,
                        PRIMARY KEY (checker, line, minute));
                """)
    }

    public func close() { try? db.close() }

    // Synchronous on purpose: from an async function, `db.write` would pick GRDB's async overload.
    private func syncWrite<T>(_ updates: (Database) throws -> T) throws -> T { try db.write(updates) }
    private func syncRead<T>(_ value: (Database) throws -> T) throws -> T { try db.read(value) }

    /// Stores the keys not seen before for `checker` with their timestamp; a key already stored
    /// keeps its first timestamp. Rows older than `notBefore` are not stored (retention would
    /// purge them at once). Returns how many keys were new.
    @discardableResult
    public func insert(_ rows: [DwmonRow], checker: String, notBefore: Double = -.infinity, seenAt: Int64) throws -> Int
    {
        try syncWrite { db in
            let statement = try db.cachedStatement(
                sql: "INSERT OR IGNORE INTO seen_keys (checker, key, ts, first_seen) VALUES (?, ?, ?, ?)")
            var inserted = 0
            for row in rows where row.timestamp >= notBefore {
                try statement.execute(arguments: [checker, row.key, row.timestamp, seenAt])
                inserted += db.changesCount
            }
            return inserted
        }
    }

    /// The stored (first) timestamp of a key.
    public func timestamp(of key: String, checker: String) throws -> Double? {
        try syncRead { db in
            try Double.fetchOne(
                db, sql: "SELECT ts FROM seen_keys WHERE checker = ? AND key = ?", arguments: [checker, key])
        }
    }

    /// The last minute checked per requirement line of `checker`.
    public func lastChecked(checker: String) throws -> [Int: Int64] {
        try syncRead { db in
            var last: [Int: Int64] = [:]
            let rows = try Row.fetchCursor(
                db, sql: "SELECT line, minute FROM last_checked WHERE checker = ?", arguments: [checker])
            while let row = try rows.next() { last[row["line"]] = row["minute"] }
            return last
        }
    }

    /// Keys of `checker` with timestamps in the closed window.
    static func count(_ db: Database, checker: String, _ window: ClosedRange<Int64>) throws -> Int {
        try Int.fetchOne(
            db, sql: "SELECT count(*) FROM seen_keys WHERE checker = ? AND ts BETWEEN ? AND ?",
            arguments: [checker, Double(window.lowerBound), Double(window.upperBound)]) ?? 0
    }

    /// Checks every due minute of every requirement of `checker` in one transaction: `due` gets a
    /// requirement and the last minute checked for its line and names the minutes to check. The
    /// results are stored and each line's last-checked minute moves forward, so no minute is
    /// checked twice even when two runs race.
    public func check(
        checker: String, requirements: [DwmonFile.Requirement], checkedAt: Int64,
        due: (DwmonFile.Requirement, Int64?) -> [Int64]
    ) throws -> [DwmonCheck] {
        try syncWrite { db in
            var results: [DwmonCheck] = []
            let insert = try db.cachedStatement(
                sql: """
                    INSERT OR REPLACE INTO checks (checker, line, minute, status, event_count, min_required,
                        max_allowed, lookback_seconds, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            for requirement in requirements {
                let last = try Int64.fetchOne(
                    db, sql: "SELECT minute FROM last_checked WHERE checker = ? AND line = ?",
                    arguments: [checker, requirement.line])
                let minutes = due(requirement, last)
                guard let newest = minutes.max() else { continue }
                for minute in minutes {
                    let count = try Self.count(db, checker: checker, DwmonSchedule.window(at: minute, requirement))
                    let check = DwmonCheck(
                        checker: checker, line: requirement.line, minute: minute,
                        status: DwmonSchedule.status(count: count, requirement), count: count,
                        minCount: requirement.minCount, maxCount: requirement.maxCount,
                        lookbackSeconds: requirement.lookbackSeconds, checkedAt: checkedAt)
                    try insert.execute(arguments: [
                        checker, check.line, minute, check.status.rawValue, count, check.minCount, check.maxCount,
                        check.lookbackSeconds, checkedAt,
                    ])
                    results.append(check)
                }
                try db.execute(
                    sql: """
                        INSERT INTO last_checked (checker, line, minute) VALUES (?, ?, ?)
                        ON CONFLICT (checker, line) DO UPDATE SET minute = max(minute, excluded.minute)
                        """,
                    arguments: [checker, requirement.line, newest])
            }
            return results
        }
    }

    /// The latest check per checker and line (the last minute checked), optionally of one checker.
    public func latest(checker: String? = nil) throws -> [DwmonCheck] {
        try syncRead { db in
            var sql = """
                SELECT c.checker, c.line, c.minute, c.status, c.event_count, c.min_required, c.max_allowed,
                    c.lookback_seconds, c.checked_at
                FROM checks c JOIN last_checked l ON c.checker = l.checker AND c.line = l.line AND c.minute = l.minute
                """
            var arguments: StatementArguments = []
            if let checker {
                sql += " WHERE c.checker = ?"
                arguments = [checker]
            }
            sql += " ORDER BY c.checker, c.line"
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.check)
        }
    }

    /// Check results of one checker (newest first), for the API's history.
    public func history(checker: String, limit: Int) throws -> [DwmonCheck] {
        try syncRead { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT checker, line, minute, status, event_count, min_required, max_allowed, lookback_seconds,
                        checked_at FROM checks WHERE checker = ? ORDER BY minute DESC, line LIMIT ?
                    """, arguments: [checker, limit]
            ).map(Self.check)
        }
    }

    static func check(_ row: Row) -> DwmonCheck {
        DwmonCheck(
            checker: row[0], line: row[1], minute: row[2], status: CheckStatus(rawValue: row[3]) ?? .bad,
            count: row[4], minCount: row[5], maxCount: row[6], lookbackSeconds: row[7], checkedAt: row[8])
    }

    /// Deletes `checker`'s keys with timestamps before `keysBefore` and its checks of minutes before
    /// `checksBefore` (never the latest per line, which the API shows). Returns what went.
    @discardableResult
    public func purge(checker: String, before cutoff: Int64) throws -> (keys: Int, checks: Int) {
        try syncWrite { db in
            try db.execute(
                sql: "DELETE FROM seen_keys WHERE checker = ? AND ts < ?", arguments: [checker, Double(cutoff)])
            let keys = db.changesCount
            try db.execute(
                sql: """
                    DELETE FROM checks WHERE checker = ? AND minute < ? AND minute < coalesce(
                        (SELECT l.minute FROM last_checked l WHERE l.checker = checks.checker AND l.line = checks.line), 0)
                    """, arguments: [checker, cutoff])
            return (keys, db.changesCount)
        }
    }

    /// Checkers the state holds anything for.
    public func checkers() throws -> Set<String> {
        try syncRead { db in
            Set(
                try String.fetchAll(
                    db, sql: "SELECT checker FROM last_checked UNION SELECT DISTINCT checker FROM seen_keys"))
        }
    }

    /// Forgets a checker whose file is gone once its newest data is older than `cutoff`: its keys
    /// age out as any checker's, and its results and last minutes go when the newest is that old.
    @discardableResult
    public func purgeRemoved(checker: String, before cutoff: Int64) throws -> Int {
        try syncWrite { db in
            try db.execute(
                sql: "DELETE FROM seen_keys WHERE checker = ? AND ts < ?", arguments: [checker, Double(cutoff)])
            var removed = db.changesCount
            let newest = try Int64.fetchOne(
                db, sql: "SELECT max(minute) FROM last_checked WHERE checker = ?", arguments: [checker])
            if let newest, newest < cutoff {
                try db.execute(sql: "DELETE FROM checks WHERE checker = ?", arguments: [checker])
                removed += db.changesCount
                try db.execute(sql: "DELETE FROM last_checked WHERE checker = ?", arguments: [checker])
            }
            return removed
        }
    }

    /// Stored keys of a checker (for status).
    public func keyCount(checker: String) throws -> Int {
        try syncRead { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM seen_keys WHERE checker = ?", arguments: [checker]) ?? 0
        }
    }
}
