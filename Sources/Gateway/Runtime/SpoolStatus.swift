/// One spool as `/api/v1/spool` (and, without `health`, `/api/v1/status`) shows it.
struct SpoolStatus: Codable, Sendable, Equatable {
    var type: String
    var path: String
    var batches: Int?
    var points: Int?
    var bytes: Int?
    var deadLetters: Int?
    var corrupt: Int?
    var oldestAgeSeconds: Double?
    var writable: Bool
    /// Why the spool cannot write (disk full, I/O error), while it cannot.
    var writeError: String?
    /// What was salvaged when the file was found damaged at start.
    var salvaged: SalvageStatus?
    var health: String?

    enum CodingKeys: String, CodingKey {
        case type, path, batches, points, bytes, corrupt, writable, salvaged, health
        case deadLetters = "dead_letters"
        case oldestAgeSeconds = "oldest_age_seconds"
        case writeError = "write_error"
    }
}

struct SalvageStatus: Codable, Sendable, Equatable {
    var damagedFile: String
    var reason: String
    var batches: Int
    var points: Int
    var corruptBatches: Int
    var corruptPoints: Int
    var lostBatchesAtMost: Int
    var lostPointsKnown: Int
    var deadLetters: Int

    enum CodingKeys: String, CodingKey {
        case reason, batches, points
        case damagedFile = "damaged_file"
        case corruptBatches = "corrupt_batches"
        case corruptPoints = "corrupt_points"
        case lostBatchesAtMost = "lost_batches_at_most"
        case lostPointsKnown = "lost_points_known"
        case deadLetters = "dead_letters"
    }
}

/// `GET /api/v1/spool`: every spool the gateway owns, by sink.
struct SpoolList: Codable, Sendable {
    var sinks: [String: SpoolStatus]
}

/// `POST /api/v1/spool/<sink>/replay` (202): what the spool holds as the replay starts.
struct SpoolReplayAnswer: Codable, Sendable {
    var sink: String
    var batches: Int
    var points: Int
    var health: String
}

/// `POST /api/v1/spool/<sink>/purge`: what went.
struct SpoolPurgeAnswer: Codable, Sendable {
    var sink: String
    var batches: Int
    var points: Int
}
