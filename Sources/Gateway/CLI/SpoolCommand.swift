import ArgumentParser
import AsyncHTTPClient
import CoreMetrics
import Foundation
import GatewayCore
import Logging
import NIOCore
import NIOHTTP1
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
                throw ValidationError("no spool for sink \"\(sink)\" in \(self.config) (spools: \(known.isEmpty ? "none" : known))")
            }
            return [target]
        }
        if all.isEmpty { throw ValidationError("\(self.config) configures no spool (influx2 sinks with spool on, or spool sinks)") }
        if single, all.count > 1 {
            throw ValidationError("several spools are configured (\(all.map(\.name).joined(separator: ", "))): pick one with --sink")
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

/// Talks to a running gateway's admin API.
struct AdminClient {
    let base: String
    let token: String

    /// The admin URL the owner recorded in the spool's lock file; the configuration's first
    /// HTTP listener otherwise.
    init(config: GatewayConfig?, spoolPath: String) throws {
        let http = config?.listeners.lazy.compactMap { l -> HTTPListenerConfig? in
            l.settings as? HTTPListenerConfig
        }.first
        token = http?.token.value ?? ""
        if let recorded = FileLock.ownerAdminURL(path: spoolPath + ".lock") {
            base = recorded
            return
        }
        guard let http else {
            throw ValidationError(
                "the spool is held by a running gateway, and the configuration has no HTTP listener to reach it by: stop the gateway to work on the file offline")
        }
        let host = http.listen.host == "0.0.0.0" || http.listen.host.isEmpty ? "127.0.0.1" : http.listen.host
        base = "http://\(host.contains(":") ? "[\(host)]" : host):\(http.listen.port)"
    }

    func call(_ method: HTTPMethod, _ path: String) async throws -> (status: Int, body: [String: Any]) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if !token.isEmpty { request.headers.add(name: "Authorization", value: "Token \(token)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
        return (Int(response.status.code), object)
    }
}

func printErr(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

func formatAge(_ nanos: Int64?) -> String {
    guard let nanos else { return "-" }
    let seconds = Double(SpoolStore.now() - nanos) / 1e9
    if seconds < 120 { return String(format: "%.0fs", seconds) }
    if seconds < 7200 { return String(format: "%.0fm", seconds / 60) }
    return String(format: "%.1fh", seconds / 3600)
}

struct SpoolStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Batches, points, bytes, oldest age, dead letters and corrupt rows per spool.")

    @OptionGroup var selection: SpoolSelection
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let config = try selection.loadConfig(required: false)
        var rows: [[String: Any]] = []
        for target in try selection.targets(config, single: false) {
            var row: [String: Any] = ["sink": target.name, "path": target.path]
            if !FileManager.default.fileExists(atPath: target.path) {
                row["missing"] = true
                rows.append(row)
                continue
            }
            let stats = try SpoolSelection.openReading(target).stats()
            row["batches"] = stats.batches
            row["points"] = stats.points
            row["bytes"] = stats.bytes
            row["oldest_age"] = formatAge(stats.oldestSpooledAt)
            row["dead_letters"] = stats.deadLetters
            row["corrupt"] = stats.corrupt
            row["owned_by_running_gateway"] = SpoolSelection.isOwned(target.path)
            rows.append(row)
        }
        if json {
            print(SpoolAdmin.jsonText(["spools": rows]))
            return
        }
        print("SINK\tBATCHES\tPOINTS\tBYTES\tOLDEST\tDEAD_LETTERS\tCORRUPT\tPATH")
        for row in rows {
            if row["missing"] != nil {
                print("\(row["sink"]!)\t-\t-\t-\t-\t-\t-\t\(row["path"]!) (no file yet)")
                continue
            }
            print(
                "\(row["sink"]!)\t\(row["batches"]!)\t\(row["points"]!)\t\(row["bytes"]!)\t\(row["oldest_age"]!)\t"
                    + "\(row["dead_letters"]!)\t\(row["corrupt"]!)\t\(row["path"]!)")
        }
    }
}

struct SpoolReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Send a spool's backlog to its Influx sink now, oldest first, showing progress.",
        discussion: """
            With a running gateway holding the spool, asks it to replay at once (skipping its backoff) and \
            follows the progress. Without one, replays the file itself with the sink's settings from the \
            configuration. Exits 1 if the sink refuses or stops answering.
            """)

    @OptionGroup var selection: SpoolSelection
    @Option(help: "Give up when no progress is made for this many seconds.") var stallTimeout: Int = 60

    func run() async throws {
        let config = try selection.loadConfig(required: true)
        let target = try selection.targets(config, single: true)[0]
        guard let influx = target.sink?.settings as? Influx2Settings else {
            throw ValidationError("sink \"\(target.name)\" is not an influx2 sink: an archive spool is read with `gateway spool export`")
        }
        if SpoolSelection.isOwned(target.path) {
            try await replayThroughGateway(config: config, sink: target.name, path: target.path)
        } else {
            // The configuration was read without the sinks' secrets; sending needs them.
            if influx.target.url.isEmpty {
                throw ValidationError(
                    "sink \"\(target.name)\" has no URL (is the environment variable its url comes from set?)")
            }
            try await replayOffline(target: target, influx: influx)
        }
    }

    func replayThroughGateway(config: GatewayConfig?, sink: String, path: String) async throws {
        let admin = try AdminClient(config: config, spoolPath: path)
        let started = try await admin.call(.POST, "/api/v1/spool/\(sink)/replay")
        guard started.status == 202 else {
            printErr("gateway at \(admin.base) answered \(started.status): \(started.body["message"] ?? started.body)")
            throw ExitCode(1)
        }
        let total = started.body["points"] as? Int ?? 0
        printErr("replay requested from the running gateway at \(admin.base): \(total) points spooled")
        var last = total
        var lastProgress = Date()
        // New batches may enter the spool meanwhile: progress counts what left it, against what is there now.
        var replayed = 0
        while true {
            let stats = try await admin.call(.GET, "/api/v1/spool")
            let entry = (stats.body["sinks"] as? [String: Any])?[sink] as? [String: Any] ?? [:]
            let left = entry["points"] as? Int ?? 0
            let health = entry["health"] as? String ?? "?"
            replayed += max(0, last - left)
            printErr("replayed \(replayed) points, \(left) left in the spool (\(health))")
            if left == 0 { return }
            if left < last {
                lastProgress = Date()
            } else if Date().timeIntervalSince(lastProgress) > Double(stallTimeout) || health.hasPrefix("refused") {
                printErr("replay is not progressing: \(health)")
                throw ExitCode(1)
            }
            last = left
            try await Task.sleep(for: .seconds(1))
        }
    }

    func replayOffline(target: SpoolSelection.Target, influx: Influx2Settings) async throws {
        let logger = SpoolSelection.logger
        let store = try SpoolStore(path: target.path, options: influx.spool.options, logger: logger)
        let factory = NOOPMetricsHandler.instance
        let sink = InfluxSink(
            name: target.name,
            configuration: .init(
                target: influx.target, precision: influx.precision, retry: influx.retry, maxInFlight: influx.maxInFlight),
            spool: store, metrics: SinkMetrics(sink: target.name, factory: factory),
            delivery: DeliveryMetrics(sink: target.name, factory: factory), logger: logger)
        let total = store.pointCount
        printErr("replaying \(total) points (\(store.batchCount) batches) from \(target.path) to \(Redact.url(influx.target.url))")
        var lastReport = Date.distantPast
        var lastProgress = Date()
        var last = total
        while !store.isEmpty {
            // Short passes (max_in_flight batches on the wire at once), so progress is reported.
            if let delay = await sink.replay(maxBatches: 8 * influx.maxInFlight) {
                if case .refused(let why) = sink.health {
                    printErr("Influx refuses the writes: \(why); \(store.pointCount) points stay in the spool")
                    await sink.close()
                    throw ExitCode(1)
                }
                if Date().timeIntervalSince(lastProgress) > Double(stallTimeout) {
                    printErr("no progress for \(stallTimeout)s: \(sink.health.text); \(store.pointCount) points stay in the spool")
                    await sink.close()
                    throw ExitCode(1)
                }
                try await Task.sleep(for: min(delay, .seconds(5)))
            }
            let left = store.pointCount
            if left < last {
                last = left
                lastProgress = Date()
            }
            if Date().timeIntervalSince(lastReport) >= 1 {
                printErr("replayed \(total - left)/\(total) points, \(left) left (\(sink.health.text))")
                lastReport = Date()
            }
        }
        printErr("replayed \(total)/\(total) points; spool empty")
        await sink.close()
    }
}

