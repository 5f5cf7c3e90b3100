import CoreMetrics
import Foundation
import GatewayCore

/// Where and how a `prometheus_remote_write` sink writes: the receiver's full URL (e.g.
/// `http://127.0.0.1:9090/api/v1/write`), its credentials and extra headers, timeouts, and how
/// points become series (``RemoteWriteMapping``).
public struct RemoteWriteTarget: Sendable {
    public var url: String
    /// Sent as `Authorization: Bearer ...` when set.
    public var bearerToken = Secret("")
    /// Sent as HTTP Basic authentication when `username` is set.
    public var username = ""
    public var password = Secret("")
    /// Extra request headers (a tenant header such as `X-Scope-OrgID`); never logged.
    public var headers: [(name: String, value: Secret)] = []
    /// The most one request may take, connecting included.
    public var timeout = Duration.seconds(10)
    public var connectTimeout = Duration.seconds(5)
    public var idleTimeout = Duration.seconds(60)
    public var mapping = RemoteWriteMapping()
    /// Counts string fields left out of the samples (`gateway_sink_fields_dropped_total`); nil in
    /// tests that do not look.
    public var droppedStringFields: CoreMetrics.Counter?

    public init(url: String) {
        self.url = url
    }

    /// The `Authorization` header, if any: Basic for a user, else the bearer token.
    var authorization: String? {
        if !username.isEmpty {
            return "Basic " + Data("\(username):\(password.value)".utf8).base64EncodedString()
        }
        return bearerToken.isEmpty ? nil : "Bearer \(bearerToken.value)"
    }
}

/// How points become remote-write series, as Telegraf's `prometheusremotewrite` serializer and
/// VictoriaMetrics' Influx ingestion do it (README, "Sink `prometheus_remote_write`", has the table).
public struct RemoteWriteMapping: Sendable {
    /// What becomes of string fields, which Prometheus samples cannot hold.
    public enum StringFields: String, Sendable, CaseIterable {
        /// Left out and counted.
        case drop
        /// Added as a label (the field key sanitised, the value verbatim) to every sample of the point.
        case label
    }

    public var stringFields = StringFields.drop

    public init(stringFields: StringFields = .drop) {
        self.stringFields = stringFields
    }
}
