import Foundation
import GRDB

// How jobs enter the queue: assignment to the least-loaded live processor, insertion of the pairs a
// scan found, and priority requests.
extension JobStore {
    // MARK: Assignment

    /// Unfinished jobs per live processor, for least-loaded picking.
    struct Loads {
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
    static func assignWaiting(_ db: Database, now: Double) throws -> Int {
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

    static func insertJob(
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

    static func isKnown(_ db: Database, _ uuid: String) throws -> Bool {
        try Bool.fetchOne(
            db.cachedStatement(
                sql:
                    "SELECT EXISTS (SELECT 1 FROM jobs WHERE uuid = ?1) OR EXISTS (SELECT 1 FROM history WHERE uuid = ?1)"
            ),
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
                    sql:
                        "INSERT INTO meta (key, value) VALUES ('seq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    arguments: [seq])
                try Self.add(db, "queued_total", Int64(queued))
            }
        } while start < pairs.count
        return report
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
    static func prioritise(_ db: Database, _ uuid: String) throws -> PriorityOutcome? {
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
                    sql:
                        "INSERT INTO meta (key, value) VALUES ('round_robin', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    arguments: [processor])
            }
            let key = Self.priorityBase + (try Self.next(db, "priority_seq"))
            try Self.insertJob(db, pair, processor: processor, priority: true, key: key, now: now)
            try Self.add(db, "queued_total", 1)
            return .queued(processor: processor, origin: pair.origin)
        }
    }
}
