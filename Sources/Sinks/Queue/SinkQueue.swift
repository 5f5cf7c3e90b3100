import GatewayCore
import Synchronization

/// A bounded, multi-producer single-consumer queue of points in front of one sink.
///
/// Producers hand over whole chunks (the points of one datagram or request), so the lock is
/// taken once per chunk, not per point. Capacity is counted in points (`queue_size`) and, when
/// `maxBytes` is given, in the bytes the queued points take (`queue_max_bytes`): the queue is full
/// when either is reached.
///
/// With `packAboveBytes` (`queue_pack: true`), a chunk offered while the queued points already take
/// that many bytes (the sink is well behind) is stored packed (``PackedPoints``: about an eighth of
/// the memory, for about 0.4 CPU-µs per point to pack and unpack) and unpacked by the consumer when
/// it takes it. A queue that keeps up never packs.
public final class SinkQueue: Sendable {
    public let capacity: Int
    public let policy: OverflowPolicy
    /// The most bytes the queued points may take (nil: no limit but `capacity`).
    public let maxBytes: Int?
    /// Chunks offered while the queued points take this many bytes are packed (nil: never).
    public let packAboveBytes: Int?

    /// The result of a non-waiting offer.
    public struct OfferResult: Sendable, Equatable {
        /// Points dropped to respect the capacity (drop policies only).
        public var dropped: Int
        /// True when the queue is at or over capacity after the offer: a `block` producer that
        /// cannot wait should pause until ``waitForSpace()`` returns.
        public var full: Bool
    }

    /// A queued chunk's points: as objects, or packed.
    enum Stored: Sendable {
        case points(ArraySlice<Point>)
        case packed(PackedPoints, Range<Int>)

        var count: Int {
            switch self {
            case .points(let points): return points.count
            case .packed(_, let range): return range.count
            }
        }

        func prefix(_ n: Int) -> Stored {
            switch self {
            case .points(let points): return .points(points.prefix(n))
            case .packed(let packed, let range): return .packed(packed, range.lowerBound..<(range.lowerBound + n))
            }
        }

        func dropFirst(_ n: Int) -> Stored {
            switch self {
            case .points(let points): return .points(points.dropFirst(n))
            case .packed(let packed, let range): return .packed(packed, (range.lowerBound + n)..<range.upperBound)
            }
        }

        var points: ArraySlice<Point> {
            switch self {
            case .points(let points): return points
            case .packed(let packed, let range): return packed.unpack(range)[...]
            }
        }
    }

    struct Entry {
        var stored: Stored
        /// The acknowledgement the chunk holds (nil: nobody waits for it).
        var acknowledgement: Acknowledgement?
        /// The memory counted for the chunk's points (a cut chunk's pieces share it by points).
        var bytes: Int

        static let taken = Entry(stored: .points([]), acknowledgement: nil, bytes: 0)
    }

