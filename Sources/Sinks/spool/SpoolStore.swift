import Foundation
import GRDB
import GatewayCore
import Logging
import Synchronization

/// A durable queue of batches in one SQLite file (WAL): what a sink could not deliver, kept in
/// arrival order until the sink confirms it, plus the lines the server refused for good
/// (`dead_letters`) and rows that failed their checksum (`corrupt`).
///
/// Rows are whole batches (gzip line protocol), so a 5,000-point batch costs one insert. The
/// running totals live in memory and are loaded once at open.
///
/// Database calls are synchronous on purpose: GRDB's async variants give up when the calling
/// task is cancelled, and the batches written at shutdown must reach the file regardless.
public final class SpoolStore: Sendable {
    public enum FullPolicy: String, Sendable, CaseIterable {
        case dropOldest = "drop_oldest"
        case dropNewest = "drop_newest"
        case block
    }

    /// What a committed batch survives. `normal`: a crash or kill -9 of the gateway (WAL
    /// commits reach the OS at once); the last commits may be lost if the machine loses power.
    /// `full`: also a power loss or kernel crash (fsync at every commit).
    public enum SyncMode: String, Sendable, CaseIterable {
        case normal
        case full
    }

    public struct Options: Sendable {
        public var maxBytes: Int
        public var whenFull: FullPolicy
        public var sync: SyncMode

        public init(maxBytes: Int = 1 << 30, whenFull: FullPolicy = .dropOldest, sync: SyncMode = .normal) {
            self.maxBytes = maxBytes
            self.whenFull = whenFull
            self.sync = sync
        }
    }

    public struct Entry: Sendable {
        public var id: Int64
        /// Unix time in nanoseconds when the batch was spooled.
        public var spooledAt: Int64
        public var payload: SpoolPayload
    }

    public struct DeadLetter: Sendable {
        public var id: Int64
        public var at: Int64
        public var status: Int
        public var message: String
        public var line: String
    }

    public struct Stats: Sendable, Codable, Equatable {
        public var batches: Int
        public var points: Int
        public var bytes: Int
        /// Unix nanoseconds of the oldest spooled batch.
        public var oldestSpooledAt: Int64?
        public var deadLetters: Int
        public var corrupt: Int
    }

    public enum AppendResult: Sendable, Equatable {
        /// Stored; `droppedBatches`/`droppedPoints` older batches went to make room (drop_oldest).
        case stored(droppedBatches: Int, droppedPoints: Int)
        /// Not stored: the spool is full and the policy is drop_newest, or the batch alone is
        /// larger than the spool.
        case refused
        /// Not stored: the spool is full and the policy is block; try again when space frees up.
        case full
    }

    struct Totals {
        var batches = 0
        var points = 0
        var bytes = 0
    }

    public let path: String
    public let options: Options
    let db: DatabaseQueue
    private let totals = Mutex(Totals())
    /// The batches being replayed right now: `drop_oldest` leaves them alone, so a batch is never
    /// counted both as dropped and as delivered.
    private let inFlight = Mutex<Set<Int64>>([])
    /// Batches the server confirmed whose delete failed (disk full, I/O error): never handed out
    /// again, deleted by the next write that succeeds (see ``deleteDelivered()``).
    private let delivered = Mutex<Set<Int64>>([])
    let writeFault = Mutex(WriteFault())
    private let lock: FileLock?
    let logger: Logger
    /// What was salvaged when the file was found damaged at open; nil when it was sound.
    public let salvage: SpoolSalvageReport?

