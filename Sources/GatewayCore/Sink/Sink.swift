/// Where points end up. A sink receives whole batches from its worker, one at a time; it never
/// sees two `write` calls at once, so it needs no locking of its own for the write path.
public protocol Sink: Sendable {
    /// Writes a batch. Throwing means the batch was not (fully) delivered; the worker counts it.
    func write(_ batch: PointBatch) async throws
}

/// A sink that holds resources to release after the last batch (files, connections).
public protocol ClosableSink: Sink {
    func close() async
}
