import Foundation
import Sinks
import Synchronization

/// The spools a running gateway owns, for `/api/v1/spool`, `/api/v1/status` and the
/// `gateway spool` commands that go through a running gateway.
final class SpoolAdmin: Sendable {
    struct Entry: Sendable {
        var sink: String
        var type: String
        var store: SpoolStore
        /// The sink that replays this spool; nil for an archive (`spool` sink).
        var replayer: (any SpoolReplayer)?
    }

    let entries: [Entry]

    init(entries: [Entry]) {
        self.entries = entries
    }

    func entry(_ sink: String) -> Entry? { entries.first { $0.sink == sink } }

    /// Tells `gateway spool` where to reach this gateway (the first HTTP listener to start).
    func recordAdminURL(_ url: String) {
        let host = url.replacingOccurrences(of: "http://0.0.0.0:", with: "http://127.0.0.1:")
            .replacingOccurrences(of: "http://[::]:", with: "http://[::1]:")
        if adminURLRecorded.exchange(true, ordering: .relaxed) { return }
        for entry in entries { entry.store.recordAdminURL(host) }
    }

    private let adminURLRecorded = Atomic<Bool>(false)

    /// Per sink: the spool's depth and health, as JSON-ready values.
    func describe() -> [String: [String: Any]] {
        var out: [String: [String: Any]] = [:]
        let now = SpoolStore.now()
        for entry in entries {
            var item: [String: Any] = ["type": entry.type, "path": entry.store.path]
            if let stats = try? entry.store.stats() {
                item["batches"] = stats.batches
                item["points"] = stats.points
                item["bytes"] = stats.bytes
                item["dead_letters"] = stats.deadLetters
                item["corrupt"] = stats.corrupt
                item["oldest_age_seconds"] = stats.oldestSpooledAt.map { Double(now - $0) / 1e9 } ?? 0
            }
            item["writable"] = entry.store.isWritable
            if let why = entry.store.writeError { item["write_error"] = why }
            if let salvage = entry.store.salvage {
                let salvaged: [String: Any] = [
                    "damaged_file": salvage.damagedPath, "reason": salvage.reason, "batches": salvage.batches,
                    "points": salvage.points, "corrupt_batches": salvage.corruptBatches,
                    "corrupt_points": salvage.corruptPoints, "lost_batches_at_most": salvage.lostBatchesAtMost,
                    "lost_points_known": salvage.lostPointsKnown, "dead_letters": salvage.deadLetters,
                ]
                item["salvaged"] = salvaged
            }
            if let replayer = entry.replayer {
                item["health"] = replayer.healthText
            } else {
                item["health"] = entry.store.writeError.map { "spool cannot write: \($0)" } ?? "healthy"
            }
            out[entry.sink] = item
        }
        return out
    }

    static func jsonText(_ object: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
