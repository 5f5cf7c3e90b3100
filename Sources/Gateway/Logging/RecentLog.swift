import Foundation
import Logging
import Synchronization

/// The last warnings and errors the gateway logged, for the status page and `/api/v1/status`
/// (`recent_log`): a small ring filled by ``RecentLogHandler``, installed beside the other handlers.
final class RecentLog: Sendable {
    static let shared = RecentLog(capacity: 50)

    struct Entry: Codable, Sendable, Equatable {
        var time: String
        var level: String
        var message: String
        /// `key=value ...`, as the text log shows it.
        var metadata: String
    }

    let capacity: Int
    private let entries = Mutex<[Entry]>([])

    init(capacity: Int) { self.capacity = capacity }

    func append(_ entry: Entry) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeFirst(entries.count - capacity + 1) }
            entries.append(entry)
        }
    }

    /// Oldest first.
    var recent: [Entry] { entries.withLock { $0 } }
}

/// Keeps warnings and worse in a ``RecentLog``; everything else passes by.
struct RecentLogHandler: LogHandler {
    let log: RecentLog
    var logLevel: Logger.Level = .warning
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
        file: String, function: String, line: UInt
    ) {
        guard level >= .warning else { return }
        var all = metadata
        if let explicit { all.merge(explicit) { $1 } }
        log.append(
            .init(
                time: LogFormat.timestamp(Date()), level: level.rawValue,
                message: LogFormat.oneLine(message.description),
                metadata: LogFormat.metadataText(all)))
    }
}
