import Foundation

/// What a component's reader gets besides its own mapping: its name, where relative paths start,
/// the data folder, and the problem list its reading adds to.
public struct ConfigContext {
    /// The key the component is defined under (`sinks.archive` → `archive`).
    public var name: String
    /// The folder every relative path in the configuration is resolved from: the folder of the main
    /// configuration file (`gateway.yaml`), whatever the working directory.
    public var base: String
    /// `gateway.data_dir`, absolute.
    public var dataDir: String
    public var problems: ProblemList
    public var environment: [String: String]

    public init(name: String, base: String, dataDir: String, problems: ProblemList, environment: [String: String]) {
        self.name = name
        self.base = base
        self.dataDir = dataDir
        self.problems = problems
        self.environment = environment
    }

    /// `text` made absolute against ``base`` (an absolute path stays as written, both normalised);
    /// empty stays empty.
    public func path(_ text: String) -> String {
        Self.resolve(text, base: base)
    }

    /// A path under ``dataDir`` (`dwmon/<name>.db`).
    public func dataPath(_ relative: String) -> String {
        "\(dataDir)/\(relative)"
    }

    public static func resolve(_ text: String, base: String) -> String {
        if text.isEmpty { return "" }
        let full = text.hasPrefix("/") ? text : "\(base)/\(text)"
        return URL(fileURLWithPath: full).standardizedFileURL.path
    }

    /// Parses another file (a plugin file) with the same problems and environment.
    public func parse(file: String) -> ConfigNode? {
        ConfigFile.parse(file: file, problems: problems, environment: environment)
    }
}

/// Settings that name files or folders, so `gateway check` can print where each one resolved.
public protocol NamesPaths {
    /// `(key, absolute path)` in the order the component's documentation lists them.
    var paths: [(key: String, path: String)] { get }
}
