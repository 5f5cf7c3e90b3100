import ArgumentParser
import Foundation
import Logging
import Sinks

/// `gateway spool stats | replay | export | purge | check`: works on the spool files offline,
/// or through the running gateway when one holds the file (replay and purge change it, so they
/// go through the owner; stats, export and check only read, which SQLite's WAL allows beside
/// a writer).
struct SpoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Inspect and drive the sinks' spools.",
        subcommands: [SpoolStats.self, SpoolReplay.self, SpoolExport.self, SpoolPurge.self, SpoolCheck.self])
}

/// Which spool files a command works on.
struct SpoolSelection: ParsableArguments {
    @Option(name: .shortAndLong, help: "The configuration file (names the sinks and their spool files).")
    var config: String = "gateway.yaml"

    @Option(help: "The sink whose spool to use (default: every spool in the configuration).")
    var sink: String?

    @Option(help: "A spool file to use directly, instead of a sink from the configuration.")
    var file: String?

    struct Target {
        var name: String
        var path: String
        var sink: SinkConfig?
    }

    /// The configuration, when there is one to read.
    func loadConfig(required: Bool) throws -> GatewayConfig? {
        if !required, file != nil, !FileManager.default.fileExists(atPath: config) { return nil }
        do {
            // Offline work needs the spool paths, not the sinks' secrets.
            return try ConfigLoader(offline: true).load(path: config)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    func targets(_ config: GatewayConfig?, single: Bool) throws -> [Target] {
        if let file {
            let sink = config?.sinks.first { $0.spoolPath.map(Self.canonical) == Self.canonical(file) }
            return [Target(name: sink?.name ?? file, path: file, sink: sink)]
        }
        let all = (config?.sinks ?? []).compactMap { s in s.spoolPath.map { Target(name: s.name, path: $0, sink: s) } }
        if let sink {
            guard let target = all.first(where: { $0.name == sink }) else {
                let known = all.map(\.name).joined(separator: ", ")
                throw ValidationError(
                    "no spool for sink \"\(sink)\" in \(self.config) (spools: \(known.isEmpty ? "none" : known))")
            }
            return [target]
        }
        if all.isEmpty {
            throw ValidationError(
                "\(self.config) configures no spool (network sinks with spool on, or spool sinks)")
        }
        if single, all.count > 1 {
            throw ValidationError(
                "several spools are configured (\(all.map(\.name).joined(separator: ", "))): pick one with --sink")
        }
        return all
    }

    static func canonical(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    static func isOwned(_ path: String) -> Bool { FileLock.isHeld(path: path + ".lock") }

    static func openReading(_ target: Target) throws -> SpoolStore {
        try SpoolStore(path: target.path, exclusive: false, readOnly: true, logger: Self.logger)
    }

    static var logger: Logger {
        var logger = Logger(label: "gateway.spool") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        return logger
    }
}
