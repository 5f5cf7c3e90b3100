import Foundation

/// The `dwmon` plugin's settings (`plugins.d/dwmon.yaml`); defaults are the documented ones.
public struct DwmonSettings: Sendable {
    /// Where the `*.dwmon` checker files are (absolute, resolved by the config loader).
    public var checkersDir: String
    /// Hours, minutes and weekdays of requirement lines are evaluated in this zone.
    public var timeZone: TimeZone = .current
    /// The SQLite file holding seen keys, last-checked minutes and check results.
    public var statePath: String
    /// Data stores the checkers' `__SOURCE__` names, by name.
    public var sources: [String: Source] = [:]
    /// A query that runs longer is stopped and the run fails (the minutes stay due).
    public var queryTimeout: Duration = .seconds(30)
    /// Minute t is checked this long after it ends, so rows stamped up to t that reach the database a
    /// moment later are counted in t's check.
    public var checkDelay: Duration = .seconds(5)
    /// When a checker's query runs: only when one of its lines has a minute due (the original dwmon's
    /// cadence), or every minute.
    public var fetch: Fetch = .whenDue
    /// Per-checker `fetch`, by checker name.
    public var checkerFetch: [String: Fetch] = [:]
    /// A query that runs at least this long is logged with its duration.
    public var slowQuery: Duration = .seconds(5)
    /// Seen keys with timestamps older than this, and check results for older minutes, are purged.
    public var retention: Duration = .seconds(7 * 86_400)
    /// Per-checker retention, by checker name.
    public var checkerRetention: [String: Duration] = [:]
    /// Rows read from one query at most; more fail the run (a query without LIMIT over a big table).
    public var maxRows = 1_000_000
    public var webhook: Webhook?

    public init(checkersDir: String, statePath: String) {
        self.checkersDir = checkersDir
        self.statePath = statePath
    }

    public func retention(of checker: String) -> Duration { checkerRetention[checker] ?? retention }

    public func fetch(of checker: String) -> Fetch { checkerFetch[checker] ?? fetch }

    /// When a checker's query runs. Keys are stamped by the query's `dwmon_timestamp`; a checker that
    /// stamps them with the current time counts what it found at its due minutes with `when_due`,
    /// and what it found each minute with `every_minute`.
    public enum Fetch: String, Sendable, CaseIterable {
        /// Only at a run where one of the checker's lines has a minute to check (the original's).
        case whenDue = "when_due"
        /// At every run, so keys are stamped as they appear even between due minutes.
        case everyMinute = "every_minute"
    }

    public struct Source: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            /// A database file, opened read-only for each run.
            case sqlite(path: String)
            /// A connection URL: `postgres://user:password@host:port/database?sslmode=disable|prefer|require`.
            case postgres(url: String)
            /// A program (argv) that gets the query on standard input and in `DWMON_QUERY`, and prints
            /// `key,timestamp` lines.
            case command([String])
            /// A base URL; the checker's `__QUERY__` is a path (and query string) under it, or a whole
            /// URL. The answer is JSON rows.
            case http(url: String, headers: [String: String])
        }

        public var kind: Kind
        /// Overrides the plugin's `query_timeout` for this source.
        public var timeout: Duration?

        public init(kind: Kind, timeout: Duration? = nil) {
            self.kind = kind
            self.timeout = timeout
        }
    }

    /// Where BAD checks are POSTed, as JSON, with retries.
    public struct Webhook: Sendable {
        public var url: String
        public var headers: [String: String] = [:]
        public var timeout: Duration = .seconds(10)
        /// Tries per alert (the first included); network errors, 429 and 5xx are retried.
        public var attempts = 5
        /// First wait between tries; doubled each time, capped at a minute.
        public var backoff: Duration = .seconds(1)
        /// Alerts waiting for delivery at most; more are dropped (counted and logged).
        public var queueSize = 10_000

        public init(url: String) { self.url = url }
    }
}

extension DwmonSettings {
    /// Checks a `postgres://` URL as the `postgres` source reads it (for the config loader).
    public static func validatePostgresURL(_ url: String) -> Result<Void, DwmonSourceError> {
        PostgresSource.parse(url).map { _ in () }
    }
}
