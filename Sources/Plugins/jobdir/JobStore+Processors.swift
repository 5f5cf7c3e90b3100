import Foundation
import GRDB

// Processors: check-ins, rebalancing, removal, and expiry of the dead ones (their jobs requeued).
extension JobStore {
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

    static func checkIn(_ db: Database, _ name: String, instance: String? = nil, now: Double) throws -> CheckIn {
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT alive, instance FROM processors WHERE name = ?", arguments: [name])
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
            sql:
                "UPDATE processors SET last_seen = ?, alive = 1, died_at = NULL, instance = coalesce(?, instance) WHERE name = ?",
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
    static func rebalance(_ db: Database, now: Double) throws -> Int {
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
            try db.execute(
                sql: "UPDATE processors SET last_seen = ? WHERE alive = 1 AND last_seen < ?", arguments: [now, now])
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
                try db.execute(
                    sql: "UPDATE processors SET alive = 0, died_at = ? WHERE name = ?", arguments: [now, name])
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
}
