/// Which file names are jobs: uuids (the default: 8-4-4-4-12 hexadecimal digits, matched in any
/// case, a job known by the lower-case form) or, with `id_pattern`, names the whole of which match
/// a regular expression (taken as written: case counts).
public struct JobdirIDRule: @unchecked Sendable {  // The compiled Regex is immutable once built.
    /// `uuid`, or the regular expression as configured.
    public let pattern: String
    private let regex: Regex<AnyRegexOutput>?

    public static let uuid = JobdirIDRule(pattern: "uuid", regex: nil)

    private init(pattern: String, regex: Regex<AnyRegexOutput>?) {
        self.pattern = pattern
        self.regex = regex
    }

    /// `uuid`, or a regular expression (Swift `Regex` syntax, as in PCRE) that a job's whole name
    /// must match; throws the compiler's reason.
    public init(_ pattern: String) throws {
        if pattern == "uuid" {
            self.init(pattern: pattern, regex: nil)
        } else {
            self.init(pattern: pattern, regex: try Regex(pattern))
        }
    }

    /// Whether `name` (a file name without its suffix, or an id given to the API) is a job's id.
    /// Whatever the pattern, an id is 1 to 255 bytes without `/`, and not `.` or `..`.
    public func matches(_ name: Substring) -> Bool {
        guard let regex else { return JobdirScanner.isUUID(name) }
        guard !name.isEmpty, name.utf8.count <= 255, !name.contains("/"), name != ".", name != ".." else {
            return false
        }
        return (try? regex.wholeMatch(in: name)) != nil
    }

    /// The id a job is known by: the lower-case uuid, or the name as written.
    public func key(_ name: Substring) -> String { regex == nil ? name.lowercased() : String(name) }

    /// What an id looks like, for error messages.
    public var expected: String {
        regex == nil ? "8-4-4-4-12 hexadecimal digits" : "a name matching the id_pattern \(pattern)"
    }
}
