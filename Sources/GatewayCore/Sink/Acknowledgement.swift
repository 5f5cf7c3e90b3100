import Synchronization

/// Tells the source of some points (an HTTP request kept in the ingest journal) when every sink
/// they were routed to has settled them: delivered, stored in a spool, dead-lettered, or dropped
/// by a configured policy. Only then may the source forget them.
///
/// It counts holds: the source holds one while it routes, each queued chunk holds one, a chunk cut
/// in two by a batch boundary holds one per piece, and a sink releases a batch's holds once the
/// batch is settled. The last release calls `settled`, once.
public final class Acknowledgement: Sendable {
    private let holds: Atomic<Int>
    private let abandoned = Atomic<Bool>(false)
    private let settled: @Sendable () -> Void

    /// Starts with one hold, the creator's.
    public init(settled: @escaping @Sendable () -> Void) {
        self.holds = Atomic(1)
        self.settled = settled
    }

    /// Adds a hold (a chunk queued for a sink, or one more piece of a cut chunk).
    public func retain() {
        holds.wrappingAdd(1, ordering: .relaxed)
    }

    /// Gives back a hold; the last one calls `settled`.
    public func release() {
        let (_, left) = holds.wrappingSubtract(1, ordering: .acquiringAndReleasing)
        assert(left >= 0, "acknowledgement released more often than held")
        if left == 0, !abandoned.load(ordering: .acquiring) { settled() }
    }

    /// Some of the points were neither kept nor dropped by a policy (a queue closed at shutdown):
    /// the source must keep them, so `settled` is never called.
    public func abandon() {
        abandoned.store(true, ordering: .releasing)
    }

    /// Holds left (for tests and diagnostics).
    public var pending: Int { holds.load(ordering: .relaxed) }
}

extension PointBatch {
    /// These points were not kept, and not by a policy (a spool that could not take them at
    /// shutdown): their sources keep them (the journal routes them again at the next start).
    public func abandon() {
        for acknowledgement in acknowledgements { acknowledgement.abandon() }
    }

    /// Gives back the holds this batch carries: its points are settled.
    public func settle() {
        for acknowledgement in acknowledgements { acknowledgement.release() }
    }
}
