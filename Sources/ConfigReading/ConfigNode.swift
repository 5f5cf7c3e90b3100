import Foundation
import GatewayCore
import Yams

/// A YAML node with where it came from, read strictly: every value is checked for its type, every
/// key a mapping does not know is reported, and each problem names file, line and key path.
public struct ConfigNode {
    public let node: Node
    public let file: String
    public let path: String
    public let problems: ProblemList
    public let environment: [String: String]

    public init(node: Node, file: String, path: String, problems: ProblemList, environment: [String: String]) {
        self.node = node
        self.file = file
        self.path = path
        self.problems = problems
        self.environment = environment
    }

    public var line: Int { node.mark?.line ?? 0 }

    public func problem(_ message: String, at path: String? = nil, line: Int? = nil) {
        problems.add(ConfigProblem(file: file, line: line ?? self.line, path: path ?? self.path, message: message))
    }

    public func child(_ node: Node, key: String) -> ConfigNode {
        ConfigNode(
            node: node, file: file, path: path.isEmpty ? key : "\(path).\(key)", problems: problems,
            environment: environment)
    }

    public func element(_ node: Node, index: Int) -> ConfigNode {
        ConfigNode(node: node, file: file, path: "\(path)[\(index)]", problems: problems, environment: environment)
    }

    public var isNull: Bool {
        if case .scalar(let s) = node, (s.style == .plain && (s.string == "" || s.string == "~" || s.string == "null"))
        {
            return true
        }
        return false
    }

    // MARK: Scalars

    /// The scalar's text with `${VAR}` expanded; nil (and a problem) when it is not a scalar.
    public func string() -> String? {
        guard case .scalar(let scalar) = node else {
            problem("expected a string, got \(kindName)")
            return nil
        }
        do {
            return try EnvironmentExpansion.expand(scalar.string, environment: environment)
        } catch {
            if problems.tolerateUnsetVariables {
                problems.unset(at: path)
                return ""
            }
            problem("environment variable \(error.name) is not set (write ${\(error.name):-default} for a default)")
            return nil
        }
    }

    public func int(min: Int? = nil) -> Int? {
        guard let text = string() else { return nil }
        guard let value = Int(text) else {
            problem("expected an integer, got \"\(text)\"")
            return nil
        }
        if let min, value < min {
            problem("expected an integer of at least \(min), got \(value)")
            return nil
        }
        return value
    }

    public func positiveInt() -> Int? {
        guard let text = string() else { return nil }
        guard let value = Int(text), value > 0 else {
            problem("expected a positive integer, got \"\(text)\"")
            return nil
        }
        return value
    }

    public func bool() -> Bool? {
        guard let text = string() else { return nil }
        switch text {
        case "true", "True", "TRUE", "yes", "on": return true
        case "false", "False", "FALSE", "no", "off": return false
        default:
            problem("expected true or false, got \"\(text)\"")
            return nil
        }
    }

    public func duration() -> Duration? {
        guard let text = string() else { return nil }
        guard let value = Units.duration(text) else {
            problem("expected a duration such as 500ms, 10s or 5m, got \"\(text)\"")
            return nil
        }
        return value
    }

    /// A duration above zero (intervals, timeouts, windows).
    /// `local` (or empty) for the machine's zone, or an IANA name.
    public func timeZone() -> TimeZone? {
        guard let text = string() else { return nil }
        if text == "local" || text.isEmpty { return .current }
        if let zone = TimeZone(identifier: text) { return zone }
        problem("unknown time zone \"\(text)\" (expected local or an IANA name such as Europe/Paris or UTC)")
        return nil
    }

    public func positiveDuration() -> Duration? {
        guard let value = duration() else { return nil }
        guard value > .zero else {
            problem("expected a duration above zero")
            return nil
        }
        return value
    }

    public func size() -> Int? {
        guard let text = string() else { return nil }
        guard let value = Units.size(text) else {
            problem("expected a size such as 512KiB, 32MiB or 1GiB, got \"\(text)\"")
            return nil
        }
        return value
    }

    public func hostPort() -> HostPort? {
        guard let text = string() else { return nil }
        guard let value = HostPort(text) else {
            problem("expected HOST:PORT such as 127.0.0.1:8089, got \"\(text)\"")
            return nil
        }
        return value
    }

    public func oneOf<T>(_ choices: [(String, T)]) -> T? {
        guard let text = string() else { return nil }
        if let match = choices.first(where: { $0.0 == text }) { return match.1 }
        problem("expected one of \(choices.map(\.0).joined(separator: ", ")), got \"\(text)\"")
        return nil
    }

    public func stringList() -> [String]? {
        if case .scalar = node, let single = string() { return [single] }
        guard let items = sequence() else { return nil }
        return items.compactMap { $0.string() }
    }

    // MARK: Collections

    public var kindName: String {
        switch node {
        case .scalar: return "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    public func sequence() -> [ConfigNode]? {
        if isNull { return [] }
        guard case .sequence(let seq) = node else {
            problem("expected a list, got \(kindName)")
            return nil
        }
        return seq.enumerated().map { element($0.element, index: $0.offset) }
    }

    /// The entries of a mapping in file order, keys checked for duplicates.
    public func entries() -> [(key: String, value: ConfigNode)]? {
        if isNull { return [] }
        guard case .mapping(let mapping) = node else {
            problem("expected a mapping, got \(kindName)")
            return nil
        }
        var seen = Set<String>()
        var out: [(key: String, value: ConfigNode)] = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                problem("keys must be plain strings", line: keyNode.mark?.line)
                continue
            }
            let key = keyScalar.string
            if !seen.insert(key).inserted {
                problem(
                    "key \"\(key)\" appears twice", at: path.isEmpty ? key : "\(path).\(key)", line: keyNode.mark?.line)
                continue
            }
            out.append((key, child(valueNode, key: key)))
        }
        return out
    }

    /// A mapping read key by key; ``finish()`` reports every key nobody asked for.
    public func map() -> ConfigMap? {
        guard let entries = entries() else { return nil }
        return ConfigMap(node: self, entries: entries)
    }
}

/// Strict access to a mapping's keys.
public final class ConfigMap {
    public let node: ConfigNode
    private let entries: [(key: String, value: ConfigNode)]
    private var used = Set<String>()

    public init(node: ConfigNode, entries: [(key: String, value: ConfigNode)]) {
        self.node = node
        self.entries = entries
    }

    public var keys: [String] { entries.map(\.key) }

    /// The value under `key`, marking it as known. Null values count as absent.
    public subscript(_ key: String) -> ConfigNode? {
        used.insert(key)
        guard let value = entries.first(where: { $0.key == key })?.value, !value.isNull else { return nil }
        return value
    }

    public func required(_ key: String, what: String) -> ConfigNode? {
        guard let value = self[key] else {
            node.problem("missing required key \"\(key)\" (\(what))")
            return nil
        }
        return value
    }

    /// Reports the keys that were never asked for, naming the ones that were expected.
    public func finish() {
        for (key, value) in entries where !used.contains(key) {
            let known = used.sorted().joined(separator: ", ")
            node.problem("unknown key \"\(key)\" (expected one of: \(known))", at: value.path, line: value.line)
        }
    }
}
