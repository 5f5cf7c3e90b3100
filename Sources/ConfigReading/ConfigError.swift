/// One problem in a configuration file: `FILE:LINE: key.path: message`.
public struct ConfigProblem: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int
    public var path: String
    public var message: String

    public init(file: String, line: Int, path: String, message: String) {
        self.file = file
        self.line = line
        self.path = path
        self.message = message
    }

    public var description: String {
        path.isEmpty ? "\(file):\(line): \(message)" : "\(file):\(line): \(path): \(message)"
    }
}

/// Every problem found while loading, so `gateway check` can print them all at once.
public struct ConfigErrors: Error, CustomStringConvertible, Sendable {
    public var problems: [ConfigProblem]

    public init(problems: [ConfigProblem]) { self.problems = problems }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Collects problems while a configuration is read.
public final class ProblemList {
    public private(set) var problems: [ConfigProblem] = []
    /// What is accepted but worth a look (`gateway check` prints these as `warning: ...`; they do
    /// not fail the check).
    public private(set) var warnings: [ConfigProblem] = []
    /// Offline commands (`gateway spool ...`) read the configuration for file paths only: an unset
    /// environment variable (a sink's URL or token) reads as empty, and what that value makes wrong
    /// is not a problem for them.
    public let tolerateUnsetVariables: Bool
    /// Key paths whose value came from an unset variable (offline only).
    public private(set) var unsetPaths: Set<String> = []

    public init(tolerateUnsetVariables: Bool = false) {
        self.tolerateUnsetVariables = tolerateUnsetVariables
    }

    public func add(_ problem: ConfigProblem) {
        if tolerateUnsetVariables, unsetPaths.contains(problem.path) { return }
        problems.append(problem)
    }

    public func warn(_ warning: ConfigProblem) { warnings.append(warning) }

    public func unset(at path: String) { unsetPaths.insert(path) }
}