    private struct State: ~Copyable {
        /// Queued chunks; `entries[head]` may be the rest of a chunk cut by a batch boundary.
        var entries: [Entry] = []
        var head = 0
        /// Points in `entries[head...]`.
        var count = 0
        /// Memory counted for them.
        var bytes = 0
        var closed = false
        var consumer: CheckedContinuation<Void, Never>?
        var consumerThreshold = 1
        /// A wake-up that arrived while the consumer was not waiting; consumed by the next wait.
        var wakePending = false
        var spaceWaiters: [(id: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var lastWaiterID = 0
    }

    private let state = Mutex(State())

    public init(capacity: Int, policy: OverflowPolicy, maxBytes: Int? = nil, packAboveBytes: Int? = nil) {
        precondition(capacity > 0)
        precondition(maxBytes.map { $0 > 0 } ?? true)
        self.capacity = capacity
        self.policy = policy
        self.maxBytes = maxBytes
        self.packAboveBytes = packAboveBytes
    }

    public var count: Int { state.withLock { $0.count } }
    /// The memory counted for the queued points.
    public var bytes: Int { state.withLock { $0.bytes } }
    public var isClosed: Bool { state.withLock { $0.closed } }
    /// At or over `capacity` or `maxBytes`: a `block` producer waits.
    public var isFull: Bool { state.withLock { isFull($0) } }
    /// Whether a `block` producer may go on: room, or closed (a closed queue refuses at once and
    /// counts what it refuses, rather than hold anyone).
    public var hasRoom: Bool { state.withLock { hasRoom($0) } }

    private func hasRoom(_ s: borrowing State) -> Bool { s.closed || !isFull(s) }

    private func isFull(_ s: borrowing State) -> Bool {
        s.count >= capacity || (maxBytes.map { s.bytes >= $0 } ?? false)
    }

    /// Adds points without waiting. With `block`, points are always taken (the queue may go over
    /// its limits by one chunk per producer that saw room at once) and `full` tells the caller to
    /// pause. After `close()`, points are
    /// refused and reported as dropped.
    ///
    /// With an `acknowledgement`, the queued chunk holds it (``Acknowledgement/retain()``) until the
    /// batch carrying it is settled; points dropped by the policy give their hold back at once.
    @discardableResult
    public func offer(_ points: [Point], acknowledgement: Acknowledgement? = nil) -> OfferResult {
        if points.isEmpty { return OfferResult(dropped: 0, full: false) }
        let chunk = store(points)
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
                Self.append(chunk, acknowledgement, to: &s)
            case .dropNewest:
                // Over `maxBytes` nothing more is taken; under it, a chunk may go over by itself.
                let room = (maxBytes.map { s.bytes >= $0 } ?? false) ? 0 : max(0, capacity - s.count)
                if room >= points.count {
                    Self.append(chunk, acknowledgement, to: &s)
                } else {
                    dropped = points.count - room
                    if room > 0 { Self.append(chunk.cut(room, fromEnd: false), acknowledgement, to: &s) }
                }
            case .dropOldest:
                var incoming = chunk
                if incoming.stored.count > capacity {
                    dropped += incoming.stored.count - capacity
                    incoming = incoming.cut(capacity, fromEnd: true)
                }
                let excess = s.count + incoming.stored.count - capacity
                if excess > 0 { dropped += Self.discard(excess, from: &s, released: &released) }
                if let maxBytes {
                    // Whole oldest chunks go until the new one fits (or the queue is empty).
                    while s.count > 0, s.bytes + incoming.bytes > maxBytes {
                        dropped += Self.discard(s.entries[s.head].stored.count, from: &s, released: &released)
                    }
                }
                Self.append(incoming, acknowledgement, to: &s)
            }
            // A queue full by its bytes before a whole batch is queued wakes the consumer too:
            // producers wait for room, so waiting for the batch would stall until the flush timer.
            if s.consumer != nil, s.count >= s.consumerThreshold || isFull(s) {
                wake = s.consumer
                s.consumer = nil
            }
            return OfferResult(dropped: dropped, full: isFull(s))
        }
        wake?.resume()
        for acknowledgement in released { acknowledgement.release() }
        return result
    }

