import CoreMetrics
import GatewayCore
import Synchronization

/// The live tap (`GET /api/v1/tap`, `gateway tap`): copies of the points passing the router that match
/// a client's filter, with the routes each matched and the sinks it went to.
///
/// With no client attached the router pays one relaxed atomic load per batch (``isActive``). Each
/// client has a bounded buffer: when it is full (the client reads too slowly or not at all) further
/// points are dropped for that client and counted, and the count is reported to it in the stream. The
/// router never waits for a client.
final class LiveTap: Sendable {
    private let attached = Atomic<Int>(0)
    private let clients = Mutex<[TapClient]>([])
    let clientGauge: CoreMetrics.Gauge
    let dropped: CoreMetrics.Counter
    let sent: CoreMetrics.Counter

    init(factory: any MetricsFactory) {
        clientGauge = Gauge(label: "gateway_tap_clients", factory: factory)
        dropped = Counter(label: "gateway_tap_dropped_points_total", factory: factory)
        sent = Counter(label: "gateway_tap_points_total", factory: factory)
        clientGauge.record(0)
    }

    /// True while a client is attached: the only thing the router reads when none is.
    @inline(__always) var isActive: Bool { attached.load(ordering: .relaxed) > 0 }

    var clientCount: Int { attached.load(ordering: .relaxed) }

    func attach(_ filter: TapFilter, capacity: Int) -> TapClient {
        let client = TapClient(filter: filter, capacity: capacity)
        let count = clients.withLock { clients in
            clients.append(client)
            attached.store(clients.count, ordering: .relaxed)
            return clients.count
        }
        clientGauge.record(count)
        return client
    }

    func detach(_ client: TapClient) {
        let count = clients.withLock { clients in
            clients.removeAll { $0 === client }
            attached.store(clients.count, ordering: .relaxed)
            return clients.count
        }
        clientGauge.record(count)
    }

    /// Called by the router for a batch of one source, with each point's sink mask, while a client is attached.
    func observe(_ points: [Point], masks: [UInt64], source: String, router: Router) {
        let clients = self.clients.withLock { $0 }
        for client in clients where client.filter.matchesSource(source) {
            var events: [TapEvent] = []
            for (point, mask) in zip(points, masks) where client.filter.matches(point) {
                let sinks = router.sinkNames(mask)
                if let sink = client.filter.sink, !sinks.contains(sink) { continue }
                events.append(
                    TapEvent(
                        point: point, source: source, routes: router.routeNames(point, source: source), sinks: sinks))
            }
            guard !events.isEmpty else { continue }
            let lost = client.enqueue(events)
            if lost > 0 { dropped.increment(by: Int64(lost)) }
        }
    }
}

/// One point as the tap reports it.
struct TapEvent: Sendable {
    var point: Point
    var source: String
    var routes: [String]
    var sinks: [String]
}

/// What a client asked for: every condition given must hold (any of several series globs; every tag).
struct TapFilter: Sendable {
    var series: [Glob] = []
    var tags: [(key: String, pattern: Glob)] = []
    var source: Glob?
    var sink: String?

    func matchesSource(_ name: String) -> Bool { source?.matches(name) ?? true }

    func matches(_ point: Point) -> Bool {
        if !series.isEmpty, !series.contains(where: { $0.matches(point.series) }) { return false }
        for (key, pattern) in tags {
            guard let value = point.tag(key), pattern.matches(value) else { return false }
        }
        return true
    }
}

/// A client's bounded buffer, filled by the router and emptied by its HTTP stream.
final class TapClient: Sendable {
    let filter: TapFilter
    let capacity: Int
    private struct State {
        var events: [TapEvent] = []
        var dropped = 0
    }
    private let state = Mutex(State())

    init(filter: TapFilter, capacity: Int) {
        self.filter = filter
        self.capacity = capacity
    }

    /// Adds what fits; returns how many were dropped because the buffer was full.
    func enqueue(_ events: [TapEvent]) -> Int {
        state.withLock { state in
            let room = max(0, capacity - state.events.count)
            if room >= events.count {
                state.events.append(contentsOf: events)
                return 0
            }
            state.events.append(contentsOf: events.prefix(room))
            let lost = events.count - room
            state.dropped += lost
            return lost
        }
    }

    /// Everything buffered, and the points dropped since the last call.
    func take() -> (events: [TapEvent], dropped: Int) {
        state.withLock { state in
            defer {
                state.events = []
                state.dropped = 0
            }
            return (state.events, state.dropped)
        }
    }
}
