import GRDB

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
