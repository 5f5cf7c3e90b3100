/// One problem in a configuration file: `FILE:LINE: key.path: message`.
struct ConfigProblem: Error, CustomStringConvertible, Sendable, Equatable {
    var file: String
    var line: Int
    var path: String
    var message: String

    var description: String {
        path.isEmpty ? "\(file):\(line): \(message)" : "\(file):\(line): \(path): \(message)"
    }
}

/// Every problem found while loading, so `gateway check` can print them all at once.
struct ConfigErrors: Error, CustomStringConvertible, Sendable {
    var problems: [ConfigProblem]

    var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Collects problems while a configuration is read.
final class ProblemList {
    private(set) var problems: [ConfigProblem] = []
    /// Offline commands (`gateway spool ...`) read the configuration for file paths only: an unset
    /// environment variable (a sink's URL or token) reads as empty, and what that value makes wrong
    /// is not a problem for them.
    let tolerateUnsetVariables: Bool
    /// Key paths whose value came from an unset variable (offline only).
    private(set) var unsetPaths: Set<String> = []

    init(tolerateUnsetVariables: Bool = false) {
        self.tolerateUnsetVariables = tolerateUnsetVariables
    }

    func add(_ problem: ConfigProblem) {
        if tolerateUnsetVariables, unsetPaths.contains(problem.path) { return }
        problems.append(problem)
    }

    func unset(at path: String) { unsetPaths.insert(path) }
}
