import ArgumentParser
import CoreMetrics
import Foundation
import GatewayCore
import Logging
import NIOHTTP1
import Sinks

struct SpoolReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Send a spool's backlog to its network sink now, oldest first, showing progress.",
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
        guard let network = target.sink?.settings as? any NetworkSinkSettings else {
            throw ValidationError(
                "sink \"\(target.name)\" is not a network sink (influx2, prometheus_remote_write): an archive spool is read with `gateway spool export`"
            )
        }
        if SpoolSelection.isOwned(target.path) {
            try await replayThroughGateway(config: config, sink: target.name, path: target.path)
        } else {
            // The configuration was read without the sinks' secrets; sending needs them.
            if network.url.isEmpty {
                throw ValidationError(
                    "sink \"\(target.name)\" has no URL (is the environment variable its url comes from set?)")
            }
            try await replayOffline(target: target, settings: network)
        }
    }

    func replayThroughGateway(config: GatewayConfig?, sink: String, path: String) async throws {
        let admin = try AdminClient(config: config, spoolPath: path)
        let started = try await admin.call(.POST, "/api/v1/spool/\(sink)/replay")
        guard started.status == 202, let answer = started.decode(SpoolReplayAnswer.self) else {
            printErr("gateway at \(admin.base) answered \(started.status): \(started.message)")
            throw ExitCode(1)
        }
        let total = answer.points
        printErr("replay requested from the running gateway at \(admin.base): \(total) points spooled")
        var last = total
        var lastProgress = Date()
        // New batches may enter the spool meanwhile: progress counts what left it, against what is there now.
        var replayed = 0
        while true {
            let stats = try await admin.call(.GET, "/api/v1/spool")
            let entry = stats.decode(SpoolList.self)?.sinks[sink]
            let left = entry?.points ?? 0
            let health = entry?.health ?? "?"
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

    func replayOffline(target: SpoolSelection.Target, settings: any NetworkSinkSettings) async throws {
        let logger = SpoolSelection.logger
        let store = try SpoolStore(path: target.path, options: settings.spool.options, logger: logger)
        let sink = settings.offlineReplayer(name: target.name, store: store, logger: logger)
        let total = store.pointCount
        printErr(
            "replaying \(total) points (\(store.batchCount) batches) from \(target.path) to \(Redact.url(settings.url))"
        )
        var lastReport = Date.distantPast
        var lastProgress = Date()
        var last = total
        while !store.isEmpty {
            // Short passes (max_in_flight batches on the wire at once), so progress is reported.
            if let delay = await sink.replay(maxBatches: 8 * settings.maxInFlight) {
                if case .refused(let why) = sink.health {
                    printErr("the server refuses the writes: \(why); \(store.pointCount) points stay in the spool")
                    await sink.close()
                    throw ExitCode(1)
                }
                if Date().timeIntervalSince(lastProgress) > Double(stallTimeout) {
                    printErr(
                        "no progress for \(stallTimeout)s: \(sink.health.text); \(store.pointCount) points stay in the spool"
                    )
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
