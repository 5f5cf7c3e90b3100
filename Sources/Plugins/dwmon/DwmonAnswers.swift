import Foundation
import GatewayCore

/// The `dwmon` plugin's answers: its status, its API under `/api/v1/<name>/`, and the webhook body.
struct DwmonStatus: PluginStatus {
    var type: String
    var checkersDir: String
    var timezone: String
    var state: String
    var checkers: [String]
    var lastRuns: [String: RunSummary]
    /// Alerts queued and not yet delivered or given up (with a webhook).
    var webhookBacklog: Int?

    struct RunSummary: Codable, Sendable {
        var at: Int64
        var querySeconds: Double
        var rows: Int
        var newKeys: Int
        var checks: Int
        var bad: Int
        var error: String?

        enum CodingKeys: String, CodingKey {
            case at, rows, checks, bad, error
            case querySeconds = "query_seconds"
            case newKeys = "new_keys"
        }
    }

    enum CodingKeys: String, CodingKey {
        case type, timezone, state, checkers
        case checkersDir = "checkers_dir"
        case lastRuns = "last_runs"
        case webhookBacklog = "webhook_backlog"
    }
}

/// One check of one requirement line at one minute.
struct DwmonCheckAnswer: Codable, Sendable {
    var checker: String
    var requirement: Int
    var status: String
    var minuteEpoch: Int64
    /// The minute in ISO 8601 (UTC).
    var minute: String
    /// The minute in the plugin's time zone, with its offset (the original's `minute_local_time`).
    var minuteLocalTime: String
    var eventCount: Int
    var minRequired: Int
    var maxAllowed: Int
    var lookbackSeconds: Int
    var checkedAt: Int64

    init(_ check: DwmonCheck, zone: TimeZone) {
        checker = check.checker
        requirement = check.line
        status = check.status.rawValue
        minuteEpoch = check.minute
        minute = ISO8601.format(seconds: check.minute)
        minuteLocalTime = ISO8601.format(
            seconds: check.minute,
            offsetSeconds: zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(check.minute))))
        eventCount = check.count
        minRequired = check.minCount
        maxAllowed = check.maxCount
        lookbackSeconds = check.lookbackSeconds
        checkedAt = check.checkedAt
    }

    enum CodingKeys: String, CodingKey {
        case checker, requirement, status, minute
        case minuteEpoch = "minute_epoch"
        case minuteLocalTime = "minute_local_time"
        case eventCount = "event_count"
        case minRequired = "min_required"
        case maxAllowed = "max_allowed"
        case lookbackSeconds = "lookback_seconds"
        case checkedAt = "checked_at"
    }
}

/// `GET .../checks` and `GET .../checkers/<name>/checks`.
struct DwmonChecksAnswer: Codable, Sendable {
    var checks: [DwmonCheckAnswer]
}

/// A checker run's report (`POST .../checkers/<name>/run`, and `last_run` in `GET .../checkers`).
struct DwmonRunAnswer: Codable, Sendable {
    var checker: String
    var at: Int64
    var querySeconds: Double
    var rows: Int
    var badRows: Int
    var newKeys: Int
    var purgedKeys: Int
    var checks: [DwmonCheckAnswer]
    var error: String?

    init(_ report: DwmonRunner.RunReport, zone: TimeZone) {
        checker = report.checker
        at = report.at
        querySeconds = report.querySeconds
        rows = report.rows
        badRows = report.badRows
        newKeys = report.newKeys
        purgedKeys = report.purgedKeys
        checks = report.checks.map { DwmonCheckAnswer($0, zone: zone) }
        error = report.error
    }

    enum CodingKeys: String, CodingKey {
        case checker, at, rows, checks, error
        case querySeconds = "query_seconds"
        case badRows = "bad_rows"
        case newKeys = "new_keys"
        case purgedKeys = "purged_keys"
    }
}

/// `GET .../checkers`.
struct DwmonCheckersAnswer: Codable, Sendable {
    var checkers: [Checker]

    struct Checker: Codable, Sendable {
        var name: String
        var source: String
        var requirements: [Requirement]
        var lastRun: DwmonRunAnswer?

        enum CodingKeys: String, CodingKey {
            case name, source, requirements
            case lastRun = "last_run"
        }
    }

    struct Requirement: Codable, Sendable {
        var line: Int
        var text: String
    }
}

/// What an alert carries: the check, the requirement line as written, and the file's `__EXTRA__`.
struct DwmonWebhookBody: Encodable, Sendable {
    var check: DwmonCheckAnswer
    var requirementText: String
    var source: String
    var extra: EncodableJSON

    enum CodingKeys: String, CodingKey {
        case checker, status, requirement, minute, source, extra
        case requirementText = "requirement_text"
        case minuteEpoch = "minute_epoch"
        case minuteLocalTime = "minute_local_time"
        case eventCount = "event_count"
        case minRequired = "min_required"
        case maxAllowed = "max_allowed"
        case lookbackSeconds = "lookback_seconds"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(check.checker, forKey: .checker)
        try container.encode(check.status, forKey: .status)
        try container.encode(check.requirement, forKey: .requirement)
        try container.encode(requirementText, forKey: .requirementText)
        try container.encode(check.minuteEpoch, forKey: .minuteEpoch)
        try container.encode(check.minute, forKey: .minute)
        try container.encode(check.minuteLocalTime, forKey: .minuteLocalTime)
        try container.encode(check.eventCount, forKey: .eventCount)
        try container.encode(check.minRequired, forKey: .minRequired)
        try container.encode(check.maxAllowed, forKey: .maxAllowed)
        try container.encode(check.lookbackSeconds, forKey: .lookbackSeconds)
        try container.encode(source, forKey: .source)
        try container.encode(extra, forKey: .extra)
    }
}

/// A parsed JSON value written back as JSON (numbers as integers when they are, else doubles).
struct EncodableJSON: Encodable, Sendable {
    var value: JSONValue

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        switch value {
        case .object(let members):
            var container = encoder.container(keyedBy: Key.self)
            for member in members {
                try container.encode(EncodableJSON(value: member.value), forKey: Key(stringValue: member.key))
            }
        case .array(let items):
            var container = encoder.unkeyedContainer()
            for item in items { try container.encode(EncodableJSON(value: item)) }
        case .string(let text):
            var container = encoder.singleValueContainer()
            try container.encode(text)
        case .number(let text):
            var container = encoder.singleValueContainer()
            if let integer = Int64(text) {
                try container.encode(integer)
            } else if let double = Double(text), double.isFinite {
                try container.encode(double)
            } else {
                try container.encodeNil()
            }
        case .bool(let flag):
            var container = encoder.singleValueContainer()
            try container.encode(flag)
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        }
    }
}
