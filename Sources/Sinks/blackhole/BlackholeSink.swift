import GatewayCore

/// Counts and discards: the worker counts the points as written. For benchmarks and for routes
/// whose points should be accepted and deliberately thrown away.
public struct BlackholeSink: Sink {
    public init() {}

    public func write(_ batch: PointBatch) async throws {}
}
