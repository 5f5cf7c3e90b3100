import Foundation

/// Reading a checker file: parsed, its source defined, its query naming the columns checks read.
extension DwmonRunner {
    /// Parses a checker file and checks that its source is defined.
    public static func load(_ text: String, path: String, name: String, sources: [String: DwmonSettings.Source])
        -> Result<DwmonFile, DwmonProblems>
    {
        switch DwmonFile.parse(text, file: path, name: name) {
        case .failure(let problems): return .failure(problems)
        case .success(let file):
            guard sources[file.source] != nil else {
                let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
                let line =
                    (lines.firstIndex { $0.trimmingWhitespace == file.source && $0.trimmingWhitespace != "" } ?? 0) + 1
                let defined = sources.keys.sorted().joined(separator: ", ")
                return .failure(
                    DwmonProblems(problems: [
                        DwmonFile.Problem(
                            file: path, line: line,
                            message:
                                "__SOURCE__ names \"\(file.source)\", which the plugin's sources do not define (defined: \(defined.isEmpty ? "none" : defined))"
                        )
                    ]))
            }
            if let problem = missingColumns(file, text: text, path: path, source: sources[file.source]) {
                return .failure(DwmonProblems(problems: [problem]))
            }
            return .success(file)
        }
    }

    /// A SQL query (`sqlite` and `postgres` sources) must name both columns the checks read, as the
    /// original dwmon requires: without them every run would fail, so the file is refused at
    /// `gateway check` and at start instead. (`command` and `http` sources answer key,timestamp lines
    /// whatever their query says.)
    static func missingColumns(
        _ file: DwmonFile, text: String, path: String, source: DwmonSettings.Source?
    ) -> DwmonFile.Problem? {
        switch source?.kind {
        case .sqlite?, .postgres?: break
        default: return nil
        }
        let query = file.query.lowercased()
        let missing = ["dwmon_unique_key", "dwmon_timestamp"].filter { !query.contains($0) }
        guard !missing.isEmpty else { return nil }
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        let line = (lines.firstIndex { $0.trimmingWhitespace == "__QUERY__" } ?? 0) + 1
        return DwmonFile.Problem(
            file: path, line: line,
            message:
                "the query does not name \(missing.joined(separator: " and ")): it must return the columns dwmon_unique_key and dwmon_timestamp (e.g. SELECT id AS dwmon_unique_key, created AS dwmon_timestamp ...)"
        )
    }
}
