/// The `proc` plugin's answers: its status, `/api/v1/<name>/...`, and the original resource-usage
/// server's paths, whose shapes (nulls included) its clients rely on.
struct ProcStatus: PluginStatus {
    var type: String
    /// The `host` tag the plugin sets itself; absent when its points carry the gateway's default.
    var host: String?
    /// This host's address (the `ip` tag, the key of the original monitor's paths).
    var ip: String
    var collect: Bool
    var serve: Bool
    var passes: Int
    var lastPass: LastPass?
    var error: String?
    var store: StoreCounts?
    /// Processes per alarm level.
    var alarms: [String: Int]?

    struct LastPass: Codable, Sendable {
        var processes: Int
        var reported: Int
        var filteredOut: Int
        var vanished: Int
        var durationMicroseconds: Double
        var microsecondsPerProcess: Double

        enum CodingKeys: String, CodingKey {
            case processes, reported, vanished
            case filteredOut = "filtered_out"
            case durationMicroseconds = "duration_us"
            case microsecondsPerProcess = "us_per_process"
        }
    }

    struct StoreCounts: Codable, Sendable {
        var series: Int
        var samples: Int
        var evictedSeries: Int
        var refusedFuture: Int

        enum CodingKeys: String, CodingKey {
            case series, samples
            case evictedSeries = "evicted_series"
            case refusedFuture = "refused_future"
        }
    }

    enum CodingKeys: String, CodingKey {
        case type, host, ip, collect, serve, passes, error, store, alarms
        case lastPass = "last_pass"
    }
}

/// `GET .../usage`: mean usage per process over the window.
struct ProcUsageAnswer: Codable, Sendable {
    var windowSeconds: Double
    @Nullable var host: String?
    var processes: [String: Mean]

    struct Mean: Codable, Sendable {
        var memPercent: JSONNumber
        var cpuPercent: JSONNumber
        var memSamples: Int
        var cpuSamples: Int
        var hosts: [String]

        enum CodingKeys: String, CodingKey {
            case hosts
            case memPercent = "mem_percent"
            case cpuPercent = "cpu_percent"
            case memSamples = "mem_samples"
            case cpuSamples = "cpu_samples"
        }
    }

    enum CodingKeys: String, CodingKey {
        case host, processes
        case windowSeconds = "window_seconds"
    }
}

/// `GET .../usage/detailed`: every sample kept in the window, per series.
struct ProcDetailedAnswer: Codable, Sendable {
    var windowSeconds: Double
    @Nullable var host: String?
    @Nullable var process: String?
    var series: [Series]

    struct Series: Codable, Sendable {
        var host: String
        var process: String
        var pid: String?
        var samples: [Sample]
    }

    struct Sample: Codable, Sendable {
        var time: Double
        var cpuPercent: JSONNumber
        var memPercent: JSONNumber
        @Nullable var rssBytes: Int64?
        @Nullable var threads: Int?

        enum CodingKeys: String, CodingKey {
            case time, threads
            case cpuPercent = "cpu_percent"
            case memPercent = "mem_percent"
            case rssBytes = "rss_bytes"
        }
    }

    enum CodingKeys: String, CodingKey {
        case host, process, series
        case windowSeconds = "window_seconds"
    }
}

/// `GET .../alarms`: each alarmed process with its metrics' trends.
struct ProcAlarmsAnswer: Codable, Sendable {
    var windowSeconds: Double
    var horizonSeconds: Double
    var thresholds: Thresholds
    var counts: [String: Int]
    var alarms: [Alarm]

    struct Thresholds: Codable, Sendable {
        var cpu: Double
        var mem: Double
    }

    struct Alarm: Codable, Sendable {
        var host: String
        var process: String
        var pid: String?
        var level: String
        @Nullable var cpu: Metric?
        @Nullable var mem: Metric?
    }

    struct Metric: Codable, Sendable {
        var level: String
        var latest: JSONNumber
        var latestTime: Double
        var threshold: Double
        var slopePerMinute: JSONNumber
        var projected: JSONNumber
        var samples: Int

        enum CodingKeys: String, CodingKey {
            case level, latest, threshold, projected, samples
            case latestTime = "latest_time"
            case slopePerMinute = "slope_per_minute"
        }
    }

    enum CodingKeys: String, CodingKey {
        case thresholds, counts, alarms
        case windowSeconds = "window_seconds"
        case horizonSeconds = "horizon_seconds"
    }
}

/// `PUT|POST /ressources-usage/save-all` when some values failed the gateway's schemas (422).
struct ProcLegacySaveRefusal: Codable, Sendable {
    var code: String
    var saved: Int
    var rejected: Int
    var message: String
}

/// `PUT|POST /ressources-usage/save-all` refused whole (400): the original's `{"Response": "NOk"}`
/// and what is wrong.
struct ProcLegacyRefusal: Codable, Sendable {
    var response: String
    var code: String
    var message: String

    enum CodingKeys: String, CodingKey {
        case response = "Response"
        case code, message
    }
}

/// `PUT|POST /ressources-usage/save-all` accepted: the original's `{"Response": "Ok"}`, and how many.
struct ProcLegacySaved: Codable, Sendable {
    var response: String
    var saved: Int

    enum CodingKeys: String, CodingKey {
        case response = "Response"
        case saved
    }
}

/// One entry of `/ressources-usage/query-alarm`: every key always present, `null` when unknown.
struct ProcLegacyAlarm: Codable, Sendable {
    var ip: String
    var process: String
    var status: String
    var mem: JSONNumber
    var cpu: JSONNumber
    @Nullable var memStatus: String?
    @Nullable var cpuStatus: String?

    enum CodingKeys: String, CodingKey {
        case ip, process, status, mem, cpu
        case memStatus = "mem_status"
        case cpuStatus = "cpu_status"
    }
}
