import GatewayCore

/// What one kind of network sink supplies to ``NetworkSink``: how a piece of a batch becomes a
/// request body, how it travels, and what the server's answer means for it. Everything else (the
/// window of batches on the wire, retry with backoff, the spool, ordered replay, dead letters,
/// health) is shared, so a new network sink is one transport: an encoding, a client and a status
/// policy (see `Sources/Sinks/influx2/InfluxTransport.swift`).
public protocol NetworkTransport: Sendable {
    /// Where the sink writes (URL, credentials, timeouts), as its configuration gives it.
    associatedtype Target: Sendable
    /// One encoded request, ready to send.
    associatedtype Body: Sendable

    /// Names the server in log messages (`Influx refuses writes`).
    static var serverName: String { get }

    init(target: Target)
    var target: Target { get }
    /// The target's URL without credentials, for logs.
    var redactedURL: String { get }

    /// Encodes a chunk as a request body. The direct path calls this before the batch waits for
    /// room on the wire, so encoding overlaps the requests in flight; what the chunk computes on the
    /// way (its plain or gzip line protocol) is kept in it and serves the spool too.
    func body(for chunk: inout NetworkChunk) throws -> Body

    /// Sends one body and classifies the answer by the server's status contract. The request is
    /// given up after `timeout` (nil: the target's own), whatever the server does meanwhile; a task
    /// cancelled meanwhile gives it up too.
    func send(_ body: Body, timeout: Duration?) async -> NetworkAnswer

    /// Closes connections; called once the sink is closed.
    func shutdown() async
}

/// What a server's answer to one request means for the chunk that was sent: the terms the shared
/// delivery loop acts on. A transport's status policy maps its server's answers onto these.
public enum NetworkAnswer: Sendable, Equatable {
    /// Every point written.
    case delivered
    /// Some lines are malformed and nothing was written. `line` (1-based) is dead-lettered and the
    /// rest sent again; without it the chunk is halved until each bad line stands alone.
    case badLines(status: Int, message: String, line: Int?)
    /// The body is too large: halved and sent again; one line still too large is dead-lettered.
    case tooLarge(status: Int, message: String)
    /// Refused for good (outside retention, say): the whole chunk is dead-lettered.
    case rejected(status: Int, message: String)
    /// A failure that may pass (network, 5xx, throttling): retried after `retryAfter` (the
    /// server's wish, capped at `max_retry_after`) or a backoff, within `max_wait`; then spooled.
    case retry(status: Int?, retryAfter: Duration?, message: String)
    /// A configuration problem retrying will not fix (401, 403, 404): spooled at once and held
    /// there until someone fixes it.
    case refused(status: Int, message: String)

    /// The status as logs show it: the HTTP code, or `network error`.
    public var statusText: String {
        switch self {
        case .delivered: return "ok"
        case .badLines(let status, _, _), .tooLarge(let status, _), .rejected(let status, _), .refused(let status, _):
            return "\(status)"
        case .retry(let status, _, _): return status.map(String.init) ?? "network error"
        }
    }

    public var message: String {
        switch self {
        case .delivered: return ""
        case .badLines(_, let m, _), .tooLarge(_, let m), .rejected(_, let m), .refused(_, let m): return m
        case .retry(_, _, let m): return m
        }
    }
}
