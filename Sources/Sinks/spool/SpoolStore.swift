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
    let totals = Mutex(Totals())
    /// The batches being replayed right now: `drop_oldest` leaves them alone, so a batch is never
    /// counted both as dropped and as delivered.
    let inFlight = Mutex<Set<Int64>>([])
    /// Batches the server confirmed whose delete failed (disk full, I/O error): never handed out
    /// again, deleted by the next write that succeeds (see ``deleteDelivered()``).
    let delivered = Mutex<Set<Int64>>([])
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
    public init(
        path: String, options: Options = Options(), exclusive: Bool = true, readOnly: Bool = false, logger: Logger
    )
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
    func syncWrite<T>(_ updates: (Database) throws -> T) throws -> T {
        do {
            let result = try db.write(updates)
            noteWriteSucceeded()
            return result
        } catch {
            noteWriteFailed(error)
            throw error
        }
    }
    func syncRead<T>(_ value: (Database) throws -> T) throws -> T { try db.read(value) }
    // MARK: Totals

    public var isEmpty: Bool { totals.withLock { $0.batches == 0 } }
    public var batchCount: Int { totals.withLock { $0.batches } }
    public var pointCount: Int { totals.withLock { $0.points } }
    public var byteCount: Int { totals.withLock { $0.bytes } }

    func reloadTotals() throws {
        let loaded = try syncRead { db -> Totals in
            let row = try Row.fetchOne(
                db, sql: "SELECT count(*), coalesce(sum(points), 0), coalesce(sum(bytes), 0) FROM batches")!
            return Totals(batches: row[0], points: row[1], bytes: row[2])
        }
        totals.withLock { $0 = loaded }
    }

    /// Dead-letter rows kept per spool file (the oldest go first; every one was counted and logged).
    public static let maxDeadLetters = 100_000

    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
