import Foundation
import GRDB

/// A job: one `<uuid>.json` + `<uuid>.dump` pair, from its discovery to its cleanup.
public struct JobdirJob: Sendable, Equatable {
    public enum State: String, Sendable, CaseIterable {
        /// Waiting to be claimed (by its processor, or by the next live one when `processor` is nil).
        case queued
        /// Claimed by its processor, not reported done yet.
        case running
        /// Reported done; waiting for cleanup to move or delete its files.
        case succeeded, failed
        /// Cleaned up: only in the short history.
        case cleaned
    }

    public enum Origin: String, Sendable {
        case storage, deferred
    }

    public var uuid: String
    public var jsonPath: String
    public var dumpPath: String
    public var origin: Origin
    public var state: State
    public var processor: String?
    public var priority: Bool
    public var queuedAt: Double
    public var assignedAt: Double?
    public var claimedAt: Double?
    public var finishedAt: Double?
    /// Set once the job is done: its outcome and the processor's message.
    public var success: Bool?
    public var message: String?
    public var cleanupAttempts = 0
    public var cleanupError: String?
    /// History only: when the files were moved or deleted, and where they went ("" when deleted).
    public var cleanedAt: Double?
    public var destination: String?
}

/// A processor as the store knows it.
public struct JobdirProcessor: Sendable, Equatable {
    public var name: String
    public var registeredAt: Double
    public var lastSeen: Double
    public var alive: Bool
    public var diedAt: Double?
    public var queued: Int
    public var running: Int
}

/// A pair found on disk.
public struct FoundPair: Sendable, Equatable {
    public var uuid: String
    public var jsonPath: String
    public var dumpPath: String
    public var origin: JobdirJob.Origin

