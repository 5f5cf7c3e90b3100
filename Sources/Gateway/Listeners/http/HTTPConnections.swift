import CoreMetrics
import Logging
import NIOCore
import Synchronization

/// The open connections of one HTTP listener, shared by its connection handlers (one per
/// connection, on any event loop) and its accept guard: counts them against `max_connections`
/// and knows which ones may be closed to make room.
///
/// A connection is *waiting* while it has no request in progress: it has not sent a complete
/// request head yet, or it is a kept-alive connection between requests. At the limit, a new
/// connection closes the connection that has been waiting longest (nginx reuses idle keep-alive
/// connections the same way), so idle and slow-header clients cannot lock out `/health` or a
/// writer; only when every connection has a request in progress is the new one closed at once.
final class HTTPConnections: Sendable {
    enum CloseReason: String, Sendable, CaseIterable {
        case readHeaderTimeout = "read_header_timeout"
        case bodyTimeout = "body_timeout"
        case idleTimeout = "idle_timeout"
        /// Closed to make room for a new connection (at the limit, or out of file descriptors).
        case evicted
        /// A new connection refused at the limit: every open one had a request in progress.
        case limit
        /// A new connection accepted and closed at once: out of file descriptors, none to free.
        case shed
    }

    private struct Entry {
        let channel: any Channel
        /// Order in which connections started waiting; nil while a request is in progress.
        var waitingSince: UInt64?
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var sequence: UInt64 = 0
    }

    private let state = Mutex(State())
    let maxConnections: Int
    let listener: String
    private let closed: [CloseReason: CoreMetrics.Counter]
    private let open: CoreMetrics.Gauge
    private let limitLog: RateLimitedLog

    init(listener: String, maxConnections: Int, factory: any MetricsFactory, logger: Logger) {
        self.listener = listener
        self.maxConnections = maxConnections
        var closed: [CloseReason: CoreMetrics.Counter] = [:]
        for reason in CloseReason.allCases {
            closed[reason] = Counter(
                label: "gateway_http_connections_closed_total",
                dimensions: [("listener", listener), ("reason", reason.rawValue)],
                factory: factory)
        }
        self.closed = closed
        open = Gauge(label: "gateway_http_connections", dimensions: [("listener", listener)], factory: factory)
        limitLog = RateLimitedLog(logger: logger, burst: 1, window: .seconds(10))
    }

    var count: Int { state.withLock { $0.entries.count } }

    func count(_ reason: CloseReason) { closed[reason]?.increment() }

    /// A new connection; false when it must be closed at once (limit reached, nothing to evict).
    func opened(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let (admitted, victim, total) = state.withLock { s -> (Bool, (any Channel)?, Int) in
            s.sequence += 1
            s.entries[id] = Entry(channel: channel, waitingSince: s.sequence)
            guard s.entries.count > maxConnections else { return (true, nil, s.entries.count) }
            if let victim = Self.takeLongestWaiting(&s, except: id) { return (true, victim, s.entries.count) }
            s.entries[id] = nil
            return (false, nil, s.entries.count)
        }
        open.record(total)
        if let victim {
            closed[.evicted]?.increment()
            victim.close(promise: nil)
            limitLog.warning(
                "http connection limit reached: closing the longest-waiting idle connection to admit a new one",
                metadata: ["listener": "\(listener)", "max_connections": "\(maxConnections)"])
        } else if !admitted {
            closed[.limit]?.increment()
            limitLog.warning(
                "http connection limit reached and every connection has a request in progress: new connection closed",
                metadata: ["listener": "\(listener)", "max_connections": "\(maxConnections)"])
        }
        return admitted
    }

    func closed(_ channel: any Channel) {
        let total = state.withLock { s -> Int in
            s.entries[ObjectIdentifier(channel)] = nil
            return s.entries.count
        }
        open.record(total)
    }

    /// The connection waits for a request head (new, or kept alive after a response).
    func waiting(_ channel: any Channel) {
        state.withLock { s in
            guard s.entries[ObjectIdentifier(channel)] != nil else { return }
            s.sequence += 1
            s.entries[ObjectIdentifier(channel)]?.waitingSince = s.sequence
        }
    }

    /// The connection has a request in progress: it is not closed to make room.
    func busy(_ channel: any Channel) {
        state.withLock { s in s.entries[ObjectIdentifier(channel)]?.waitingSince = nil }
    }

    /// Closes up to `count` waiting connections, longest-waiting first (out of file descriptors);
    /// returns how many.
    func evict(_ count: Int) -> Int {
        let victims = state.withLock { s -> [any Channel] in
            var out: [any Channel] = []
            while out.count < count, let victim = Self.takeLongestWaiting(&s, except: nil) { out.append(victim) }
            return out
        }
        for victim in victims {
            closed[.evicted]?.increment()
            victim.close(promise: nil)
        }
        return victims.count
    }

    /// Removes the waiting flag of the connection waiting longest and returns it (it is closing).
    private static func takeLongestWaiting(_ s: inout State, except: ObjectIdentifier?) -> (any Channel)? {
        var best: (id: ObjectIdentifier, since: UInt64)?
        for (id, entry) in s.entries where id != except {
            if let since = entry.waitingSince, since < best?.since ?? .max { best = (id, since) }
        }
        guard let best else { return nil }
        s.entries[best.id]?.waitingSince = nil
        return s.entries[best.id]?.channel
    }
}
