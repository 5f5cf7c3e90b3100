import AsyncHTTPClient
import Foundation
import GatewayCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// Where and how to write: an InfluxDB 2.x `/api/v2/write` endpoint, or InfluxDB 1.x's `/write`.
public struct InfluxTarget: Sendable {
    /// Which write API: `v2` (`/api/v2/write?org=&bucket=`) or `v1` (`/write?db=&rp=`).
    public enum API: String, Sendable, CaseIterable {
        case v1, v2
    }

    /// Base URL, e.g. `http://127.0.0.1:8086` (a path prefix is kept).
    public var url: String
    public var api = API.v2
    public var org: String
    public var bucket: String
    /// `v1`: the database and retention policy (empty: the database's default).
    public var database = ""
    public var retentionPolicy = ""
    /// `v1`: sent as HTTP Basic authentication when set.
    public var username = ""
    public var password = Secret("")
    public var token: Secret
    public var gzip: Bool
    /// The most one request may take, connecting included.
    public var timeout: Duration
    /// The most establishing a connection may take.
    public var connectTimeout: Duration
    /// How long an unused keep-alive connection is kept.
    public var idleTimeout: Duration

    public init(
        url: String, org: String, bucket: String, token: String, gzip: Bool = true, timeout: Duration = .seconds(10),
        connectTimeout: Duration = .seconds(5), idleTimeout: Duration = .seconds(60)
    ) {
        self.url = url
        self.org = org
        self.bucket = bucket
        self.token = Secret(token)
        self.gzip = gzip
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
    }

    public func writeURL(precision: Precision) -> String {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        func q(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .urlQueryValueAllowed) ?? s }
        switch api {
        case .v2:
            return "\(base)/api/v2/write?org=\(q(org))&bucket=\(q(bucket))&precision=\(precision.rawValue)"
        case .v1:
            let rp = retentionPolicy.isEmpty ? "" : "&rp=\(q(retentionPolicy))"
            return "\(base)/write?db=\(q(database))\(rp)&precision=\(Self.v1Precision(precision))"
        }
    }

    /// InfluxDB 1.x's names for the units: `n`, `u`, `ms`, `s`.
    static func v1Precision(_ precision: Precision) -> String {
        switch precision {
        case .nanoseconds: return "n"
        case .microseconds: return "u"
        case .milliseconds: return "ms"
        case .seconds: return "s"
        }
    }

    /// The `Authorization` header, if any: Basic for a 1.x user, else the token.
    var authorization: String? {
        if api == .v1, !username.isEmpty {
            return "Basic " + Data("\(username):\(password.value)".utf8).base64EncodedString()
        }
        return token.isEmpty ? nil : "Token \(token.value)"
    }
}

extension CharacterSet {
    static let urlQueryValueAllowed: CharacterSet = {
        var set = CharacterSet.urlQueryAllowed
        set.remove(charactersIn: "&=+?#")
        return set
    }()
}

/// What one write request came to, in the terms of InfluxDB's documented status codes
/// (``InfluxStatusPolicy`` reads them and says what the sink does with each).
public enum InfluxOutcome: Sendable, Equatable {
    /// 2xx: every line written.
    case delivered
    /// 400: the body holds a malformed line; nothing was written. `line` is 1-based when given.
    case badRequest(message: String, line: Int?)
    /// 413: the body is too large; nothing was written.
    case tooLarge(message: String)
    /// 422: the server refused the data for good (e.g. outside the retention period).
    case unprocessable(message: String)
    /// 429 or 503: try again after `retryAfter` (the server's Retry-After) or a backoff.
    case throttled(status: Int, retryAfter: Duration?, message: String)
    /// 401, 403, 404 and other 4xx: a configuration problem that retrying will not fix until
    /// someone fixes it; the data is kept.
    case refused(status: Int, message: String)
    /// Other 5xx, timeouts, refused connections: retry with backoff.
    case failed(status: Int?, message: String)

    public var statusText: String {
        switch self {
        case .delivered: return "204"
        case .badRequest: return "400"
        case .tooLarge: return "413"
        case .unprocessable: return "422"
        case .throttled(let status, _, _), .refused(let status, _): return "\(status)"
        case .failed(let status, _): return status.map(String.init) ?? "network error"
        }
    }
}

/// A keep-alive HTTP client for one Influx target (AsyncHTTPClient, on its own event loop: see
/// ``NetworkHTTPClient``).
public final class InfluxClient: Sendable {
    public let target: InfluxTarget
    let client: HTTPClient
    let eventLoopGroup: MultiThreadedEventLoopGroup

    public init(target: InfluxTarget) {
        self.target = target
        (client, eventLoopGroup) = NetworkHTTPClient.make(
            connectTimeout: target.connectTimeout, timeout: target.timeout, idleTimeout: target.idleTimeout)
    }

    public func shutdown() async {
        try? await client.shutdown()
        try? await eventLoopGroup.shutdownGracefully()
    }

    /// Sends one body: `gzipped` tells whether `body` is gzip already. The request is given up after
    /// `timeout` (at most the target's), whatever the server does meanwhile.
    public func write(body: [UInt8], gzipped: Bool, precision: Precision, timeout: Duration? = nil) async
        -> InfluxOutcome
    {
        let timeout = min(timeout ?? target.timeout, target.timeout)
        var request = HTTPClientRequest(url: target.writeURL(precision: precision))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        request.headers.add(name: "User-Agent", value: "gateway")
        if let authorization = target.authorization { request.headers.add(name: "Authorization", value: authorization) }
        if gzipped { request.headers.add(name: "Content-Encoding", value: "gzip") }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            let status = Int(response.status.code)
            if (200..<300).contains(status) {
                _ = try? await response.body.collect(upTo: 1 << 20)
                return .delivered
            }
            var text = ""
            if let buffer = try? await response.body.collect(upTo: 1 << 20) {
                text = String(buffer: buffer)
            }
            return InfluxStatusPolicy.outcome(
                status: status, body: text, retryAfter: response.headers.first(name: "Retry-After"))
        } catch {
            return .failed(status: nil, message: Self.describe(error, timeout: timeout))
        }
    }

    /// What went wrong, in the words an operator looks for: refused, reset, timed out, cannot
    /// resolve (NIO's own descriptions read `connection reset (error set): Connection refused)
    /// (errno: 111)` for a refused connection).
    static func describe(_ error: any Error, timeout: Duration) -> String {
        if error is CancellationError { return "given up (shutdown)" }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout: return "no answer within \(Units.text(timeout))"
            case .connectTimeout: return "connect timed out"
            case .remoteConnectionClosed: return "the server closed the connection before answering"
            case .cancelled: return "given up (shutdown)"
            case .getConnectionFromPoolTimeout: return "no connection available within \(Units.text(timeout))"
            default: return "\(error)"
            }
        }
        if let error = error as? NIOConnectionError {
            if error.connectionErrors.isEmpty, error.dnsAError != nil || error.dnsAAAAError != nil {
                return "cannot resolve host \(error.host)"
            }
            if let first = error.connectionErrors.first { return describe(first.error, timeout: timeout) }
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case ECONNRESET: return "connection reset by the server"
            case ETIMEDOUT: return "connection timed out"
            case EHOSTUNREACH: return "host unreachable"
            case ENETUNREACH: return "network unreachable"
            case EPIPE: return "the server closed the connection"
            default: return "\(String(cString: strerror(error.errnoCode))) (errno \(error.errnoCode))"
            }
        }
        return "\(error)"
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