    public init(uuid: String, jsonPath: String, dumpPath: String, origin: JobdirJob.Origin = .storage) {
        self.uuid = uuid
        self.jsonPath = jsonPath
        self.dumpPath = dumpPath
        self.origin = origin
    }
}

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
    private static let priorityBase: Int64 = -(1 << 50)

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

    private static func meta(_ db: Database, _ key: String) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) ?? 0
    }

    private static func add(_ db: Database, _ key: String, _ delta: Int64) throws {
        guard delta != 0 else { return }
        try db.execute(
            sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
            arguments: [key, delta])
    }

    /// The next value of a counter (1, 2, ...).
    private static func next(_ db: Database, _ key: String) throws -> Int64 {
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

    // MARK: Assignment

    /// Unfinished jobs per live processor, for least-loaded picking.
    private struct Loads {
        var load: [String: Int]
        var names: [String]

        init(_ db: Database) throws {
            names = try String.fetchAll(db, sql: "SELECT name FROM processors WHERE alive = 1 ORDER BY name")
            load = Dictionary(uniqueKeysWithValues: names.map { ($0, 0) })
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT processor, count(*) AS n FROM jobs
                    WHERE state IN ('queued', 'running') AND processor IS NOT NULL GROUP BY processor
                    """)
            for row in rows {
                let name: String = row["processor"]
                if load[name] != nil { load[name] = row["n"] }
            }
        }

        /// The least-loaded live processor (ties: first by name), counted as one more job.
        mutating func pick() -> String? {
            var best: String?
            for name in names where best == nil || load[name]! < load[best!]! { best = name }
            if let best { load[best]! += 1 }
            return best
        }
    }

    /// Assigns every waiting job (no processor) to live processors, least-loaded first, in queue
    /// order (priority jobs first). Returns how many were assigned.
    private static func assignWaiting(_ db: Database, now: Double) throws -> Int {
        var loads = try Loads(db)
        guard !loads.names.isEmpty else { return 0 }
        let waiting = try String.fetchAll(
            db, sql: "SELECT uuid FROM jobs WHERE state = 'queued' AND processor IS NULL ORDER BY qkey")
        for uuid in waiting {
            guard let name = loads.pick() else { break }
            try db.execute(
                sql: "UPDATE jobs SET processor = ?, assigned_at = ? WHERE uuid = ?", arguments: [name, now, uuid])
        }
        return waiting.count
    }

    public struct InsertReport: Sendable, Equatable {
        /// The new jobs in the order they were queued, with the processor each was assigned (nil: none live).
        public var queued: [(uuid: String, processor: String?)] = []
        /// Pairs already known (queued, running, finished, or in the history).
        public var known = 0

        public static func == (a: Self, b: Self) -> Bool {
            a.known == b.known && a.queued.map(\.uuid) == b.queued.map(\.uuid)
                && a.queued.map(\.processor) == b.queued.map(\.processor)
        }
    }

    private static func insertJob(
        _ db: Database, _ pair: FoundPair, processor: String?, priority: Bool, key: Int64, now: Double
    ) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO jobs (uuid, json_path, dump_path, origin, state, processor, priority, qkey, queued_at, assigned_at)
                VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)
                """
        ).execute(
            arguments: [
                pair.uuid, pair.jsonPath, pair.dumpPath, pair.origin.rawValue, processor, priority, key, now,
                processor == nil ? nil : now,
            ])
    }

    private static func isKnown(_ db: Database, _ uuid: String) throws -> Bool {
        try Bool.fetchOne(
            db.cachedStatement(
                sql: "SELECT EXISTS (SELECT 1 FROM jobs WHERE uuid = ?1) OR EXISTS (SELECT 1 FROM history WHERE uuid = ?1)"),
            arguments: [uuid]) ?? false
    }

    /// Queues the pairs a scan found that are not known yet, in the order given, each assigned by
    /// the least-loaded rule (counting the jobs assigned before it). One transaction per 1,000
    /// pairs, so processors' requests are not held up by a big scan; a kill between two leaves the
    /// rest for the next scan (a uuid is queued once whatever happens).
    public func insert(_ pairs: [FoundPair], now: Double) throws -> InsertReport {
        var report = InsertReport()
        var start = 0
        repeat {
            let chunk = pairs[start..<min(start + 1000, pairs.count)]
            start += chunk.count
            try db.write { db in
                var loads = try Loads(db)
                var seq = try Self.meta(db, "seq")
                var queued = 0
                for pair in chunk {
                    if try Self.isKnown(db, pair.uuid) {
                        report.known += 1
                        continue
                    }
                    seq += 1
                    let processor = loads.pick()
                    try Self.insertJob(db, pair, processor: processor, priority: false, key: seq, now: now)
                    report.queued.append((pair.uuid, processor))
                    queued += 1
                }
                try db.execute(
                    sql: "INSERT INTO meta (key, value) VALUES ('seq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    arguments: [seq])
                try Self.add(db, "queued_total", Int64(queued))
            }
        } while start < pairs.count
        return report
    }

    // MARK: Processors

    public struct CheckIn: Sendable, Equatable {
        /// First check-in of this name.
        public var registered: Bool
        /// It was dead (its jobs were given to others) and is alive again.
        public var revived: Bool
        /// Waiting jobs assigned, and queued jobs moved to it from busier processors, because it
        /// became live.
        public var assigned: Int
        /// A new instance under the same name (a restarted processor): its running jobs were
        /// requeued, since the old instance will never report them.
        public var restarted: Int = 0
    }

    /// A processor's sign of life: registers it, or keeps it alive, or revives it. A processor
    /// becoming live takes waiting jobs and its share of the queued ones. `instance` (any string a
    /// processor picks at start) tells a restart: a new instance's running jobs go back to its queue.
    public func checkIn(_ name: String, instance: String? = nil, now: Double) throws -> CheckIn {
        try db.write { db in try Self.checkIn(db, name, instance: instance, now: now) }
    }

    private static func checkIn(_ db: Database, _ name: String, instance: String? = nil, now: Double) throws -> CheckIn {
        guard let row = try Row.fetchOne(db, sql: "SELECT alive, instance FROM processors WHERE name = ?", arguments: [name])
        else {
            try db.execute(
                sql: "INSERT INTO processors (name, registered_at, last_seen, alive, instance) VALUES (?, ?, ?, 1, ?)",
                arguments: [name, now, now, instance])
            let assigned = try assignWaiting(db, now: now) + rebalance(db, now: now)
            return CheckIn(registered: true, revived: false, assigned: assigned)
        }
        let alive: Bool = row["alive"]
        let previous: String? = row["instance"]
        try db.execute(
            sql: "UPDATE processors SET last_seen = ?, alive = 1, died_at = NULL, instance = coalesce(?, instance) WHERE name = ?",
            arguments: [now, instance, name])
        var restarted = 0
        if let instance, let previous, instance != previous {
            try db.execute(
                sql: "UPDATE jobs SET state = 'queued', claimed_at = NULL WHERE processor = ? AND state = 'running'",
                arguments: [name])
            restarted = db.changesCount
            try add(db, "requeued_total", Int64(restarted))
        }
        if alive { return CheckIn(registered: false, revived: false, assigned: 0, restarted: restarted) }
        let assigned = try assignWaiting(db, now: now) + rebalance(db, now: now)
        return CheckIn(registered: false, revived: true, assigned: assigned, restarted: restarted)
    }

    /// Evens out the live processors' loads (unfinished jobs) by moving queued, unclaimed, normal
    /// jobs, newest first, from the busiest processor to the least busy one, until no two differ by
    /// more than one or nothing more can move (running and priority jobs stay). A processor that
    /// joins late, or comes back, so gets its share of a backlog. Returns the jobs moved.
    private static func rebalance(_ db: Database, now: Double) throws -> Int {
        let loads = try Loads(db)
        guard loads.names.count > 1 else { return 0 }
        var load = loads.load
        var movable: [String: Int] = [:]
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT processor, count(*) AS n FROM jobs
                WHERE state = 'queued' AND priority = 0 AND processor IS NOT NULL GROUP BY processor
                """)
        {
            let name: String = row["processor"]
            if load[name] != nil { movable[name] = row["n"] }
        }
        var moved = 0
        while true {
            let candidates = loads.names.filter { (movable[$0] ?? 0) > 0 }
            guard let busiest = candidates.max(by: { load[$0]! < load[$1]! || (load[$0]! == load[$1]! && $0 > $1) }),
                let idlest = loads.names.min(by: { load[$0]! < load[$1]! || (load[$0]! == load[$1]! && $0 < $1) }),
                load[busiest]! - load[idlest]! > 1
            else { break }
            // Move as many as evens the two out in one statement.
            let count = min((load[busiest]! - load[idlest]!) / 2, movable[busiest]!)
            try db.execute(
                sql: """
                    UPDATE jobs SET processor = ?, assigned_at = ? WHERE uuid IN (
                      SELECT uuid FROM jobs WHERE processor = ? AND state = 'queued' AND priority = 0
                      ORDER BY qkey DESC LIMIT ?)
                    """,
                arguments: [idlest, now, busiest, count])
            load[busiest]! -= count
            load[idlest]! += count
            movable[busiest]! -= count
            moved += count
        }
        return moved
    }

    /// After the gateway was down, every processor gets a full `deadAfter` from now before it can
    /// be found dead (they could not check in while the gateway was not there).
    public func resume(now: Double) throws {
        try db.write { db in
            try db.execute(sql: "UPDATE processors SET last_seen = ? WHERE alive = 1 AND last_seen < ?", arguments: [now, now])
        }
    }

    /// Forgets a processor (an operator's call): its unfinished jobs go to the live ones.
    public func remove(_ name: String, now: Double) throws -> Int? {
        try db.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM processors WHERE name = ?", arguments: [name]) != nil else {
                return nil
            }
            try db.execute(
                sql: """
                    UPDATE jobs SET processor = NULL, state = 'queued', assigned_at = NULL, claimed_at = NULL
                    WHERE processor = ? AND state IN ('queued', 'running')
                    """,
                arguments: [name])
            let requeued = db.changesCount
            try db.execute(sql: "DELETE FROM processors WHERE name = ?", arguments: [name])
            try Self.add(db, "requeued_total", Int64(requeued))
            _ = try Self.assignWaiting(db, now: now)
            return requeued
        }
    }

    public struct Expiry: Sendable, Equatable {
        /// Processors found dead now.
        public var dead: [String] = []
        /// Their unfinished jobs, put back in the queue (priority kept).
        public var requeued = 0
        /// Running jobs claimed longer than the job timeout ago, requeued.
        public var timedOut = 0
        /// Waiting jobs assigned to live processors (requeued ones and any that had no processor).
        public var assigned = 0
        /// Queued jobs moved from busier to less busy processors.
        public var rebalanced = 0
    }

    /// Marks processors not seen since `now - deadAfter` dead and requeues their unfinished jobs;
    /// requeues running jobs claimed before `now - jobTimeout` (when set) to any live processor;
    /// assigns every waiting job and evens out the live processors' queues.
    public func expire(now: Double, deadAfter: Double, jobTimeout: Double? = nil) throws -> Expiry {
        try db.write { db in
            var expiry = Expiry()
            expiry.dead = try String.fetchAll(
                db, sql: "SELECT name FROM processors WHERE alive = 1 AND last_seen < ? ORDER BY name",
                arguments: [now - deadAfter])
            for name in expiry.dead {
                try db.execute(sql: "UPDATE processors SET alive = 0, died_at = ? WHERE name = ?", arguments: [now, name])
                try db.execute(
                    sql: """
                        UPDATE jobs SET processor = NULL, state = 'queued', assigned_at = NULL, claimed_at = NULL
                        WHERE processor = ? AND state IN ('queued', 'running')
                        """,
                    arguments: [name])
                expiry.requeued += db.changesCount
            }
            if let jobTimeout {
                try db.execute(
                    sql: """
                        UPDATE jobs SET processor = NULL, state = 'queued', assigned_at = NULL, claimed_at = NULL
                        WHERE state = 'running' AND claimed_at < ?
                        """,
                    arguments: [now - jobTimeout])
                expiry.timedOut = db.changesCount
            }
            try Self.add(db, "requeued_total", Int64(expiry.requeued + expiry.timedOut))
            expiry.assigned = try Self.assignWaiting(db, now: now)
            expiry.rebalanced = try Self.rebalance(db, now: now)
            return expiry
        }
    }

    /// Every processor, with its unfinished jobs.
    public func processors() throws -> [JobdirProcessor] {
        try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT p.*,
                      (SELECT count(*) FROM jobs j WHERE j.processor = p.name AND j.state = 'queued') AS queued,
                      (SELECT count(*) FROM jobs j WHERE j.processor = p.name AND j.state = 'running') AS running
                    FROM processors p ORDER BY p.name
                    """
            ).map { row in
                JobdirProcessor(
                    name: row["name"], registeredAt: row["registered_at"], lastSeen: row["last_seen"],
                    alive: row["alive"], diedAt: row["died_at"], queued: row["queued"], running: row["running"])
            }
        }
    }

    // MARK: Processor API

    public enum ClaimError: Error, Equatable, CustomStringConvertible {
        case unknownProcessor(String)

        public var description: String {
            switch self {
            case .unknownProcessor(let name): return "processor \"\(name)\" is not registered: check in first"
            }
        }
    }

    /// The next job of a processor (priority first, then oldest), now running; nil when it has
    /// none. Counts as the processor's check-in.
    public func claim(_ processor: String, now: Double) throws -> JobdirJob? {
        try db.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM processors WHERE name = ?", arguments: [processor]) != nil
            else { throw ClaimError.unknownProcessor(processor) }
            _ = try Self.checkIn(db, processor, now: now)
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM jobs WHERE processor = ? AND state = 'queued' ORDER BY qkey LIMIT 1",
                    arguments: [processor])
            else { return nil }
            var job = Self.job(row)
            try db.execute(
                sql: "UPDATE jobs SET state = 'running', claimed_at = ? WHERE uuid = ?", arguments: [now, job.uuid])
            job.state = .running
            job.claimedAt = now
            return job
        }
    }

    public enum FinishError: Error, Equatable, CustomStringConvertible {
        case unknownJob(String)
        /// Done by a processor the job is not (or no longer) assigned to.
        case notAssigned(uuid: String, to: String, assignee: String?)
        /// Done again with the other outcome.
        case alreadyFinished(uuid: String, state: JobdirJob.State)

        public var description: String {
            switch self {
            case .unknownJob(let uuid): return "no unfinished job \(uuid)"
            case .notAssigned(let uuid, let to, let assignee):
                return "job \(uuid) is not assigned to \"\(to)\" (assigned to \(assignee.map { "\"\($0)\"" } ?? "no processor"): it was requeued when \"\(to)\" was dead)"
            case .alreadyFinished(let uuid, let state): return "job \(uuid) is already \(state.rawValue)"
            }
        }
    }

    /// Marks a job done (succeeded or failed), ready for cleanup. When `processor` is given it must be
    /// the job's assignee (and it counts as its check-in). Reporting the same outcome again is
    /// answered with the job as it is (a retried request).
    public func finish(
        _ uuid: String, success: Bool, message: String?, processor: String?, now: Double
    ) throws -> (job: JobdirJob, repeated: Bool) {
        try db.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE uuid = ?", arguments: [uuid]) else {
                if let history = try Row.fetchOne(db, sql: "SELECT * FROM history WHERE uuid = ?", arguments: [uuid]) {
                    let job = Self.historyJob(history)
                    if job.success == success { return (job, true) }
                    throw FinishError.alreadyFinished(uuid: uuid, state: job.success == true ? .succeeded : .failed)
                }
                throw FinishError.unknownJob(uuid)
            }
            var job = Self.job(row)
            let outcome: JobdirJob.State = success ? .succeeded : .failed
            if job.state == .succeeded || job.state == .failed {
                if job.state == outcome { return (job, true) }
                throw FinishError.alreadyFinished(uuid: uuid, state: job.state)
            }
            if let processor {
                guard job.processor == processor else {
                    throw FinishError.notAssigned(uuid: uuid, to: processor, assignee: job.processor)
                }
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM processors WHERE name = ?", arguments: [processor]) != nil {
                    _ = try Self.checkIn(db, processor, now: now)
                }
            }
            try db.execute(
                sql: "UPDATE jobs SET state = ?, finished_at = ?, message = ? WHERE uuid = ?",
                arguments: [outcome.rawValue, now, message, uuid])
            try Self.add(db, success ? "succeeded_total" : "failed_total", 1)
            job.state = outcome
            job.finishedAt = now
            job.message = message
            job.success = success
            return (job, false)
        }
    }

    // MARK: Priority

    public enum PriorityOutcome: Sendable, Equatable {
        /// A queued job moved to the front of its processor's queue (nil: waiting for a processor).
        case moved(processor: String?)
        /// A pair found on disk, queued with priority.
        case queued(processor: String?, origin: JobdirJob.Origin)
        /// Nothing to do: the job is being processed or is done.
        case already(JobdirJob.State)
        /// Not queued, and `locate` found no pair.
        case notFound
    }

    /// Priority for a known job; nil when the uuid is unknown.
    private static func prioritise(_ db: Database, _ uuid: String) throws -> PriorityOutcome? {
        if let row = try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE uuid = ?", arguments: [uuid]) {
            let job = job(row)
            guard job.state == .queued else { return .already(job.state) }
            let key = priorityBase + (try next(db, "priority_seq"))
            try db.execute(sql: "UPDATE jobs SET priority = 1, qkey = ? WHERE uuid = ?", arguments: [key, uuid])
            return .moved(processor: job.processor)
        }
        if try Bool.fetchOne(db, sql: "SELECT 1 FROM history WHERE uuid = ?", arguments: [uuid]) != nil {
            return .already(.cleaned)
        }
        return nil
    }

    /// A priority request. A queued job goes to the front of its processor's queue; an unknown uuid
    /// is looked for on disk by `locate` (outside any transaction: it may walk a big tree) and, when
    /// found, queued with priority and assigned round-robin among live processors.
    public func prioritise(_ uuid: String, now: Double, locate: () -> FoundPair?) throws -> PriorityOutcome {
        if let outcome = try db.write({ db in try Self.prioritise(db, uuid) }) { return outcome }
        guard let pair = locate() else { return .notFound }
        return try db.write { db in
            // A scan may have queued it meanwhile.
            if let outcome = try Self.prioritise(db, uuid) { return outcome }
            let live = try String.fetchAll(db, sql: "SELECT name FROM processors WHERE alive = 1 ORDER BY name")
            var processor: String?
            if !live.isEmpty {
                let last = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'round_robin'") ?? ""
                processor = live.first(where: { $0 > last }) ?? live[0]
                try db.execute(
                    sql: "INSERT INTO meta (key, value) VALUES ('round_robin', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    arguments: [processor])
            }
            let key = Self.priorityBase + (try Self.next(db, "priority_seq"))
            try Self.insertJob(db, pair, processor: processor, priority: true, key: key, now: now)
            try Self.add(db, "queued_total", 1)
            return .queued(processor: processor, origin: pair.origin)
        }
    }

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

    // MARK: Reading

    public func job(_ uuid: String) throws -> JobdirJob? {
        try db.read { db in
            if let row = try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE uuid = ?", arguments: [uuid]) {
                return Self.job(row)
            }
            return try Row.fetchOne(db, sql: "SELECT * FROM history WHERE uuid = ?", arguments: [uuid]).map(Self.historyJob)
        }
    }

    /// Jobs in queue order (history: most recently cleaned first), optionally of one state and processor.
    /// `unassigned: true` keeps the queued jobs waiting for a processor.
    public func jobs(state: JobdirJob.State?, processor: String?, unassigned: Bool = false, limit: Int) throws -> [JobdirJob] {
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
                db, sql: "SELECT processor, state, count(*) AS n FROM jobs GROUP BY processor, state ORDER BY processor, state"
            ).compactMap { row in
                guard let state = JobdirJob.State(rawValue: row["state"]) else { return nil }
                return Depth(processor: row["processor"], state: state, count: row["n"])
            }
        }
    }

    private static func job(_ row: Row) -> JobdirJob {
        let state = JobdirJob.State(rawValue: row["state"]) ?? .queued
        return JobdirJob(
            uuid: row["uuid"], jsonPath: row["json_path"], dumpPath: row["dump_path"],
            origin: JobdirJob.Origin(rawValue: row["origin"]) ?? .storage, state: state, processor: row["processor"],
            priority: row["priority"], queuedAt: row["queued_at"], assignedAt: row["assigned_at"],
            claimedAt: row["claimed_at"], finishedAt: row["finished_at"],
            success: state == .succeeded ? true : state == .failed ? false : nil, message: row["message"],
            cleanupAttempts: row["cleanup_attempts"], cleanupError: row["cleanup_error"])
    }

    private static func historyJob(_ row: Row) -> JobdirJob {
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
