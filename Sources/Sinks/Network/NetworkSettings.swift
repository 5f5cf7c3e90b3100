import ConfigReading
import Foundation
import GatewayCore

/// The keys every network sink reads alike (`influx2`, `prometheus_remote_write`): its URL,
/// `max_in_flight`, `retry:` and `spool:`.
enum NetworkSettings {
    /// An http:// or https:// URL with a host; `what` says what it is in the message when missing.
    static func url(_ map: ConfigMap, what: String) -> String? {
        guard let url = map.required("url", what: what)?.string() else { return nil }
        if url.isEmpty {
            map["url"]?.problem("the URL is empty (is the environment variable it comes from set?)")
        } else if let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil {
            return url
        } else {
            map["url"]?.problem("expected an http:// or https:// URL, got \"\(Redact.url(url))\"")
        }
        return nil
    }

    /// `max_in_flight`, `retry:` and `spool:` (`spool: false`, or a mapping).
    static func read(
        _ map: ConfigMap, _ context: ConfigContext, maxInFlight: inout Int, retry: inout RetryPolicy,
        spool: inout SpoolFileSettings
    ) {
        if let v = map["max_in_flight"]?.int(min: 1) {
            if v > 16 {
                map["max_in_flight"]?.problem("expected 1 to 16 batches on the wire at once, got \(v)")
            } else {
                maxInFlight = v
            }
        }
        if let retryMap = map["retry"]?.map() {
            retry.read(retryMap)
            retryMap.finish()
        }
        if let node = map["spool"] {
            if case .scalar = node.node {
                if let enabled = node.bool() { spool.enabled = enabled }
            } else if let spoolMap = node.map() {
                if let enabled = spoolMap["enabled"]?.bool() { spool.enabled = enabled }
                spool.read(spoolMap, context)
                spoolMap.finish()
            }
        }
    }
}
