/// How a network sink fares, as `/api/v1/status`, `gateway spool status` and `gateway_sink_healthy`
/// report it.
public enum NetworkSinkHealth: Sendable, Equatable {
    case healthy
    /// Failing for a reason that may pass (network, 5xx, throttling); retrying.
    case retrying(String)
    /// Refused (401, 403, 404): holding data in the spool until the configuration is fixed.
    case refused(String)
    /// The spool cannot write (disk full, I/O error): the sink takes nothing more from its queue.
    case spoolUnwritable(String)

    public var text: String {
        switch self {
        case .healthy: return "healthy"
        case .retrying(let why): return "retrying: \(why)"
        case .refused(let why): return "refused: \(why)"
        case .spoolUnwritable(let why): return "spool cannot write: \(why)"
        }
    }

    var isRefused: Bool {
        if case .refused = self { return true }
        return false
    }
}

/// The spool-write retry schedule every spooling sink shares.
public enum SpoolRetry {
    /// Appends tried at shutdown before a batch the spool cannot take is dropped (counted, logged).
    public static let attemptsAtShutdown = 3

    /// The wait before retrying a spool write that failed `failures` times: 100 ms doubling to 2 s.
    public static func delay(_ failures: Int) -> Duration {
        min(.milliseconds(100) * (1 << min(max(failures - 1, 0), 5)), .seconds(2))
    }
}
