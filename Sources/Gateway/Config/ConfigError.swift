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

    func add(_ problem: ConfigProblem) { problems.append(problem) }
}