struct SpoolExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a spool's batches (or its dead letters) as line protocol, oldest first.")

    @OptionGroup var selection: SpoolSelection
    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.") var output: String?
    @Flag(help: "Export the dead-letter table (lines the server refused) instead of the batches.") var deadLetters = false

    func run() throws {
        let config = try selection.loadConfig(required: false)
        let target = try selection.targets(config, single: true)[0]
        let store = try SpoolSelection.openReading(target)
        let handle: FileHandle
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: nil) else {
                throw ValidationError("cannot create \(output)")
            }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        } else {
            handle = FileHandle.standardOutput
        }
        defer { try? handle.synchronize() }
        let stats = try store.stats()
        var lastReport = Date()
        var after: Int64 = 0
        var count = 0
        var lines = 0
        if deadLetters {
            while true {
                let rows = try store.deadLetters(after: after, limit: 1000)
                if rows.isEmpty { break }
                var out = ""
                for row in rows {
                    out += "# status \(row.status): \(row.message.replacingOccurrences(of: "\n", with: " "))\n\(row.line)\n"
                    after = row.id
                }
                handle.write(Data(out.utf8))
                count += rows.count
            }
            printErr("exported \(count) dead letters from \(target.path)")
            return
        }
        var skipped = 0
        while true {
            let rows = try store.batches(after: after, limit: 50)
            if rows.isEmpty { break }
            for row in rows {
                after = row.id
                guard let entry = row.entry, row.checksumOK, let raw = try? entry.payload.raw() else {
                    skipped += 1
                    printErr("batch \(row.id): checksum mismatch or unreadable; skipped")
                    continue
                }
                handle.write(Data(raw))
                count += 1
                lines += entry.payload.points
            }
            if Date().timeIntervalSince(lastReport) >= 1 {
                printErr("exported \(count)/\(stats.batches) batches (\(lines) points)")
                lastReport = Date()
            }
        }
        printErr("exported \(count) batches, \(lines) points from \(target.path)\(skipped > 0 ? "; \(skipped) corrupt batches skipped" : "")")
        if skipped > 0 { throw ExitCode(1) }
    }
}

