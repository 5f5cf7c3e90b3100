import GatewayCore
import Synchronization

/// A bounded, multi-producer single-consumer queue of points in front of one sink.
///
/// Producers hand over whole chunks (the points of one datagram or request), so the lock is
/// taken once per chunk, not per point. Capacity is counted in points.
public final class SinkQueue: Sendable {
    public let capacity: Int
    public let policy: OverflowPolicy

    /// The result of a non-waiting offer.
    public struct OfferResult: Sendable, Equatable {
        /// Points dropped to respect the capacity (drop policies only).
        public var dropped: Int
        /// True when the queue is at or over capacity after the offer: a `block` producer that
        /// cannot wait should pause until ``waitForSpace()`` returns.
        public var full: Bool
    }

    private struct State: ~Copyable {
        /// Queued chunks; `chunks[head]` may be the rest of a chunk cut by a batch boundary.
        var chunks: [ArraySlice<Point>] = []
        /// Per chunk, the acknowledgement it holds (nil: nobody waits for it).
        var acknowledgements: [Acknowledgement?] = []
        var head = 0
        /// Points in `chunks[head...]`.
        var count = 0
        var closed = false
        var consumer: CheckedContinuation<Void, Never>?
        var consumerThreshold = 1
        /// A wake-up that arrived while the consumer was not waiting; consumed by the next wait.
        var wakePending = false
        var spaceWaiters: [(id: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var lastWaiterID = 0
    }

    private let state = Mutex(State())

    public init(capacity: Int, policy: OverflowPolicy) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.policy = policy
    }

