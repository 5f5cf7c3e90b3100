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
        var replayer: (any NetworkSinkControl)?
    }

    private let current: Mutex<[Entry]>
    private let adminURL = Mutex<String?>(nil)

    init(entries: [Entry]) {
        current = Mutex(entries)
    }

    /// The spools of the sinks running now (a reload changes them).
    var entries: [Entry] { current.withLock { $0 } }

    /// A reload's spools: the admin URL already recorded is written into the new ones too.
    func replace(_ entries: [Entry]) {
        current.withLock { $0 = entries }
        if let url = adminURL.withLock({ $0 }) {
            for entry in entries { entry.store.recordAdminURL(url) }
        }
    }

    func entry(_ sink: String) -> Entry? { entries.first { $0.sink == sink } }

    /// Tells `gateway spool` where to reach this gateway (the first HTTP listener to start).
    func recordAdminURL(_ url: String) {
        let host = url.replacingOccurrences(of: "http://0.0.0.0:", with: "http://127.0.0.1:")
            .replacingOccurrences(of: "http://[::]:", with: "http://[::1]:")
        let first = adminURL.withLock { url in
            if url != nil { return false }
            url = host
            return true
        }
        guard first else { return }
        for entry in entries { entry.store.recordAdminURL(host) }
    }

    /// Per sink: the spool's depth and health.
    func describe() -> [String: SpoolStatus] {
        var out: [String: SpoolStatus] = [:]
        let now = SpoolStore.now()
        for entry in entries {
            let store = entry.store
            var item = SpoolStatus(type: entry.type, path: store.path, writable: store.isWritable)
            if let stats = try? store.stats() {
                item.batches = stats.batches
                item.points = stats.points
                item.bytes = stats.bytes
                item.deadLetters = stats.deadLetters
                item.corrupt = stats.corrupt
                item.oldestAgeSeconds = stats.oldestSpooledAt.map { Double(now - $0) / 1e9 } ?? 0
            }
            item.writeError = store.writeError
            if let salvage = store.salvage {
                item.salvaged = SalvageStatus(
                    damagedFile: salvage.damagedPath, reason: salvage.reason, batches: salvage.batches,
                    points: salvage.points, corruptBatches: salvage.corruptBatches,
                    corruptPoints: salvage.corruptPoints, lostBatchesAtMost: salvage.lostBatchesAtMost,
                    lostPointsKnown: salvage.lostPointsKnown, deadLetters: salvage.deadLetters)
            }
            if let replayer = entry.replayer {
                item.health = replayer.health.text
            } else {
                item.health = store.writeError.map { "spool cannot write: \($0)" } ?? "healthy"
            }
            out[entry.sink] = item
        }
        return out
    }
}
