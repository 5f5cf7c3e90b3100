/// The `jobdir` plugin's answers: its status and its API under `/api/v1/<name>/`.
struct JobdirStatus: PluginStatus {
    var type: String
    var storageRoot: String
    var deferredStorageRoot: String
    var state: String
    /// Jobs per state.
    var jobs: [String: Int]?
    var waitingForProcessor: Int?
    /// How long the oldest job still queued (not claimed) has waited; absent when none waits.
    var oldestWaitingSeconds: Double?
    var processorsLive: [String]?
    var processorsDead: [String]?
    var lastScan: JobdirScanAnswer?
    var lastCleanup: JobdirCleanupAnswer?

    enum CodingKeys: String, CodingKey {
        case type, state, jobs
        case storageRoot = "storage_root"
        case deferredStorageRoot = "deferred_storage_root"
        case waitingForProcessor = "waiting_for_processor"
        case oldestWaitingSeconds = "oldest_waiting_seconds"
        case processorsLive = "processors_live"
        case processorsDead = "processors_dead"
        case lastScan = "last_scan"
        case lastCleanup = "last_cleanup"
    }
}

/// A scan's report (`POST .../scan`, and `last_scan` in the status).
struct JobdirScanAnswer: Codable, Sendable {
    var at: Double
    var seconds: Double
    var files: Int
    var directories: Int
    var pairs: Int
    var queued: Int
    var unassigned: Int
    var incomplete: Int
    var ignored: Int
    var errors: [String]
    var linksRemoved: Int
    var foldersRemoved: Int

    enum CodingKeys: String, CodingKey {
        case at, seconds, files, directories, pairs, queued, unassigned, incomplete, ignored, errors
        case linksRemoved = "links_removed"
        case foldersRemoved = "folders_removed"
    }

    init(_ scan: JobdirPlugin.ScanReport) {
        at = scan.at
        seconds = scan.seconds
        files = scan.files
        directories = scan.directories
        pairs = scan.pairs
        queued = scan.queued
        unassigned = scan.unassigned
        incomplete = scan.incomplete
        ignored = scan.ignored
        errors = scan.errors
        linksRemoved = scan.linksRemoved
        foldersRemoved = scan.foldersRemoved
    }
}

/// A cleanup's report (`POST .../cleanup`, and `last_cleanup` in the status).
struct JobdirCleanupAnswer: Codable, Sendable {
    var at: Double
    var moved: Int
    var deleted: Int
    var failed: [String]
    var missing: [String]
    var linksRemoved: Int
    var foldersRemoved: Int
    var tidyErrors: [String]

    init(_ cleanup: JobdirPlugin.CleanupReport) {
        at = cleanup.at
        moved = cleanup.moved
        deleted = cleanup.deleted
        failed = cleanup.failed
        missing = cleanup.missing
        linksRemoved = cleanup.linksRemoved
        foldersRemoved = cleanup.foldersRemoved
        tidyErrors = cleanup.tidyErrors
    }

    enum CodingKeys: String, CodingKey {
        case at, moved, deleted, failed, missing
        case linksRemoved = "links_removed"
        case foldersRemoved = "folders_removed"
        case tidyErrors = "tidy_errors"
    }
}

/// A job as the API shows it; keys of what has not happened yet are left out.
struct JobdirJobAnswer: Codable, Sendable {
    var uuid: String
    var jsonPath: String
    var dumpPath: String
    var origin: String
    var state: String
    var priority: Bool
    var queuedAt: Double
    var processor: String?
    var assignedAt: Double?
    var claimedAt: Double?
    var finishedAt: Double?
    var success: Bool?
    var message: String?
    var cleanupAttempts: Int?
    var cleanupError: String?
    var cleanedAt: Double?
    var destination: String?
    /// `POST .../jobs/<uuid>/done` only: whether this report repeated one already taken.
    var repeated: Bool?

    init(_ job: JobdirJob, repeated: Bool? = nil) {
        uuid = job.uuid
        jsonPath = job.jsonPath
        dumpPath = job.dumpPath
        origin = job.origin.rawValue
        state = job.state.rawValue
        priority = job.priority
        queuedAt = job.queuedAt
        processor = job.processor
        assignedAt = job.assignedAt
        claimedAt = job.claimedAt
        finishedAt = job.finishedAt
        success = job.success
        message = job.message
        cleanupAttempts = job.cleanupAttempts > 0 ? job.cleanupAttempts : nil
        cleanupError = job.cleanupError
        cleanedAt = job.cleanedAt
        destination = job.destination
        self.repeated = repeated
    }

    enum CodingKeys: String, CodingKey {
        case uuid, origin, state, priority, processor, success, message, destination, repeated
        case jsonPath = "json_path"
        case dumpPath = "dump_path"
        case queuedAt = "queued_at"
        case assignedAt = "assigned_at"
        case claimedAt = "claimed_at"
        case finishedAt = "finished_at"
        case cleanupAttempts = "cleanup_attempts"
        case cleanupError = "cleanup_error"
        case cleanedAt = "cleaned_at"
    }
}

struct JobdirProcessorAnswer: Codable, Sendable {
    var name: String
    var registeredAt: Double
    var lastSeen: Double
    var alive: Bool
    var queued: Int
    var running: Int
    var diedAt: Double?

    init(_ processor: JobdirProcessor) {
        name = processor.name
        registeredAt = processor.registeredAt
        lastSeen = processor.lastSeen
        alive = processor.alive
        queued = processor.queued
        running = processor.running
        diedAt = processor.diedAt
    }

    enum CodingKeys: String, CodingKey {
        case name, alive, queued, running
        case registeredAt = "registered_at"
        case lastSeen = "last_seen"
        case diedAt = "died_at"
    }
}

/// `GET .../processors`.
struct JobdirProcessorsAnswer: Codable, Sendable {
    var processors: [JobdirProcessorAnswer]
    var checkInSeconds: Double
    var deadAfterSeconds: Double

    enum CodingKeys: String, CodingKey {
        case processors
        case checkInSeconds = "check_in_seconds"
        case deadAfterSeconds = "dead_after_seconds"
    }
}

/// `POST .../processors/<name>/check-in`.
struct JobdirCheckInAnswer: Codable, Sendable {
    var processor: String
    var registered: Bool
    var revived: Bool
    var assigned: Int
    var requeued: Int
    var checkInSeconds: Double
    var deadAfterSeconds: Double

    enum CodingKeys: String, CodingKey {
        case processor, registered, revived, assigned, requeued
        case checkInSeconds = "check_in_seconds"
        case deadAfterSeconds = "dead_after_seconds"
    }
}

/// `DELETE .../processors/<name>`.
struct JobdirRemovedAnswer: Codable, Sendable {
    var processor: String
    var requeued: Int
}

/// `POST .../priority`: `moved` or `queued` (with the processor, `null` when none is assigned yet,
/// and for `queued` the origin), or `running` (uuid and outcome only).
struct JobdirPriorityAnswer: Codable, Sendable {
    var uuid: String
    var outcome: String
    var origin: String?
    var processor: Nullable<String>?
}

/// `GET .../jobs`.
struct JobdirJobsAnswer: Codable, Sendable {
    var jobs: [JobdirJobAnswer]
}