    /// Opens (creating when needed) the spool at `path`. A file that cannot be opened or fails
    /// SQLite's quick check is set aside as `<path>.damaged-<UTC time>` and every row SQLite can
    /// still read is copied into a fresh file at `path` (``salvage``), so the gateway always
    /// starts. With `exclusive`, the file is locked for this process; a second gateway on the
    /// same file is refused.
    public init(path: String, options: Options = Options(), exclusive: Bool = true, readOnly: Bool = false, logger: Logger)
        throws
    {
        self.path = path
        self.options = options
        self.logger = logger
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !readOnly {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        lock = exclusive ? try FileLock(path: path + ".lock") : nil
        if readOnly, !FileManager.default.fileExists(atPath: path) {
            throw SpoolError.unavailable("\(path): no such spool file")
        }
        if readOnly {
            db = try Self.open(path: path, options: options, readOnly: true)
            salvage = nil
        } else {
            let opened = try Self.openOrSalvage(path: path, options: options, logger: logger)
            db = opened.queue
            salvage = opened.report
        }
        try reloadTotals()
    }

    /// Records where the owning gateway's admin API answers (see ``FileLock``).
    public func recordAdminURL(_ url: String) {
        lock?.record(adminURL: url)
    }

    /// Closes the database (checkpointing the WAL) and releases the file lock. Later calls fail.
    public func close() {
        try? db.close()
        lock?.release()
    }

    static func isCorruption(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB
    }

    static func open(path: String, options: Options, readOnly: Bool) throws -> DatabaseQueue {
        var config = Configuration()
        config.readonly = readOnly
        config.label = "spool"
        config.busyMode = .timeout(10)
        if !readOnly { config.journalMode = .wal }
        let sync = options.sync == .full ? "FULL" : "NORMAL"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(sync)")
        }
        let queue = try DatabaseQueue(path: path, configuration: config)
        if !readOnly {
            try queue.write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS batches (
                            id INTEGER PRIMARY KEY AUTOINCREMENT,
                            spooled_at INTEGER NOT NULL,
                            points INTEGER NOT NULL,
                            bytes INTEGER NOT NULL,
                            precision TEXT NOT NULL,
                            checksum INTEGER NOT NULL,
                            payload BLOB NOT NULL);
                        CREATE TABLE IF NOT EXISTS dead_letters (
                            id INTEGER PRIMARY KEY AUTOINCREMENT,
                            at INTEGER NOT NULL,
                            status INTEGER NOT NULL,
                            message TEXT NOT NULL,
                            line TEXT NOT NULL);
                        CREATE TABLE IF NOT EXISTS corrupt (
                            id INTEGER PRIMARY KEY AUTOINCREMENT,
                            batch_id INTEGER,
                            spooled_at INTEGER,
                            points INTEGER,
                            precision TEXT,
                            checksum INTEGER,
                            payload BLOB,
                            reason TEXT NOT NULL,
                            found_at INTEGER NOT NULL);
                        """)
            }
        } else {
            // Touch the schema so a file that is not a database fails here, not later.
            _ = try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") }
        }
        return queue
    }

    /// Synchronous on purpose (see the type's note): from an async function, `db.write` would
    /// pick GRDB's cancellable async overload. Every write goes through here, so a failing one
    /// marks the spool unwritable (``writeError``) and the next one that succeeds clears it.
    private func syncWrite<T>(_ updates: (Database) throws -> T) throws -> T {
        do {
            let result = try db.write(updates)
            noteWriteSucceeded()
            return result
        } catch {
            noteWriteFailed(error)
            throw error
        }
    }
    private func syncRead<T>(_ value: (Database) throws -> T) throws -> T { try db.read(value) }

    // MARK: Totals

    public var isEmpty: Bool { totals.withLock { $0.batches == 0 } }
    public var batchCount: Int { totals.withLock { $0.batches } }
    public var pointCount: Int { totals.withLock { $0.points } }
    public var byteCount: Int { totals.withLock { $0.bytes } }

    // MARK: Writing

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
                sql: "INSERT INTO batches (spooled_at, points, bytes, precision, checksum, payload) VALUES (?, ?, ?, ?, ?, ?)")
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

    private func reloadTotals() throws {
        let loaded = try syncRead { db -> Totals in
            let row = try Row.fetchOne(
                db, sql: "SELECT count(*), coalesce(sum(points), 0), coalesce(sum(bytes), 0) FROM batches")!
            return Totals(batches: row[0], points: row[1], bytes: row[2])
        }
        totals.withLock { $0 = loaded }
    }

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

    public func addDeadLetters(_ lines: [String], status: Int, message: String, at time: Int64 = SpoolStore.now()) async throws {
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

    // MARK: Reading (stats, export, check)

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
                sql: "SELECT id, spooled_at, points, precision, checksum, payload FROM batches WHERE id > ? ORDER BY id LIMIT ?",
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
                        problems.append("batch \(row.id): holds \(points.count) points, row says \(entry.payload.points)")
                    }
                } catch {
                    problems.append("batch \(row.id): \(error)")
                }
            }
            progress(seen, total)
        }
        return problems
    }

    /// Dead-letter rows kept per spool file (the oldest go first; every one was counted and logged).
    public static let maxDeadLetters = 100_000

    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// An advisory lock (flock) held for the life of the process, so two gateways never replay
/// the same spool. The lock file holds the owner's pid for the error message.
public final class FileLock: Sendable {
    let fd: Int32

    public init(path: String) throws {
        fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw SpoolError.unavailable("\(path): cannot open lock file: \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, 32, 0)
            let owner = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: CharacterSet.whitespacesAndNewlines.union(CharacterSet(charactersIn: "\0"))) : "?"
            Glibc.close(fd)
            throw SpoolError.unavailable("\((path as NSString).deletingPathExtension) is in use by another gateway process (pid \(owner))")
        }
        record(adminURL: nil)
    }

    /// Writes the owner's pid and, once known, the URL of its admin API (the HTTP listener),
    /// so `gateway spool` can reach the running gateway whatever port it got.
    func record(adminURL: String?) {
        let text = Array("\(getpid())\n\(adminURL ?? "")\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, text, text.count, 0)
    }

    /// The admin URL a running owner recorded in the lock file at `path`, if any.
    public static func ownerAdminURL(path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > 1, !lines[1].isEmpty else { return nil }
        return String(lines[1])
    }

    private let released = Atomic<Bool>(false)

    public func release() {
        if !released.exchange(true, ordering: .relaxed) { Glibc.close(fd) }
    }

    deinit {
        release()
    }

    /// Whether another process holds the lock on `path` right now.
    public static func isHeld(path: String) -> Bool {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 { return false }
        defer { Glibc.close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 { return true }
        flock(fd, LOCK_UN)
        return false
    }
}
