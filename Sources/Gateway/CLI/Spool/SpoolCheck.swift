import ArgumentParser
import Foundation
import Sinks

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
                print(
                    "\(target.name): \(target.path): ok (\(stats.batches) batches, \(stats.points) points, \(stats.corrupt) corrupt rows kept aside)"
                )
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
        var options = SpoolStore.Options()
        if let file = target.sink?.settings.spoolFile { options = file.options }
        var logger = SpoolSelection.logger
        logger.logLevel = .critical  // the outcome is printed below
        return try SpoolStore(path: target.path, options: options, logger: logger)
    }
}