    /// Adds points, waiting for room first when the policy is `block`. Returns the points dropped.
    public func push(_ points: [Point], acknowledgement: Acknowledgement? = nil) async -> Int {
        if policy == .block {
            while true {
                if self.hasRoom { break }
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
                    if hasRoom(s) || Task.isCancelled { return true }
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
                if s.closed || s.count >= threshold || isFull(s) || s.wakePending {
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
        let (out, acknowledgements) = state.withLock {
            (s: inout State) -> ([Stored], [Acknowledgement]) in
            var out: [Stored] = []
            var acknowledgements: [Acknowledgement] = []
            var taken = 0
            while taken < max, s.head < s.entries.count {
                let entry = s.entries[s.head]
                let available = entry.stored.count
                let wanted = max - taken
                if available <= wanted {
                    out.append(entry.stored)
                    if let acknowledgement = entry.acknowledgement { acknowledgements.append(acknowledgement) }
                    s.entries[s.head] = .taken
                    s.head += 1
                    s.bytes -= entry.bytes
                    taken += available
                } else {
                    out.append(entry.stored.prefix(wanted))
                    if let acknowledgement = entry.acknowledgement {
                        acknowledgement.retain()
                        acknowledgements.append(acknowledgement)
                    }
                    let share = entry.bytes * wanted / available
                    s.entries[s.head].stored = entry.stored.dropFirst(wanted)
                    s.entries[s.head].bytes -= share
                    s.bytes -= share
                    taken += wanted
                }
            }
            s.count -= taken
            Self.compact(&s)
            if !isFull(s), !s.spaceWaiters.isEmpty {
                waiters = s.spaceWaiters
                s.spaceWaiters = []
            }
            return (out, acknowledgements)
        }
        for waiter in waiters { waiter.continuation.resume() }
        // Packed chunks are unpacked here, by the consumer, outside the lock.
        return PointBatch(chunks: out.map(\.points), acknowledgements: acknowledgements)
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

    /// How a chunk is kept: packed when the queue is already behind, else as the points themselves.
    /// Not packed when it is about to be refused (closed queue, `drop_newest` over `maxBytes`).
    private func store(_ points: [Point]) -> Entry {
        let behind =
            packAboveBytes.map { threshold in
                state.withLock { s in
                    s.bytes >= threshold && !s.closed
                        && !(policy == .dropNewest && (maxBytes.map { s.bytes >= $0 } ?? false))
                }
            } ?? false
        if behind, let packed = PackedPoints(points[...]) {
            return Entry(stored: .packed(packed, 0..<packed.count), acknowledgement: nil, bytes: packed.memory)
        }
        return Entry(stored: .points(points[...]), acknowledgement: nil, bytes: PointMemory.bytes(of: points[...]))
    }

    private static func append(_ chunk: Entry, _ acknowledgement: Acknowledgement?, to s: inout State) {
        if chunk.stored.count == 0 { return }
        acknowledgement?.retain()
        var entry = chunk
        entry.acknowledgement = acknowledgement
        s.entries.append(entry)
        s.count += entry.stored.count
        s.bytes += entry.bytes
    }

    /// Drops `n` oldest points; returns how many were dropped. Chunks dropped whole give back their
    /// acknowledgement holds (appended to `released`, for the caller to release outside the lock).
    private static func discard(_ n: Int, from s: inout State, released: inout [Acknowledgement]) -> Int {
        var remaining = n
        while remaining > 0, s.head < s.entries.count {
            let entry = s.entries[s.head]
            let available = entry.stored.count
            if available <= remaining {
                remaining -= available
                if let acknowledgement = entry.acknowledgement { released.append(acknowledgement) }
                s.entries[s.head] = .taken
                s.bytes -= entry.bytes
                s.head += 1
            } else {
                let share = entry.bytes * remaining / available
                s.entries[s.head].stored = entry.stored.dropFirst(remaining)
                s.entries[s.head].bytes -= share
                s.bytes -= share
                remaining = 0
            }
        }
        let dropped = n - remaining
        s.count -= dropped
        compact(&s)
        return dropped
    }

    private static func compact(_ s: inout State) {
        if s.head == s.entries.count {
            s.entries.removeAll(keepingCapacity: true)
            s.head = 0
            s.bytes = 0
        } else if s.head > 1024, s.head * 2 > s.entries.count {
            s.entries.removeFirst(s.head)
            s.head = 0
        }
    }
}

extension SinkQueue.Entry {
    /// The first (or last) `n` points of a chunk not queued yet, with their share of its bytes.
    func cut(_ n: Int, fromEnd: Bool) -> Self {
        let available = stored.count
        let kept = fromEnd ? stored.dropFirst(available - n) : stored.prefix(n)
        return Self(stored: kept, acknowledgement: acknowledgement, bytes: bytes * n / max(available, 1))
    }
}
