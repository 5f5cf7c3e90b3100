/// Where points end up. A sink receives whole batches from its worker, one at a time; it never
/// sees two `write` calls at once, so it needs no locking of its own for the write path.
public protocol Sink: Sendable {
    /// Writes a batch. Throwing means the batch was not delivered; the worker counts it as
    /// dropped.
    func write(_ batch: PointBatch) async throws

    /// True for sinks that count written, spooled and dropped points themselves (a sink that
    /// spools may take a batch without having delivered it); the worker then counts nothing.
    var countsOwnWrites: Bool { get }

    /// True for sinks that settle a batch after `write` returns (a batch still on the wire): they
    /// call ``PointBatch/settle()`` themselves once it is delivered, spooled or dropped. For the
    /// others the worker settles the batch when `write` returns or throws.
    var settlesBatches: Bool { get }

    /// Called once when graceful shutdown begins, before the queue's last batches arrive: a
    /// sink that retries should stop waiting and hand those batches to its spool.
    func beginShutdown()
}

extension Sink {
    public var countsOwnWrites: Bool { false }
    public var settlesBatches: Bool { false }
    public func beginShutdown() {}
}

/// A sink that holds resources to release after the last batch (files, connections).
public protocol ClosableSink: Sink {
    func close() async
}
