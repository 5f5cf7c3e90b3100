import Foundation
import GRDB

/// Opens (creating it and its folder) a plugin's SQLite state file as a WAL pool: the API's reads go
/// on while the plugin writes. `synchronous`: NORMAL survives a kill -9, FULL also a power loss.
func openStateDatabase(path: String, label: String, synchronous: String, schema: String) throws -> DatabasePool {
    let directory = (path as NSString).deletingLastPathComponent
    if !directory.isEmpty {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }
    var config = Configuration()
    config.label = label
    config.busyMode = .timeout(10)
    config.journalMode = .wal
    config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
    let pool = try DatabasePool(path: path, configuration: config)
    try pool.write { db in try db.execute(sql: schema) }
    return pool
}
