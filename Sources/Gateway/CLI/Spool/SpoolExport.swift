import ArgumentParser
import Foundation
import Sinks

struct SpoolExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a spool's batches (or its dead letters) as line protocol, oldest first.")

    @OptionGroup var selection: SpoolSelection
    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.") var output: String?
    @Flag(help: "Export the dead-letter table (lines the server refused) instead of the batches.") var deadLetters =
        false

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
                    out +=
                        "# status \(row.status): \(row.message.replacingOccurrences(of: "\n", with: " "))\n\(row.line)\n"
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
        printErr(
            "exported \(count) batches, \(lines) points from \(target.path)\(skipped > 0 ? "; \(skipped) corrupt batches skipped" : "")"
        )
        if skipped > 0 { throw ExitCode(1) }
    }
}
