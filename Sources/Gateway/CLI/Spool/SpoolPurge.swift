import ArgumentParser
import Foundation
import Sinks

struct SpoolPurge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Delete every batch in a spool (through the running gateway if it holds the file).")

    @OptionGroup var selection: SpoolSelection

    func run() async throws {
        let config = try selection.loadConfig(required: false)
        let target = try selection.targets(config, single: true)[0]
        if SpoolSelection.isOwned(target.path) {
            let admin = try AdminClient(config: config, spoolPath: target.path)
            let result = try await admin.call(.POST, "/api/v1/spool/\(target.name)/purge")
            guard result.status == 200, let purged = result.decode(SpoolPurgeAnswer.self) else {
                printErr("gateway at \(admin.base) answered \(result.status): \(result.message)")
                throw ExitCode(1)
            }
            print("purged \(purged.batches) batches, \(purged.points) points (through the running gateway)")
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