    public var count: Int { state.withLock { $0.count } }
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Adds points without waiting. With `block`, points are always taken (the queue may go over
    /// capacity by one chunk) and `full` tells the caller to pause. After `close()`, points are
    /// refused and reported as dropped.
    ///
    /// With an `acknowledgement`, the queued chunk holds it (``Acknowledgement/retain()``) until the
    /// batch carrying it is settled; points dropped by the policy give their hold back at once.
    @discardableResult
    public func offer(_ points: [Point], acknowledgement: Acknowledgement? = nil) -> OfferResult {
        if points.isEmpty { return OfferResult(dropped: 0, full: false) }
        var wake: CheckedContinuation<Void, Never>?
        var released: [Acknowledgement] = []
        let result = state.withLock { (s: inout State) -> OfferResult in
            if s.closed {
                // Not kept, and not by a policy: whoever waits for these keeps them (the journal
                // routes them again at the next start).
                acknowledgement?.abandon()
                return OfferResult(dropped: points.count, full: true)
            }
            var dropped = 0
            switch policy {
            case .block:
                Self.append(points[...], acknowledgement, to: &s)
            case .dropNewest:
                let room = max(0, capacity - s.count)
                if room >= points.count {
                    Self.append(points[...], acknowledgement, to: &s)
                } else {
                    dropped = points.count - room
                    if room > 0 { Self.append(points[0..<room], acknowledgement, to: &s) }
                }
            case .dropOldest:
                var incoming = points[...]
                if incoming.count > capacity {
                    dropped += incoming.count - capacity
                    incoming = incoming.suffix(capacity)
                }
                let excess = s.count + incoming.count - capacity
                if excess > 0 { dropped += Self.discard(excess, from: &s, released: &released) }
                Self.append(incoming, acknowledgement, to: &s)
            }
            if s.consumer != nil, s.count >= s.consumerThreshold {
                wake = s.consumer
                s.consumer = nil
            }
            return OfferResult(dropped: dropped, full: s.count >= capacity)
        }
        wake?.resume()
        for acknowledgement in released { acknowledgement.release() }
        return result
    }

    /// Adds points, waiting for room first when the policy is `block`. Returns the points dropped.
    public func push(_ points: [Point], acknowledgement: Acknowledgement? = nil) async -> Int {
        if policy == .block {
            while true {
                let hasRoom = state.withLock { $0.closed || $0.count < capacity }
                if hasRoom { break }
                await waitForSpace()
            }
        }
        return offer(points, acknowledgement: acknowledgement).dropped
    }

    /// Returns when the queue is below capacity (or closed), or when the waiting task is cancelled
    /// (a listener stopping while its sinks cannot drain must not hang its service).
    public func waitForSpace() async {
        let id = state.withLock { (s: inout State) -> Int in
            s.lastWaiterID += 1
            return s.lastWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { (s: inout State) -> Bool in
                    if s.closed || s.count < capacity || Task.isCancelled { return true }
                    s.spaceWaiters.append((id, continuation))
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { (s: inout State) -> CheckedContinuation<Void, Never>? in
                guard let index = s.spaceWaiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.spaceWaiters.remove(at: index).continuation
            }
            waiter?.resume()
        }
    }

    /// Waits until at least `threshold` points are queued, the queue is closed, or ``wakeConsumer()``
    /// is called (by the flush timer). Only the single consumer calls this.
    public func waitForPoints(threshold: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { (s: inout State) -> Bool in
                if s.closed || s.count >= threshold || s.wakePending {
                    s.wakePending = false
                    return true
                }
                s.consumer = continuation
                s.consumerThreshold = threshold
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Resumes a waiting consumer whatever the count (flush interval reached, or shutdown).
    public func wakeConsumer() {
        let consumer = state.withLock { (s: inout State) -> CheckedContinuation<Void, Never>? in
            guard let consumer = s.consumer else {
                s.wakePending = true
                return nil
            }
            s.consumer = nil
            return consumer
        }
        consumer?.resume()
    }

    /// Takes up to `max` points, oldest first, in one array.
    /// The batch is taken as settled (its acknowledgements are given back).
    public func take(max: Int) -> [Point] {
        let batch = takeBatch(max: max)
        batch.settle()
        return batch.points
    }

    /// Takes up to `max` points, oldest first, as the chunks they were queued in: whole chunks move
    /// without copying their points, and a chunk cut by `max` is split into two slices of the same
    /// storage. The batch carries the acknowledgements of its chunks (a cut chunk's is held by both
    /// pieces): whoever takes it calls ``PointBatch/settle()`` once the batch is settled.
    public func takeBatch(max: Int) -> PointBatch {
        var waiters: [(id: Int, continuation: CheckedContinuation<Void, Never>)] = []
        let batch = state.withLock { (s: inout State) -> PointBatch in
            var out: [ArraySlice<Point>] = []
            var acknowledgements: [Acknowledgement] = []
            var taken = 0
            while taken < max, s.head < s.chunks.count {
                let available = s.chunks[s.head].count
                let wanted = max - taken
                if available <= wanted {
                    out.append(s.chunks[s.head])
                    if let acknowledgement = s.acknowledgements[s.head] { acknowledgements.append(acknowledgement) }
                    s.chunks[s.head] = []
                    s.acknowledgements[s.head] = nil
                    s.head += 1
                    taken += available
                } else {
                    let chunk = s.chunks[s.head]
                    out.append(chunk.prefix(wanted))
                    if let acknowledgement = s.acknowledgements[s.head] {
                        acknowledgement.retain()
                        acknowledgements.append(acknowledgement)
                    }
                    s.chunks[s.head] = chunk.dropFirst(wanted)
                    taken += wanted
                }
            }
            s.count -= taken
            Self.compact(&s)
            if s.count < capacity, !s.spaceWaiters.isEmpty {
                waiters = s.spaceWaiters
                s.spaceWaiters = []
            }
            return PointBatch(chunks: out, acknowledgements: acknowledgements)
        }
        for waiter in waiters { waiter.continuation.resume() }
        return batch
    }

    /// Refuses further points and wakes everybody; queued points can still be taken.
    public func close() {
        let (consumer, waiters) = state.withLock { (s: inout State) in
            s.closed = true
            defer {
                s.consumer = nil
                s.spaceWaiters = []
            }
            return (s.consumer, s.spaceWaiters)
        }
        consumer?.resume()
        for waiter in waiters { waiter.continuation.resume() }
    }

    private static func append(_ points: ArraySlice<Point>, _ acknowledgement: Acknowledgement?, to s: inout State) {
        if points.isEmpty { return }
        acknowledgement?.retain()
        s.chunks.append(points)
        s.acknowledgements.append(acknowledgement)
        s.count += points.count
    }

    /// Drops `n` oldest points; returns how many were dropped. Chunks dropped whole give back their
    /// acknowledgement holds (appended to `released`, for the caller to release outside the lock).
    private static func discard(_ n: Int, from s: inout State, released: inout [Acknowledgement]) -> Int {
        var remaining = n
        while remaining > 0, s.head < s.chunks.count {
            let available = s.chunks[s.head].count
            if available <= remaining {
                remaining -= available
                s.chunks[s.head] = []
                if let acknowledgement = s.acknowledgements[s.head] { released.append(acknowledgement) }
                s.acknowledgements[s.head] = nil
                s.head += 1
            } else {
                s.chunks[s.head] = s.chunks[s.head].dropFirst(remaining)
                remaining = 0
            }
        }
        let dropped = n - remaining
        s.count -= dropped
        compact(&s)
        return dropped
    }

    private static func compact(_ s: inout State) {
        if s.head == s.chunks.count {
            s.chunks.removeAll(keepingCapacity: true)
            s.acknowledgements.removeAll(keepingCapacity: true)
            s.head = 0
        } else if s.head > 1024, s.head * 2 > s.chunks.count {
            s.chunks.removeFirst(s.head)
            s.acknowledgements.removeFirst(s.head)
            s.head = 0
        }
    }
}
