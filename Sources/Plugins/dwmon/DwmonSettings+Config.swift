import ConfigReading
import Foundation
import GatewayCore

extension DwmonSettings: PluginSettings {
    /// `type: dwmon` (see `plugins.d/dwmon.yaml`). Every `*.dwmon` file of `checkers_dir` is parsed
    /// too, so `gateway check` reports their problems as `FILE:LINE: token X: ...`.
    public static let factory = PluginFactory(type: "dwmon") { map, context in read(map, context) }

    public var paths: [(key: String, path: String)] {
        [("checkers_dir", checkersDir), ("state", statePath)]
            + sources.sorted { $0.key < $1.key }.compactMap { name, source in
                if case .sqlite(let path) = source.kind { return ("sources.\(name)", path) }
                return nil
            }
    }

    public func make(name: String, context: PluginContext) throws -> any GatewayPlugin {
        try DwmonPlugin(name: name, settings: self, context: context)
    }

    static func read(_ map: ConfigMap, _ context: ConfigContext) -> DwmonSettings {
        let directory = context.path(map["checkers_dir"]?.string() ?? "plugins.d")
        var s = DwmonSettings(checkersDir: directory, statePath: context.dataPath("dwmon/\(context.name).db"))
        if let zone = map["timezone"]?.timeZone() { s.timeZone = zone }
        if let v = map["state"]?.string() { s.statePath = context.path(v) }
        if let v = map["query_timeout"]?.positiveDuration() { s.queryTimeout = v }
        if let node = map["check_delay"], let v = node.duration() {
            if v < .zero || v >= .seconds(60) {
                node.problem("expected a duration from 0s to 59s (how long after a minute ends it is checked)")
            } else {
                s.checkDelay = v
            }
        }
        let fetchKinds = DwmonSettings.Fetch.allCases.map { ($0.rawValue, $0) }
        if let v = map["fetch"]?.oneOf(fetchKinds) { s.fetch = v }
        if let v = map["slow_query"]?.positiveDuration() { s.slowQuery = v }
        if let v = map["retention"]?.positiveDuration() { s.retention = v }
        if let v = map["max_rows"]?.positiveInt() { s.maxRows = v }
        for (sourceName, node) in map["sources"]?.entries() ?? [] {
            guard let source = node.map() else { continue }
            if let read = readSource(source, context) { s.sources[sourceName] = read }
            source.finish()
        }
        let checkerEntries = map["checkers"]?.entries() ?? []
        for (checker, node) in checkerEntries {
            guard let entry = node.map() else { continue }
            if let v = entry["retention"]?.positiveDuration() { s.checkerRetention[checker] = v }
            if let v = entry["fetch"]?.oneOf(fetchKinds) { s.checkerFetch[checker] = v }
            entry.finish()
        }
        if let webhook = map["webhook"]?.map() {
            s.webhook = readWebhook(webhook)
            webhook.finish()
        }
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue {
            (map["checkers_dir"] ?? map.node).problem("checkers_dir \(directory) is not a directory")
            return s
        }
        let names = checkCheckerFiles(in: directory, sources: s.sources, problems: context.problems)
        for (checker, node) in checkerEntries where !names.contains(checker) {
            node.problem("no checker file \(checker).dwmon in \(directory)")
        }
        return s
    }

    private static func readSource(_ source: ConfigMap, _ context: ConfigContext) -> Source? {
        let timeout = source["timeout"]?.positiveDuration()
        let types = ["sqlite", "postgres", "command", "http"].map { ($0, $0) }
        guard let type = source.required("type", what: "sqlite, postgres, command or http")?.oneOf(types) else {
            return nil
        }
        var kind: Source.Kind?
        switch type {
        case "sqlite":
            if let path = source.required("path", what: "the database file")?.string() {
                kind = .sqlite(path: context.path(path))
            }
        case "postgres":
            if let urlNode = source.required("url", what: "postgres://user:password@host:5432/database"),
                let url = urlNode.string()
            {
                if case .failure(let error) = validatePostgresURL(url) {
                    urlNode.problem(error.description)
                } else {
                    kind = .postgres(url: url)
                }
            }
        case "command":
            if let node = source.required("command", what: "the program and its arguments, as a list"),
                let argv = node.stringList()
            {
                if argv.isEmpty || argv[0].isEmpty {
                    node.problem(
                        "expected the program and its arguments, e.g. [\"/usr/local/bin/rows\", \"--since\", \"1h\"]")
                } else {
                    kind = .command(argv)
                }
            }
        default:
            let urlNode = source.required("url", what: "the base URL the checkers' queries are paths under")
            var headers: [String: String] = [:]
            for (header, value) in source["headers"]?.entries() ?? [] { headers[header] = value.string() }
            if let urlNode, let url = urlNode.string() {
                if url.hasPrefix("http://") || url.hasPrefix("https://") {
                    kind = .http(url: url, headers: headers)
                } else {
                    urlNode.problem("expected an http:// or https:// URL, got \"\(Redact.url(url))\"")
                }
            }
        }
        return kind.map { Source(kind: $0, timeout: timeout) }
    }

    private static func readWebhook(_ webhook: ConfigMap) -> Webhook? {
        guard let urlNode = webhook.required("url", what: "where BAD checks are POSTed"), let url = urlNode.string()
        else {
            return nil
        }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            urlNode.problem("expected an http:// or https:// URL, got \"\(Redact.url(url))\"")
            return nil
        }
        var w = Webhook(url: url)
        for (header, value) in webhook["headers"]?.entries() ?? [] { w.headers[header] = value.string() }
        if let v = webhook["timeout"]?.positiveDuration() { w.timeout = v }
        if let v = webhook["attempts"]?.positiveInt() { w.attempts = v }
        if let v = webhook["backoff"]?.positiveDuration() { w.backoff = v }
        if let v = webhook["queue_size"]?.positiveInt() { w.queueSize = v }
        return w
    }

    /// Parses every checker file of `directory`, adding their problems; returns the checker names.
    private static func checkCheckerFiles(
        in directory: String, sources: [String: Source], problems: ProblemList
    ) -> Set<String> {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".dwmon") }
        for file in files.sorted() {
            let path = "\(directory)/\(file)"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                problems.add(
                    ConfigProblem(
                        file: path, line: 0, path: "", message: "cannot read the checker file (or it is not UTF-8)"))
                continue
            }
            switch DwmonRunner.load(text, path: path, name: String(file.dropLast(6)), sources: sources) {
            case .failure(let found):
                for problem in found.problems {
                    problems.add(
                        ConfigProblem(file: problem.file, line: problem.line, path: "", message: problem.message))
                }
            case .success(let loaded):
                for warning in loaded.warnings {
                    problems.warn(
                        ConfigProblem(file: warning.file, line: warning.line, path: "", message: warning.message))
                }
            }
        }
        return Set(files.map { String($0.dropLast(6)) })
    }
}
