import Foundation
import Yams

/// Reading YAML files into ``ConfigNode``s: a file that cannot be read or parsed is one problem
/// with its line, never an exception.
public enum ConfigFile {
    /// The file's root node; nil (and a problem) when it cannot be read or is not YAML.
    public static func parse(file: String, problems: ProblemList, environment: [String: String]) -> ConfigNode? {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            problems.add(
                ConfigProblem(
                    file: file, line: 0, path: "", message: "cannot read the file: \(error.localizedDescription)"))
            return nil
        }
        do {
            let node = try Yams.compose(yaml: text) ?? .mapping(.init([]))
            return ConfigNode(node: node, file: file, path: "", problems: problems, environment: environment)
        } catch let error as YamlError {
            problems.add(
                ConfigProblem(
                    file: file, line: line(of: error), path: "", message: "invalid YAML: \(summary(of: error))"))
            return nil
        } catch {
            problems.add(ConfigProblem(file: file, line: 0, path: "", message: "invalid YAML: \(error)"))
            return nil
        }
    }

    static func line(of error: YamlError) -> Int {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return mark.line
        default:
            return 0
        }
    }

    static func summary(of error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
            .composer(let context, let problem, _, _):
            return [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
        default:
            return "\(error)"
        }
    }

    /// The files matching a shell pattern, sorted; none when nothing matches.
    public static func glob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard Glibc.glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }
}
