import ArgumentParser
import Foundation
import Sinks

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
