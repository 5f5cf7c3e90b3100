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
