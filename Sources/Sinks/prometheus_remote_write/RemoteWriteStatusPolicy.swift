import Foundation
import GatewayCore

/// Remote write 1.0's status contract (the Prometheus Remote-Write specification: "2xx success;
/// 5xx and 429 may be retried; other 4xx must not be retried"), and what the sink does for each
/// answer:
///
/// | answer                           | ``NetworkAnswer`` | the sink                                            |
/// |----------------------------------|-------------------|-----------------------------------------------------|
/// | 2xx                              | `delivered`       | done                                                |
/// | 429, 5xx (Retry-After honoured)  | `retry`           | waits Retry-After (at most `max_retry_after`) or a backoff, retries within `max_wait`, then spools |
/// | 408, network errors, timeouts    | `retry`           | the same (the request may not have reached the server) |
/// | 413                              | `tooLarge`        | halves the batch; one point still too large is dead-lettered |
/// | other 4xx                        | `rejected`        | not retried: dead-lettered with the server's message |
public enum RemoteWriteStatusPolicy {
    /// Reads one HTTP answer: the status, the body (the server's message, plain text) and the
    /// Retry-After header (delay-seconds or an HTTP date, read at `now`).
    public static func answer(status: Int, body: String, retryAfter: String?, now: Date = Date()) -> NetworkAnswer {
        if (200..<300).contains(status) { return .delivered }
        let message = describe(body, status: status)
        switch status {
        case 429, 500..<600:
            return .retry(
                status: status, retryAfter: retryAfter.flatMap { InfluxStatusPolicy.parseRetryAfter($0, now: now) },
                message: message)
        case 408: return .retry(status: status, retryAfter: nil, message: message)
        case 413: return .tooLarge(status: status, message: message)
        case 400..<500: return .rejected(status: status, message: message)
        // 1xx and 3xx (redirects are followed by the client): not the contract; retried.
        default: return .retry(status: status, retryAfter: nil, message: message)
        }
    }

    /// The server's message: the body trimmed, at most 1,000 characters; `HTTP <status>` if empty.
    static func describe(_ body: String, status: Int) -> String {
        let trimmed = body.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? "HTTP \(status)" : String(trimmed.prefix(1000))
    }
}
