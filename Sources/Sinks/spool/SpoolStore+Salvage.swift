import Foundation
import GRDB
import GatewayCore
import Logging

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
        } catch  where isDamage(error) {
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
        let base = "\(path).damaged-\(ISO8601.format(nanoseconds: now(), style: .basic))"
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
            /// Copies what is readable of a table as it is (the corrupt table without its ids, which
            /// the fresh file gives anew); returns the rows copied.
            func copyReadable(_ table: String, columns: [String], keepIDs: Bool, batch: Int) throws -> Int {
                let inserted = keepIDs ? columns : Array(columns.dropFirst())
                let sql =
                    "INSERT INTO \(table) (\(inserted.joined(separator: ", "))) VALUES (\(inserted.map { _ in "?" }.joined(separator: ", ")))"
                var rows = TableSalvage(
                    source: source, table: table, columns: columns.joined(separator: ", "), lastID: sequence(table))
                var copied = 0
                try rows.walk { _, row in
                    guard let row else { return }
                    copied += 1
                    let values = Array(row.databaseValues.dropFirst(keepIDs ? 0 : 1))
                    pending.append((sql, StatementArguments(values)))
                    if pending.count >= batch { try flush() }
                }
                try flush()
                return copied
            }
            report.deadLetters += try copyReadable(
                "dead_letters", columns: ["id", "at", "status", "message", "line"], keepIDs: true, batch: 1000)
            report.corruptRowsKept += try copyReadable(
                "corrupt",
                columns: [
                    "id", "batch_id", "spooled_at", "points", "precision", "checksum", "payload", "reason", "found_at",
                ],
                keepIDs: false, batch: 256)
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
