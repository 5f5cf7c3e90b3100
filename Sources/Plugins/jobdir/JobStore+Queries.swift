import Foundation
import GRDB

// Reading jobs, queue depths and unknown pairs (the API and the scanner).
extension JobStore {
    // MARK: Reading

    public func job(_ uuid: String) throws -> JobdirJob? {
        try db.read { db in
            if let row = try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE uuid = ?", arguments: [uuid]) {
                return Self.job(row)
            }
            return try Row.fetchOne(db, sql: "SELECT * FROM history WHERE uuid = ?", arguments: [uuid]).map(
                Self.historyJob)
        }
    }

    /// Jobs in queue order (history: most recently cleaned first), optionally of one state and processor.
    /// `unassigned: true` keeps the queued jobs waiting for a processor.
    public func jobs(state: JobdirJob.State?, processor: String?, unassigned: Bool = false, limit: Int) throws
        -> [JobdirJob]
    {
        try db.read { db in
            if state == .cleaned {
                var sql = "SELECT * FROM history"
                var arguments: StatementArguments = []
                if let processor {
                    sql += " WHERE processor = ?"
                    arguments += [processor]
                }
                sql += " ORDER BY cleaned_at DESC LIMIT ?"
                arguments += [limit]
                return try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.historyJob)
            }
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let state {
                conditions.append("state = ?")
                arguments += [state.rawValue]
            }
            if let processor {
                conditions.append("processor = ?")
                arguments += [processor]
            }
            if unassigned { conditions.append("processor IS NULL") }
            let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
            arguments += [limit]
            return try Row.fetchAll(db, sql: "SELECT * FROM jobs\(filter) ORDER BY qkey LIMIT ?", arguments: arguments)
                .map(Self.job)
        }
    }

    public struct Depth: Sendable, Equatable {
        public var processor: String?
        public var state: JobdirJob.State
        public var count: Int
    }

    /// Jobs per processor (nil: waiting for one) and state.
    public func depths() throws -> [Depth] {
        try db.read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT processor, state, count(*) AS n FROM jobs GROUP BY processor, state ORDER BY processor, state"
            ).compactMap { row in
                guard let state = JobdirJob.State(rawValue: row["state"]) else { return nil }
                return Depth(processor: row["processor"], state: state, count: row["n"])
            }
        }
    }

    /// When the oldest job still queued (not yet claimed) was queued; nil when none waits.
    public func oldestQueuedAt() throws -> Double? {
        try db.read { db in
            try Double.fetchOne(db, sql: "SELECT min(queued_at) FROM jobs WHERE state = ?", arguments: ["queued"])
        }
    }

    static func job(_ row: Row) -> JobdirJob {
        let state = JobdirJob.State(rawValue: row["state"]) ?? .queued
        return JobdirJob(
            uuid: row["uuid"], jsonPath: row["json_path"], dumpPath: row["dump_path"],
            origin: JobdirJob.Origin(rawValue: row["origin"]) ?? .storage, state: state, processor: row["processor"],
            priority: row["priority"], queuedAt: row["queued_at"], assignedAt: row["assigned_at"],
            claimedAt: row["claimed_at"], finishedAt: row["finished_at"],
            success: state == .succeeded ? true : state == .failed ? false : nil, message: row["message"],
            cleanupAttempts: row["cleanup_attempts"], cleanupError: row["cleanup_error"])
    }

    static func historyJob(_ row: Row) -> JobdirJob {
        JobdirJob(
            uuid: row["uuid"], jsonPath: row["json_path"], dumpPath: row["dump_path"],
            origin: JobdirJob.Origin(rawValue: row["origin"]) ?? .storage, state: .cleaned, processor: row["processor"],
            priority: row["priority"], queuedAt: row["queued_at"], claimedAt: row["claimed_at"],
            finishedAt: row["finished_at"], success: row["success"], message: row["message"],
            cleanedAt: row["cleaned_at"], destination: row["destination"])
    }
}

extension JobStore {
    /// The pairs whose uuid is neither a job nor in the history (a read: the scan's filter before
    /// it orders the new pairs; `insert` checks again).
    public func unknown(_ pairs: [FoundPair]) throws -> [FoundPair] {
        try db.read { db in try pairs.filter { try !Self.isKnown(db, $0.uuid) } }
    }
}
