import ArgumentParser
import Foundation
import Plugins
import Sinks

struct SpoolStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Batches, points, bytes, oldest age, dead letters and corrupt rows per spool.")

    @OptionGroup var selection: SpoolSelection
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let config = try selection.loadConfig(required: false)
        var rows: [Row] = []
        for target in try selection.targets(config, single: false) {
            var row = Row(sink: target.name, path: target.path)
            if !FileManager.default.fileExists(atPath: target.path) {
                row.missing = true
                rows.append(row)
                continue
            }
            let stats = try SpoolSelection.openReading(target).stats()
            row.batches = stats.batches
            row.points = stats.points
            row.bytes = stats.bytes
            row.oldestAge = formatAge(stats.oldestSpooledAt)
            row.deadLetters = stats.deadLetters
            row.corrupt = stats.corrupt
            row.ownedByRunningGateway = SpoolSelection.isOwned(target.path)
            rows.append(row)
        }
        if json {
            print(JSONBody.string(Table(spools: rows)))
            return
        }
        print("SINK\tBATCHES\tPOINTS\tBYTES\tOLDEST\tDEAD_LETTERS\tCORRUPT\tPATH")
        for row in rows {
            if row.missing == true {
                print("\(row.sink)\t-\t-\t-\t-\t-\t-\t\(row.path) (no file yet)")
                continue
            }
            print(
                "\(row.sink)\t\(row.batches ?? 0)\t\(row.points ?? 0)\t\(row.bytes ?? 0)\t\(row.oldestAge ?? "-")\t"
                    + "\(row.deadLetters ?? 0)\t\(row.corrupt ?? 0)\t\(row.path)")
        }
    }

    /// `--json`: `{"spools": [row, ...]}`; a spool whose file does not exist yet is `{"sink", "path", "missing": true}`.
    struct Table: Codable {
        var spools: [Row]
    }

    struct Row: Codable {
        var sink: String
        var path: String
        var missing: Bool?
        var batches: Int?
        var points: Int?
        var bytes: Int?
        var oldestAge: String?
        var deadLetters: Int?
        var corrupt: Int?
        var ownedByRunningGateway: Bool?

        enum CodingKeys: String, CodingKey {
            case sink, path, missing, batches, points, bytes, corrupt
            case oldestAge = "oldest_age"
            case deadLetters = "dead_letters"
            case ownedByRunningGateway = "owned_by_running_gateway"
        }
    }
}
