import Foundation
import GRDB
import Logging

/// What salvaging a damaged spool file kept and what it lost.
public struct SpoolSalvageReport: Sendable, Equatable {
    /// Where the damaged file was set aside (`<file>.damaged-<UTC time>`, with its `-wal`/`-shm`).
    public var damagedPath: String
    /// Why the file was judged damaged (the open error or the first quick-check finding).
    public var reason: String
    /// Batches copied into the fresh spool, checksums verified, and their points.
    public var batches = 0
    public var points = 0
    /// Rows read whole whose payload failed its checksum (or whose columns were unreadable):
    /// kept in the fresh file's `corrupt` table and counted as corrupt, as replay counts them.
    public var corruptBatches = 0
    public var corruptPoints = 0
    /// Batch ids that could not be read at all: rows SQLite still listed but whose contents it could
    /// not read, plus the ids in regions of the table it could not walk (at most that many batches
    /// were there: ids are consecutive but for batches already delivered). Their points are unknown
    /// except `lostPointsKnown`, counted where a row's `points` column was still readable.
    public var lostBatchesAtMost = 0
    public var lostPointsKnown = 0
    /// Dead-letter rows copied, and corrupt rows (kept aside earlier) copied.
    public var deadLetters = 0
    public var corruptRowsKept = 0
    /// Set when the salvage itself stopped early (the fresh file could not be written, e.g. disk full).
    public var error: String?

    /// Set when not even the damaged file's header and schema could be read (nothing salvaged, the
    /// loss cannot be counted).
    public var unreadable = false
    /// Set when the file's first page (header and schema) was unreadable and the rows were read
    /// through a copy carrying a fresh spool's first page.
    public var rebuiltFirstPage = false

    public var text: String {
        if unreadable { return "nothing could be read (\(error ?? "unreadable")); what it held is lost, uncounted" }
        var parts = [
            "salvaged \(batches) batches (\(points) points)",
            "\(corruptBatches) batches (\(corruptPoints) points) failed their checksum",
            "at most \(lostBatchesAtMost) batches unreadable (\(lostPointsKnown) points known lost)",
            "\(deadLetters) dead letters and \(corruptRowsKept) corrupt rows kept",
        ]
        if rebuiltFirstPage { parts.append("first page (header, schema) rebuilt to read the rest") }
        if let error { parts.append("stopped early: \(error)") }
        return parts.joined(separator: "; ")
    }
}

extension SpoolStore {
    /// Whether an error means the file itself is damaged (not merely unwritable).
    static func isDamage(_ error: any Error) -> Bool {
        if let error = error as? DatabaseError { return isCorruption(error) }
        if case SpoolError.corrupt = error { return true }
        return false
    }

    /// SQLite's quick check (every page's structure, not index contents): throws
    /// `SpoolError.corrupt` with its first finding.
    static func quickCheck(_ queue: DatabaseQueue) throws {
        let findings = try queue.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check(10)") }
        if let problem = findings.first(where: { $0 != "ok" }) {
            throw SpoolError.corrupt("quick_check: \(problem)")
        }
    }

