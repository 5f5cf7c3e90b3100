import Foundation

/// The `jobdir` plugin's settings (`plugins.d/jobdir.yaml`); defaults are the documented ones.
/// Paths are absolute (the config loader resolves them against gateway.yaml's folder).
public struct JobdirSettings: Sendable {
    /// Scanned at any depth for `<uuid><json_suffix>` + `<uuid><dump_suffix>` pairs.
    public var storageRoot: String
    /// Searched only when a priority request names a uuid that is not queued.
    public var deferredStorageRoot: String = ""
    /// Where the pairs of successful and failed jobs go, under a `YYYYMMDD/` folder; empty: deleted.
    public var successDir: String = ""
    public var failedDir: String = ""
    public var jsonSuffix = ".json"
    public var dumpSuffix = ".dump"
    /// Which file names (without the suffix) are jobs: uuids by default (`id_pattern: uuid`).
    public var idRule = JobdirIDRule.uuid
    public var scanInterval: Duration = .seconds(300)
    public var cleanupInterval: Duration = .seconds(300)
    /// How often processors' liveness is checked, dead processors' jobs requeued, waiting jobs
    /// assigned, and the `jobdir_jobs` points emitted.
    public var priorityInterval: Duration = .seconds(60)
    /// Processors are expected to check in this often; one not seen for twice this is dead.
    public var processorCheckIn: Duration = .seconds(300)
    /// A job running (claimed, not done) longer than this is requeued to any live processor; nil: never.
    public var jobTimeout: Duration?
    /// Finished jobs stay visible in `GET /jobs?state=cleaned` (and are not queued again) this long.
    public var historyRetention: Duration = .seconds(86_400)
    /// The SQLite file holding jobs, processors and history.
    public var statePath: String
    /// The `YYYYMMDD` folders of cleanup are dates in this zone.
    public var timeZone: TimeZone = .current

    public init(storageRoot: String, statePath: String) {
        self.storageRoot = storageRoot
        self.statePath = statePath
    }

    /// How long a processor may stay silent before it is dead.
    public var deadAfter: Duration { processorCheckIn * 2 }
}

extension Duration {
    /// Seconds as a Double (for epoch arithmetic).
    var asSeconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
