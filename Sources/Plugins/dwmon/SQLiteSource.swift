import Foundation
import GRDB

/// An SQLite database file, opened read-only for each run (so it may appear later or be replaced).
struct SQLiteSource: DwmonSource {
    let path: String

    func fetch(query: String, timeout: Duration, maxRows: Int) async throws -> DwmonFetch {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DwmonSourceError.failed("sqlite source: database file \(path) does not exist")
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        configuration.label = "dwmon-source"
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw DwmonSourceError.failed("sqlite source: cannot open \(path): \(error)")
        }
        defer { try? queue.close() }
        do {
            return try await withDeadline(timeout, stop: { queue.interrupt() }) {
                try await onThreadUntilCancelled {
                    try queue.read { db in try Self.read(db, query: query, maxRows: maxRows) }
                }
            }
        } catch let error as DatabaseError {
            if error.resultCode == .SQLITE_INTERRUPT { throw DwmonSourceError.timeout(timeout) }
            throw DwmonSourceError.failed("sqlite source \(path): \(error.message ?? "\(error)")")
        }
    }

    static func read(_ db: Database, query: String, maxRows: Int) throws -> DwmonFetch {
        let statement = try db.makeStatement(sql: query)
        let columns = statement.columnNames
        guard let keyIndex = columns.firstIndex(of: "dwmon_unique_key"),
            let timeIndex = columns.firstIndex(of: "dwmon_timestamp")
        else {
            throw DwmonSourceError.failed(
                "the query's columns are \(columns); it must name them dwmon_unique_key and dwmon_timestamp (... AS dwmon_unique_key)"
            )
        }
        var fetch = DwmonFetch()
        let cursor = try Row.fetchCursor(statement)
        while let row = try cursor.next() {
            let keyValue: DatabaseValue = row[keyIndex]
            let timeValue: DatabaseValue = row[timeIndex]
            guard let key = DwmonValue.key(keyValue), let timestamp = DwmonValue.timestamp(timeValue) else {
                fetch.bad("dwmon_unique_key \(keyValue), dwmon_timestamp \(timeValue)")
                continue
            }
            try fetch.append(DwmonRow(key: key, timestamp: timestamp), maxRows: maxRows)
        }
        return fetch
    }
}