    /// Opens the spool at `path`; when the file cannot be opened or fails its quick check, sets it
    /// aside as `<path>.damaged-<UTC time>`, starts a fresh file at `path` and copies into it every
    /// row SQLite can still read (``salvage(from:into:reason:)``).
    static func openOrSalvage(path: String, options: Options, logger: Logger) throws -> (
        queue: DatabaseQueue, report: SpoolSalvageReport?
    ) {
        let reason: String
        do {
            let queue = try open(path: path, options: options, readOnly: false)
            do {
                try quickCheck(queue)
                return (queue, nil)
            } catch {
                try? queue.close()
                throw error
            }
        } catch where isDamage(error) {
            reason = "\(error)"
        }
        let aside = damagedName(for: path)
        logger.error(
            "spool file is damaged: setting it aside and salvaging every readable row into a fresh spool",
            metadata: ["path": "\(path)", "moved_to": "\(aside)", "error": "\(reason)"])
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
            try FileManager.default.moveItem(atPath: path + suffix, toPath: aside + suffix)
        }
        let fresh = try open(path: path, options: options, readOnly: false)
        let report = salvage(from: aside, into: fresh, reason: reason)
        logger.error(
            "damaged spool salvaged: the rows listed as lost could not be read and are gone",
            metadata: [
                "path": "\(path)", "damaged_file": "\(aside)", "salvaged_batches": "\(report.batches)",
                "salvaged_points": "\(report.points)", "corrupt_batches": "\(report.corruptBatches)",
                "corrupt_points": "\(report.corruptPoints)", "lost_batches_at_most": "\(report.lostBatchesAtMost)",
                "lost_points_known": "\(report.lostPointsKnown)", "dead_letters": "\(report.deadLetters)",
                "salvage_error": "\(report.error ?? "none")",
            ])
        return (fresh, report)
    }

    static func damagedName(for path: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let base = "\(path).damaged-\(formatter.string(from: Date()))"
        var candidate = base
        var n = 1
        while FileManager.default.fileExists(atPath: candidate) {
            n += 1
            candidate = "\(base)-\(n)"
        }
        return candidate
    }

    /// Copies what SQLite can still read of the damaged file at `damaged` into `fresh` (an empty
    /// spool), row by row in id order: batches whose checksum holds into `batches` (same ids, so
    /// the order and the id sequence are kept), the others into `corrupt`; then the dead letters
    /// and the corrupt rows. Never throws: what could not be read is counted in the report.
    static func salvage(from damaged: String, into fresh: DatabaseQueue, reason: String) -> SpoolSalvageReport {
        var report = SpoolSalvageReport(damagedPath: damaged, reason: reason)
        func openSource(_ path: String) throws -> DatabaseQueue {
            var config = Configuration()
            config.readonly = true
            config.label = "spool-salvage"
            // A truncated file's header claims more pages than the file holds; SQLite refuses such a
            // file unless the schema is writable, and then reads the pages that are there.
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA writable_schema = ON") }
            return try DatabaseQueue(path: path, configuration: config)
        }
        let source: DatabaseQueue
        var rebuilt: String?
        do {
            source = try openSource(damaged)
        } catch {
            // The first page (header and schema) cannot be read. Every spool file starts with the
            // same page 1 (one schema, created at once): read a copy with a fresh spool's page 1.
            // Rows read through it still pass their checksums, or are kept aside as corrupt.
            guard let copy = rebuildFirstPage(damaged), let opened = try? openSource(copy) else {
                report.error = "cannot open the damaged file: \(error)"
                report.unreadable = true
                return report
            }
            source = opened
            rebuilt = copy
            report.rebuiltFirstPage = true
        }
        defer {
            try? source.close()
            if let rebuilt { try? FileManager.default.removeItem(atPath: rebuilt) }
        }
        let now = now()
        let batchColumns = "id, spooled_at, points, precision, checksum, payload, bytes"
        func sequence(_ table: String) -> Int64? {
            try? source.read { db in
                try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = ?", arguments: [table])
            }
        }
        let batchSequence = sequence("batches")
        var batches = TableSalvage(source: source, table: "batches", columns: batchColumns, lastID: batchSequence)
        do {
            var pending: [(sql: String, arguments: StatementArguments)] = []
            var pendingBytes = 0
            func flush() throws {
                if pending.isEmpty { return }
                let rows = pending
                try fresh.write { db in
                    for row in rows { try db.execute(sql: row.sql, arguments: row.arguments) }
                }
                pending.removeAll(keepingCapacity: true)
                pendingBytes = 0
            }
            try batches.walk { id, row in
                guard let row else {
                    report.lostBatchesAtMost += 1
                    // The row's own columns may be readable where its payload (overflow pages) is not.
                    if let points = try? source.read({ db in
                        try Int.fetchOne(db, sql: "SELECT points FROM batches WHERE id = ?", arguments: [id])
                    }) {
                        report.lostPointsKnown += points
                    }
                    return
                }
                let entry = Self.entry(row)
                let checksum: Int64? = row[4]
                if let entry, entry.payload.checksum == checksum {
                    report.batches += 1
                    report.points += entry.payload.points
                    pending.append(
                        (
                            "INSERT INTO batches (\(batchColumns)) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            StatementArguments(row.databaseValues)
                        ))
                } else {
                    report.corruptBatches += 1
                    report.corruptPoints += (row[2] as Int?) ?? 0
                    pending.append(
                        (
                            """
                            INSERT INTO corrupt (batch_id, spooled_at, points, precision, checksum, payload, reason, found_at)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                            StatementArguments(
                                Array(row.databaseValues.prefix(6)) + [
                                    (entry == nil ? "unreadable columns (salvage)" : "checksum mismatch (salvage)")
                                        .databaseValue, now.databaseValue,
                                ])
                        ))
                }
                pendingBytes += ((row[6] as Int?) ?? 0) + 100
                if pending.count >= 256 || pendingBytes >= 8 << 20 { try flush() }
            }
            report.lostBatchesAtMost += batches.unreadableIDs
            try flush()
            let deadLetterColumns = "id, at, status, message, line"
            var deadLetters = TableSalvage(
                source: source, table: "dead_letters", columns: deadLetterColumns, lastID: sequence("dead_letters"))
            try deadLetters.walk { _, row in
                guard let row else { return }
                report.deadLetters += 1
                pending.append(
                    (
                        "INSERT INTO dead_letters (\(deadLetterColumns)) VALUES (?, ?, ?, ?, ?)",
                        StatementArguments(row.databaseValues)
                    ))
                if pending.count >= 1000 { try flush() }
            }
            try flush()
            let corruptColumns = "id, batch_id, spooled_at, points, precision, checksum, payload, reason, found_at"
            var corruptRows = TableSalvage(
                source: source, table: "corrupt", columns: corruptColumns, lastID: sequence("corrupt"))
            try corruptRows.walk { _, row in
                guard let row else { return }
                report.corruptRowsKept += 1
                pending.append(
                    (
                        "INSERT INTO corrupt (batch_id, spooled_at, points, precision, checksum, payload, reason, found_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        StatementArguments(Array(row.databaseValues.dropFirst()))
                    ))
                if pending.count >= 256 { try flush() }
            }
            try flush()
            // Ids continue after the highest one the damaged file had handed out, where readable.
            if let seq = batchSequence {
                try fresh.write { db in
                    try db.execute(
                        sql: "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'batches'", arguments: [seq])
                    if db.changesCount == 0 {
                        try db.execute(
                            sql: "INSERT INTO sqlite_sequence (name, seq) VALUES ('batches', ?)", arguments: [seq])
                    }
                }
            }
        } catch {
            report.error = "\(error)"
        }
        if report.rebuiltFirstPage, report.batches + report.corruptBatches + report.deadLetters == 0 {
            // Nothing behind the first page made sense either: the whole file is unreadable.
            report.unreadable = true
            report.error = report.error ?? "no row could be read, even through a rebuilt first page"
        }
        return report
    }
}

extension SpoolStore {
    /// A copy of `damaged` (beside it, `.rebuilt`) whose first page is a fresh spool's, marked so
    /// SQLite takes the page count from the file size and opens it without a WAL. Nil when the
    /// copy cannot be made (no space, for one).
    static func rebuildFirstPage(_ damaged: String) -> String? {
        let template = damaged + ".template"
        let copy = damaged + ".rebuilt"
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: template + suffix) }
        }
        do {
            try open(path: template, options: Options(), readOnly: false).close()
            let head = try Data(contentsOf: URL(fileURLWithPath: template))
            guard head.count >= 100 else { return nil }
            let pageSize = Int(head[16]) << 8 | Int(head[17])
            guard pageSize >= 512, head.count >= pageSize else { return nil }
            var first = [UInt8](head.prefix(pageSize))
            // Read and write versions 1 (rollback journal): a read-only open needs no WAL index.
            first[18] = 1
            first[19] = 1
            // "Version valid for" unlike the change counter: the in-header page count is ignored.
            for i in 0..<4 { first[92 + i] = ~first[24 + i] }
            if FileManager.default.fileExists(atPath: copy) { try FileManager.default.removeItem(atPath: copy) }
            try FileManager.default.copyItem(atPath: damaged, toPath: copy)
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: copy))
            defer { try? handle.close() }
            try handle.seek(toOffset: 0)
            try handle.write(contentsOf: first)
            return copy
        } catch {
            try? FileManager.default.removeItem(atPath: copy)
            return nil
        }
    }
}

/// Walks one table of a damaged file in rowid order, row by row, stepping over what SQLite cannot
/// read. When the next id cannot be found from `after` (a damaged b-tree page on the way), it probes
/// ids further on (one by one, then doubling the step) until a search succeeds again, narrows down
/// (binary search) to the first id from which it does, and then looks up every id in the stretch it
/// stepped over on its own (a point lookup takes another path down the tree and may still reach a
/// row the ordered search could not). When no search succeeds beyond some id, the ids up to the
/// table's sequence (`lastID`, from `sqlite_sequence`, where readable) are looked up one by one.
struct TableSalvage {
    let source: DatabaseQueue
    let table: String
    let columns: String
    let lastID: Int64?
    /// Ids in stretches that could not be walked and were too many to look up one by one (an
    /// upper bound of the rows lost there). Ids whose own lookup failed go to `body` with no row.
    private(set) var unreadableIDs = 0
    /// The most ids looked up one by one in one stretch.
    static let maxLookups: Int64 = 2_000_000

    init(source: DatabaseQueue, table: String, columns: String, lastID: Int64?) {
        self.source = source
        self.table = table
        self.columns = columns
        self.lastID = lastID
    }

    /// The first id above `after`; nil at the end of the table; throws where SQLite cannot tell.
    func nextID(after: Int64) throws -> Int64? {
        try source.read { db in
            try Int64.fetchOne(db, sql: "SELECT id FROM \(table) WHERE id > ? ORDER BY id LIMIT 1", arguments: [after])
        }
    }

    func row(_ id: Int64) throws -> Row? {
        try source.read { db in
            try Row.fetchOne(db, sql: "SELECT \(columns) FROM \(table) WHERE id = ?", arguments: [id])
        }
    }

    /// Calls `body` for every id found, in order, with the whole row, or nil when the row is listed
    /// but its columns cannot be read. A table that is missing or unreadable from the start is
    /// treated like any other unreadable stretch.
    mutating func walk(_ body: (Int64, Row?) throws -> Void) throws {
        var after: Int64 = 0
        while true {
            let next: Int64?
            do {
                next = try nextID(after: after)
            } catch {
                let resumed = skipUnreadable(after: after)
                // Ids up to where the search works again (or, past the last search that works, up
                // to the sequence), one by one.
                try lookUp(after: after, through: resumed?.from ?? lastID ?? after, body)
                guard let resumed else { return }
                after = max(after, resumed.from)
                guard let id = resumed.id else { return }
                next = id
            }
            guard let id = next, id > after else {
                // The ordered search ends here; in a truncated file it may end early without an
                // error: unless the whole table can be counted, the ids up to the sequence are
                // looked up one by one.
                let intact =
                    (try? source.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") }) != nil
                if !intact { try lookUp(after: after, through: lastID ?? after, body) }
                return
            }
            try body(id, try? row(id))
            after = id
        }
    }

    /// Looks up the ids in `after+1 ... end` (a damaged stretch) one by one (at most `maxLookups`;
    /// ids beyond are counted in `unreadableIDs`). An id that is not found goes to `body` with no
    /// row too: in a damaged stretch SQLite may not see a row that is there, so it may be lost.
    mutating func lookUp(after: Int64, through end: Int64, _ body: (Int64, Row?) throws -> Void) throws {
        guard end > after else { return }
        let stop = min(end, after + Self.maxLookups)
        for id in (after + 1)...stop {
            let found: Row?
            do {
                found = try row(id)
            } catch {
                try body(id, nil)  // listed or not, it cannot be read
                continue
            }
            try body(id, found)
        }
        unreadableIDs += Int(clamping: end - stop)
    }

    /// From `after` (where the search failed), the first id the search finds beyond the damage, and
    /// the probe it was found from; `id` nil when the rest of the table is readable and empty.
    /// Nil when no search beyond `after` succeeds at all.
    func skipUnreadable(after: Int64) -> (from: Int64, id: Int64?)? {
        func search(_ from: Int64) -> Int64?? {
            do { return .some(try nextID(after: from)) } catch { return nil }
        }
        var failed = after
        var step: Int64 = 1
        var probes = 0
        while true {
            let (probe, overflow) = failed.addingReportingOverflow(step)
            if overflow || probe > Int64.max / 2 { return nil }
            if let found = search(probe) {
                // Narrow down to the first probe from which the search succeeds.
                var low = failed
                var high = probe
                var result = found
                while high - low > 1 {
                    let mid = low + (high - low) / 2
                    if let midFound = search(mid) {
                        high = mid
                        result = midFound
                    } else {
                        low = mid
                    }
                }
                return (high, result)
            }
            failed = probe
            probes += 1
            if probes > 64 { step = step.multipliedReportingOverflow(by: 2).overflow ? Int64.max : step * 2 }
        }
    }
}
