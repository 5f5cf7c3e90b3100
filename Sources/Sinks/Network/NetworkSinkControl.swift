import ServiceLifecycle

/// What the runtime and the admin API need of any network sink, whatever its transport: its
/// health, its spool, replay on demand, and giving up at `shutdown_timeout`. Lets the runtime hold
/// `[any NetworkSinkControl]` instead of one array per sink type.
public protocol NetworkSinkControl: Sendable {
    var name: String { get }
    var health: NetworkSinkHealth { get }
    var spool: SpoolStore? { get }
    /// Skips the replayer's current backoff (`gateway spool replay` on a running gateway).
    func replayNow()
    /// `shutdown_timeout` passed: gives up the requests on the wire; the rest goes to the spool.
    func expedite()
}

extension NetworkSink: NetworkSinkControl {}
