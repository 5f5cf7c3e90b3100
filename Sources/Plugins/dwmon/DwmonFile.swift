import GatewayCore

/// A `.dwmon` checker file: a query, requirement lines, a source name and extra JSON, in four
/// sections in this order:
///
/// ```
/// __QUERY__
/// SELECT execution_id AS dwmon_unique_key, ts AS dwmon_timestamp FROM model_executions ...
/// __REQUIREMENTS__
/// CHECKHOURS0-23 CHECKMINUTES*/20 WEEKDAYS MINNUM5 MAXNUM20 LOOKBACKSECONDS180
/// __SOURCE__
/// warehouse
/// __EXTRA__
/// {"alert": "data-team@example.com"}
/// ```
public struct DwmonFile: Sendable, Equatable {
    public var name: String
    public var query: String
    public var requirements: [Requirement]
    public var source: String
    /// The `__EXTRA__` JSON text as written (handed to handlers); empty when the section is empty.
    public var extra: String
    /// What the original dwmon accepts but is ambiguous or ignored (a token given twice, an unknown
    /// word): `gateway check` prints these and the plugin logs them, and the file runs.
    public var warnings: [Problem] = []

    /// One requirement line.
    public struct Requirement: Sendable, Equatable {
        /// The line's number in the file: it names the requirement in points and alerts.
        public var line: Int
        public var hours: ClosedRange<Int>
        public var minutes: MinuteRule
        public var weekdays: Bool
        public var weekends: Bool
        public var minCount: Int
        public var maxCount: Int
        public var lookbackSeconds: Int
        /// The line as written (alerts quote it).
        public var text: String = ""

        /// Minutes of the look-back, rounded up; the backfill horizon is ten times that, at least 10
        /// and at most ``DwmonFile/maxHorizonMinutes`` (70 days, the horizon of a 7-day look-back).
        public var horizonMinutes: Int {
            min(DwmonFile.maxHorizonMinutes, max(10, 10 * ((lookbackSeconds + 59) / 60)))
        }

        public func matches(hour: Int, minute: Int, weekend: Bool) -> Bool {
            hours.contains(hour) && minutes.matches(minute) && (weekend ? weekends : weekdays)
        }
    }

    public enum MinuteRule: Sendable, Equatable {
        case range(ClosedRange<Int>)
        /// `*/N`: minutes where minute mod N = 0.
        case every(Int)

        public func matches(_ minute: Int) -> Bool {
            switch self {
            case .range(let r): return r.contains(minute)
            case .every(let n): return minute % n == 0
            }
        }
    }

