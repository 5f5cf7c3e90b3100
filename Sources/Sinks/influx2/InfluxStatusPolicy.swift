import Foundation
import GatewayCore

/// InfluxDB 2.x's status contract for `/api/v2/write`, as its documentation gives it, and what the
/// sink does for each answer:
///
/// | answer                          | ``InfluxOutcome``  | the sink                                      |
/// |---------------------------------|--------------------|-----------------------------------------------|
/// | 2xx                             | `delivered`        | done                                          |
/// | 400 (`line` in the JSON body)   | `badRequest`       | dead-letters that line, sends the rest; without a line, halves until each bad line is alone |
/// | 413                             | `tooLarge`         | halves; one line still too large is dead-lettered |
/// | 422                             | `unprocessable`    | dead-letters the chunk                         |
/// | 429, 503 (Retry-After)          | `throttled`        | waits Retry-After (at most `max_retry_after`) or a backoff, retries within `max_wait`, then spools |
/// | 408, other 5xx, network errors  | `failed`           | backs off, retries within `max_wait`, then spools |
/// | 401, 403, 404, other 4xx        | `refused`          | spools at once, holds the data until fixed     |
public enum InfluxStatusPolicy {
    /// Reads one HTTP answer: status, body (InfluxDB's JSON error) and Retry-After header.
    public static func outcome(status: Int, body: String, retryAfter: String?, now: Date = Date()) -> InfluxOutcome {
        if (200..<300).contains(status) { return .delivered }
        let (message, line) = parseError(body, status: status)
        return outcome(
            status: status, message: message, line: line,
            retryAfter: retryAfter.flatMap { parseRetryAfter($0, now: now) })
    }

    static func outcome(status: Int, message: String, line: Int?, retryAfter: Duration?) -> InfluxOutcome {
        switch status {
        case 200..<300: return .delivered
        case 400: return .badRequest(message: message, line: line)
        case 413: return .tooLarge(message: message)
        case 422: return .unprocessable(message: message)
        case 429, 503: return .throttled(status: status, retryAfter: retryAfter, message: message)
        case 408: return .failed(status: status, message: message)
        case 400..<500: return .refused(status: status, message: message)
        default: return .failed(status: status, message: message)
        }
    }

    /// What the shared delivery loop does with an outcome.
    public static func answer(_ outcome: InfluxOutcome) -> NetworkAnswer {
        switch outcome {
        case .delivered: return .delivered
        case .badRequest(let message, let line): return .badLines(status: 400, message: message, line: line)
        case .tooLarge(let message): return .tooLarge(status: 413, message: message)
        case .unprocessable(let message): return .rejected(status: 422, message: message)
        case .throttled(let status, let retryAfter, let message):
            return .retry(status: status, retryAfter: retryAfter, message: message)
        case .refused(let status, let message): return .refused(status: status, message: message)
        case .failed(let status, let message): return .retry(status: status, retryAfter: nil, message: message)
        }
    }

    /// InfluxDB's error body is `{"code": ..., "message": ..., "line": N}`; anything else is
    /// reported as it came.
    static func parseError(_ text: String, status: Int) -> (message: String, line: Int?) {
        if let data = text.data(using: .utf8),
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        {
            let message = (object["message"] as? String) ?? text
            let line = (object["line"] as? NSNumber)?.intValue
            return (message, line)
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return (trimmed.isEmpty ? "HTTP \(status)" : String(trimmed.prefix(1000)), nil)
    }

    /// Retry-After: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
    static func parseRetryAfter(_ value: String, now: Date = Date()) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        let delta = date.timeIntervalSince(now)
        return .milliseconds(Int64(max(0, delta) * 1000))
    }
}