struct SpoolPurge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge", abstract: "Delete every batch in a spool (through the running gateway if it holds the file).")

    @OptionGroup var selection: SpoolSelection

    func run() async throws {
        let config = try selection.loadConfig(required: false)
        let target = try selection.targets(config, single: true)[0]
        if SpoolSelection.isOwned(target.path) {
            let admin = try AdminClient(config: config, spoolPath: target.path)
            let result = try await admin.call(.POST, "/api/v1/spool/\(target.name)/purge")
            guard result.status == 200 else {
                printErr("gateway at \(admin.base) answered \(result.status): \(result.body["message"] ?? result.body)")
                throw ExitCode(1)
            }
            print("purged \(result.body["batches"] ?? 0) batches, \(result.body["points"] ?? 0) points (through the running gateway)")
            return
        }
        guard FileManager.default.fileExists(atPath: target.path) else {
            print("\(target.path): no spool file; nothing to purge")
            return
        }
        let store = try SpoolStore(path: target.path, logger: SpoolSelection.logger)
        let purged = try await store.purge()
        print("purged \(purged.batches) batches, \(purged.points) points from \(target.path)")
    }
}

struct SpoolCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Verify a spool: SQLite's integrity check, then every batch's checksum and contents.",
        discussion: """
            With --repair (the gateway stopped): a file that cannot be opened or fails SQLite's quick check \
            is set aside as <file>.damaged-<UTC time> and every row SQLite can still read is copied into a \
            fresh file at the same path, as the gateway does at start; prints what was salvaged and lost.
            """)

    @OptionGroup var selection: SpoolSelection
    @Flag(help: "Salvage a damaged file into a fresh one (offline: the gateway must not hold the file).")
    var repair = false

    func run() throws {
        let config = try selection.loadConfig(required: false)
        var failed = false
        for target in try selection.targets(config, single: false) {
            guard FileManager.default.fileExists(atPath: target.path) else {
                print("\(target.name): \(target.path): no spool file yet")
                continue
            }
            let store: SpoolStore
            do {
                store = try repair ? Self.openRepairing(target) : SpoolSelection.openReading(target)
            } catch {
                print("\(target.name): \(target.path): cannot open: \(error)")
                if !repair { print("\(target.name): \(Self.repairHint)") }
                failed = true
                continue
            }
            defer { store.close() }
            if let salvage = store.salvage {
                print("\(target.name): \(target.path): damaged (\(salvage.reason))")
                print("\(target.name): \(target.path): set aside as \(salvage.damagedPath)")
                print("\(target.name): \(target.path): repaired: \(salvage.text)")
                if salvage.error != nil { failed = true }
            } else if repair {
                print("\(target.name): \(target.path): SQLite quick check passed; nothing to salvage")
            }
            var lastReport = Date()
            let problems = try store.check { seen, total in
                if Date().timeIntervalSince(lastReport) >= 1 {
                    printErr("checked \(seen)/\(total) batches")
                    lastReport = Date()
                }
            }
            let stats = try store.stats()
            if problems.isEmpty {
                print("\(target.name): \(target.path): ok (\(stats.batches) batches, \(stats.points) points, \(stats.corrupt) corrupt rows kept aside)")
            } else {
                failed = true
                for problem in problems { print("\(target.name): \(target.path): \(problem)") }
                if !repair, problems.contains(where: { !$0.hasPrefix("batch ") }) {
                    print("\(target.name): \(Self.repairHint)")
                }
            }
        }
        if failed { throw ExitCode(1) }
    }

    static let repairHint = "run `gateway spool check --repair` with the gateway stopped to salvage it"

    /// Opens the file for writing, locked (a running gateway holding it is named and refused),
    /// salvaging it when it is damaged.
    static func openRepairing(_ target: SpoolSelection.Target) throws -> SpoolStore {
        let options = target.sink?.settings.spoolFile?.options ?? SpoolStore.Options()
        var logger = SpoolSelection.logger
        logger.logLevel = .critical  // the outcome is printed below
        return try SpoolStore(path: target.path, options: options, logger: logger)
    }
}