    /// A problem in a file: where, which token, what is wrong.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { "\(file):\(line): \(message)" }
    }

    static let sections = ["__QUERY__", "__REQUIREMENTS__", "__SOURCE__", "__EXTRA__"]

    /// The longest look-back: 100 years. The original dwmon takes any positive number; this bound
    /// only keeps the window arithmetic far from overflow.
    public static let maxLookback = 3_153_600_000

    /// The catch-up (backfill) horizon is capped at 70 days, the horizon of a 7-day look-back: a new
    /// line with a 30-day look-back backfills 70 days, not 300, and a run never walks more minutes.
    public static let maxHorizonMinutes = 100_800

    /// Parses `text` (the contents of `file`); every problem found is returned, not just the first.
    public static func parse(_ text: String, file: String, name: String) -> Result<DwmonFile, DwmonProblems> {
        var problems: [Problem] = []
        func problem(_ line: Int, _ message: String) {
            problems.append(Problem(file: file, line: line, message: message))
        }

        // `\r\n` is one Character in Swift: splitting on "\n" alone would never split CRLF files.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
        // Section bodies: (line number, text) per section, in the required order.
        var bodies: [String: [(Int, String)]] = [:]
        var current: String?
        var seen: [String] = []
        for (index, raw) in lines.enumerated() {
            let number = index + 1
            let trimmed = raw.trimmingWhitespace
            if trimmed.hasPrefix("__"), trimmed.hasSuffix("__"), trimmed.count > 4 {
                guard let position = sections.firstIndex(of: trimmed) else {
                    problem(
                        number,
                        "unknown section \"\(trimmed)\" (expected \(sections.joined(separator: ", ")), in this order)")
                    current = nil
                    continue
                }
                if seen.contains(trimmed) {
                    problem(number, "section \(trimmed) appears twice")
                } else if let last = seen.last, let lastPosition = sections.firstIndex(of: last),
                    position < lastPosition
                {
                    problem(
                        number,
                        "section \(trimmed) comes after \(last); the order is \(sections.joined(separator: ", "))")
                }
                seen.append(trimmed)
                current = trimmed
                bodies[trimmed, default: []] = bodies[trimmed] ?? []
                continue
            }
            guard let current else {
                if !trimmed.isEmpty, !trimmed.hasPrefix("#") {
                    problem(number, "text before the first section (the file starts with __QUERY__)")
                }
                continue
            }
            bodies[current, default: []].append((number, raw))
        }
        for section in sections where bodies[section] == nil {
            problem(max(1, lines.count), "missing section \(section)")
        }

        let query = (bodies["__QUERY__"] ?? []).map(\.1).joined(separator: "\n").trimmingWhitespace
        if bodies["__QUERY__"] != nil, query.isEmpty {
            problem(seenLine(of: "__QUERY__", in: lines), "__QUERY__ is empty")
        }
        var requirements: [Requirement] = []
        var warnings: [Problem] = []
        var requirementLines = 0
        for (number, raw) in bodies["__REQUIREMENTS__"] ?? [] {
            let trimmed = raw.trimmingWhitespace
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            requirementLines += 1
            var lineWarnings: [String] = []
            switch parseRequirement(trimmed, line: number, warnings: &lineWarnings) {
            case .success(let requirement): requirements.append(requirement)
            case .failure(let errors):
                problems.append(contentsOf: errors.map { Problem(file: file, line: number, message: $0) })
            }
            warnings += lineWarnings.map { Problem(file: file, line: number, message: $0) }
        }
        if bodies["__REQUIREMENTS__"] != nil, requirementLines == 0 {
            problem(seenLine(of: "__REQUIREMENTS__", in: lines), "__REQUIREMENTS__ has no requirement line")
        }
        let sourceLines = (bodies["__SOURCE__"] ?? []).map { ($0.0, $0.1.trimmingWhitespace) }.filter {
            !$0.1.isEmpty && !$0.1.hasPrefix("#")
        }
        var source = ""
        if bodies["__SOURCE__"] != nil {
            if sourceLines.count != 1 {
                problem(
                    sourceLines.dropFirst().first?.0 ?? seenLine(of: "__SOURCE__", in: lines),
                    "__SOURCE__ must hold exactly one source name, found \(sourceLines.count)")
            }
            source = sourceLines.first?.1 ?? ""
        }
        let extra = (bodies["__EXTRA__"] ?? []).map(\.1).joined(separator: "\n").trimmingWhitespace
        if !extra.isEmpty {
            switch Result(catching: { () throws(JSONParseError) -> JSONValue in try JSONValue.parse(Array(extra.utf8)) }
            ) {
            case .success(.object): break
            case .success(let other):
                problem(seenLine(of: "__EXTRA__", in: lines), "__EXTRA__ must be a JSON object, got \(other.kindName)")
            case .failure(let error):
                problem(seenLine(of: "__EXTRA__", in: lines), "__EXTRA__ is not valid JSON: \(error)")
            }
        }
        if !problems.isEmpty { return .failure(DwmonProblems(problems: problems)) }
        return .success(
            DwmonFile(
                name: name, query: query, requirements: requirements, source: source, extra: extra, warnings: warnings))
    }

    static func seenLine(of section: String, in lines: [String]) -> Int {
        (lines.firstIndex { $0.trimmingWhitespace == section } ?? 0) + 1
    }

    /// One requirement line's tokens; each problem names its token. What the original dwmon accepts
    /// is accepted: a token given twice (the first wins, as the original's search finds the first)
    /// and an unknown word of capitals, digits and `-` (ignored, as the original ignores it) each add
    /// a warning naming the token.
    static func parseRequirement(_ text: String, line: Int, warnings: inout [String]) -> Result<
        Requirement, RequirementErrors
    > {
        var errors: [String] = []
        var hours: ClosedRange<Int>?
        var minutes: MinuteRule?
        var weekdays = false
        var weekends = false
        var minCount: Int?
        var maxCount: Int?
        var lookback: Int?
        // The first token of each kind as written, for the warning about a second one.
        var firsts: [String: Substring] = [:]
        func once<T>(_ value: T?, _ token: Substring, _ name: String) -> Bool {
            if value != nil {
                warnings.append(
                    "token \(token): \(name) given twice on one line; the first (\(firsts[name] ?? "")) is used, as the original dwmon does"
                )
            } else {
                firsts[name] = token
            }
            return value == nil
        }
        for token in text.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            if let rest = token.dropPrefix("CHECKHOURS") {
                guard let range = range(rest, within: 0...23) else {
                    errors.append("token \(token): expected CHECKHOURSa-b with 0 <= a <= b <= 23")
                    continue
                }
                if once(hours, token, "CHECKHOURS") { hours = range }
            } else if let rest = token.dropPrefix("CHECKMINUTES") {
                var rule: MinuteRule?
                if let n = rest.dropPrefix("*/") {
                    guard let step = Int(n), (1...58).contains(step) else {
                        errors.append("token \(token): expected CHECKMINUTES*/N with N from 1 to 58")
                        continue
                    }
                    rule = .every(step)
                } else if let r = range(rest, within: 0...59) {
                    rule = .range(r)
                } else {
                    errors.append("token \(token): expected CHECKMINUTESa-b with 0 <= a <= b <= 59, or CHECKMINUTES*/N")
                    continue
                }
                if once(minutes, token, "CHECKMINUTES") { minutes = rule }
            } else if token == "WEEKDAYS" {
                if weekdays { warnings.append("token \(token): given twice on one line (no effect)") }
                weekdays = true
            } else if token == "WEEKENDS" {
                if weekends { warnings.append("token \(token): given twice on one line (no effect)") }
                weekends = true
            } else if let rest = token.dropPrefix("MINNUM") {
                guard let n = Int(rest), n >= 0 else {
                    errors.append("token \(token): expected MINNUMn with n a whole number of at least 0")
                    continue
                }
                if once(minCount, token, "MINNUM") { minCount = n }
            } else if let rest = token.dropPrefix("MAXNUM") {
                guard let n = Int(rest), n >= 0 else {
                    errors.append("token \(token): expected MAXNUMn with n a whole number of at least 0")
                    continue
                }
                if once(maxCount, token, "MAXNUM") { maxCount = n }
            } else if let rest = token.dropPrefix("LOOKBACKSECONDS") {
                guard let n = Int(rest), n > 0, n <= Self.maxLookback else {
                    errors.append(
                        "token \(token): expected LOOKBACKSECONDSn with n from 1 to \(Self.maxLookback) (100 years)")
                    continue
                }
                if once(lookback, token, "LOOKBACKSECONDS") { lookback = n }
            } else if token.allSatisfy({ ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }) {
                warnings.append(
                    "token \(token): unknown, ignored as the original dwmon ignores it (expected CHECKHOURSa-b, CHECKMINUTESa-b or CHECKMINUTES*/N, WEEKDAYS, WEEKENDS, MINNUMn, MAXNUMn, LOOKBACKSECONDSn)"
                )
            } else {
                errors.append(
                    "token \(token): unknown (expected CHECKHOURSa-b, CHECKMINUTESa-b or CHECKMINUTES*/N, WEEKDAYS, WEEKENDS, MINNUMn, MAXNUMn, LOOKBACKSECONDSn)"
                )
            }
        }
        if hours == nil { errors.append("missing token CHECKHOURSa-b") }
        if minutes == nil { errors.append("missing token CHECKMINUTESa-b or CHECKMINUTES*/N") }
        if !weekdays && !weekends { errors.append("missing token WEEKDAYS or WEEKENDS (at least one)") }
        if minCount == nil { errors.append("missing token MINNUMn") }
        if maxCount == nil { errors.append("missing token MAXNUMn") }
        if lookback == nil { errors.append("missing token LOOKBACKSECONDSn") }
        if let minCount, let maxCount, minCount > maxCount {
            errors.append("tokens MINNUM\(minCount) MAXNUM\(maxCount): MINNUM must not exceed MAXNUM")
        }
        guard errors.isEmpty, let hours, let minutes, let minCount, let maxCount, let lookback else {
            return .failure(RequirementErrors(messages: errors))
        }
        return .success(
            Requirement(
                line: line, hours: hours, minutes: minutes, weekdays: weekdays, weekends: weekends, minCount: minCount,
                maxCount: maxCount, lookbackSeconds: lookback, text: text))
    }

    /// ``parseRequirement(_:line:warnings:)`` without its warnings.
    static func parseRequirement(_ text: String, line: Int) -> Result<Requirement, RequirementErrors> {
        var warnings: [String] = []
        return parseRequirement(text, line: line, warnings: &warnings)
    }

    /// `a-b` within `bounds`, a <= b.
    static func range(_ text: Substring, within bounds: ClosedRange<Int>) -> ClosedRange<Int>? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), bounds.contains(a), bounds.contains(b),
            a <= b
        else { return nil }
        return a...b
    }
}

struct RequirementErrors: Error {
    var messages: [String]

    func map<T>(_ transform: (String) -> T) -> [T] { messages.map(transform) }
}

/// Every problem of one file.
public struct DwmonProblems: Error, Sendable, CustomStringConvertible {
    public var problems: [DwmonFile.Problem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

extension Substring {
    func dropPrefix(_ prefix: String) -> Substring? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
