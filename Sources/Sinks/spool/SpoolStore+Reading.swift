import Foundation
import GRDB
import GatewayCore
import Logging

// Reading for stats, export and check (the `gateway spool` command and the admin API).
extension SpoolStore {
    public func stats() throws -> Stats {
        try syncRead { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT count(*), coalesce(sum(points), 0), coalesce(sum(bytes), 0),
                           (SELECT spooled_at FROM batches ORDER BY id LIMIT 1),
                           (SELECT count(*) FROM dead_letters), (SELECT count(*) FROM corrupt)
                    FROM batches
                    """)!
            return Stats(
                batches: row[0], points: row[1], bytes: row[2], oldestSpooledAt: row[3], deadLetters: row[4],
                corrupt: row[5])
        }
    }

    /// Unix nanoseconds of the oldest spooled batch (one indexed row; cheap enough for every scrape).
    public func oldestSpooledAt() throws -> Int64? {
        try syncRead { db in try Int64.fetchOne(db, sql: "SELECT spooled_at FROM batches ORDER BY id LIMIT 1") }
    }

    /// Batches with an id above `after`, oldest first, checksums not verified (export reports them).
    public func batches(after: Int64, limit: Int) throws -> [(entry: Entry?, id: Int64, checksumOK: Bool)] {
        try syncRead { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT id, spooled_at, points, precision, checksum, payload FROM batches WHERE id > ? ORDER BY id LIMIT ?",
                arguments: [after, limit]
            ).map { row in
                let entry = Self.entry(row)
                let checksum: Int64? = row[4]
                return (entry, row[0], entry.map { $0.payload.checksum == checksum } ?? false)
            }
        }
    }

    public func deadLetters(after: Int64, limit: Int) throws -> [DeadLetter] {
        try syncRead { db in
            try Row.fetchAll(
                db, sql: "SELECT id, at, status, message, line FROM dead_letters WHERE id > ? ORDER BY id LIMIT ?",
                arguments: [after, limit]
            ).map { DeadLetter(id: $0[0], at: $0[1], status: $0[2], message: $0[3], line: $0[4]) }
        }
    }

    /// SQLite's integrity check, then every batch's checksum and body. Returns the problems found.
    public func check(progress: (Int, Int) -> Void = { _, _ in }) throws -> [String] {
        var problems = try syncRead { db in
            try String.fetchAll(db, sql: "PRAGMA integrity_check").filter { $0 != "ok" }
        }
        let total = try stats().batches
        var after: Int64 = 0
        var seen = 0
        while true {
            let rows = try batches(after: after, limit: 200)
            if rows.isEmpty { break }
            for row in rows {
                after = row.id
                seen += 1
                guard let entry = row.entry, row.checksumOK else {
                    problems.append("batch \(row.id): checksum mismatch or unreadable row")
                    continue
                }
                do {
                    let points = try entry.payload.decodePoints()
                    if points.count != entry.payload.points {
                        problems.append(
                            "batch \(row.id): holds \(points.count) points, row says \(entry.payload.points)")
                    }
                } catch {
                    problems.append("batch \(row.id): \(error)")
                }
            }
            progress(seen, total)
        }
        return problems
    }
}
