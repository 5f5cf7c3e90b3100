import ConfigReading
import CoreMetrics
import Foundation
import GatewayCore

/// `type: prometheus_remote_write`: remote write 1.0 to Prometheus' receiver, VictoriaMetrics,
/// Mimir, Cortex or Thanos, with a spool for outages. Its keys mean what the `influx2` sink's keys
/// of the same name mean (batching, `max_in_flight`, timeouts, `retry`, `spool`).
public struct RemoteWriteSettings: SinkSettings {
    public var target: RemoteWriteTarget
    public var retry = RetryPolicy()
    public var maxInFlight = 2
    public var spool: SpoolFileSettings

    public init(target: RemoteWriteTarget, spool: SpoolFileSettings) {
        self.target = target
        self.spool = spool
    }

    public static let factory = SinkFactory(type: "prometheus_remote_write", batchSize: 5000, queueSize: 500_000) {
        map, context in read(map, context)
    }

    public var spoolFile: SpoolFileSettings? { spool.enabled ? spool : nil }

    /// The sink's sending settings. Remote write carries milliseconds, so the spool's line protocol
    /// keeps milliseconds too.
    public var configuration: RemoteWriteSink.Configuration {
        .init(target: target, precision: .milliseconds, retry: retry, maxInFlight: maxInFlight)
    }

    public func make(_ context: SinkContext) throws -> SinkParts {
        let delivery = DeliveryMetrics(sink: context.name, factory: context.factory)
        let store =
            spool.enabled ? try SpoolStore(path: spool.path, options: spool.options, logger: context.logger) : nil
        var configuration = configuration
        configuration.target.droppedStringFields = Counter(
            label: "gateway_sink_fields_dropped_total", dimensions: [("sink", context.name), ("reason", "string")],
            factory: context.factory)
        let sink = RemoteWriteSink(
            name: context.name, configuration: configuration, spool: store, metrics: context.metrics,
            delivery: delivery, logger: context.logger)
        return SinkParts(
            sink: sink, services: [sink.replayService],
            spool: store.map { .init(store: $0, delivery: delivery, replayer: sink) },
            expedite: { sink.expedite() })
    }

    /// Headers the sink sets itself, which `headers:` may not replace.
    static let reservedHeaders: Set<String> = [
        "content-type", "content-encoding", "content-length", "x-prometheus-remote-write-version", "host",
    ]

    static func read(_ map: ConfigMap, _ context: ConfigContext) -> RemoteWriteSettings {
        var target = RemoteWriteTarget(url: "")
        if let url = NetworkSettings.url(map, what: "the receiver's write URL, e.g. http://127.0.0.1:9090/api/v1/write")
        {
            target.url = url
        }
        if let v = map["bearer_token"]?.string() { target.bearerToken = Secret(v) }
        if let v = map["username"]?.string() { target.username = v }
        if let v = map["password"]?.string() { target.password = Secret(v) }
        if !target.bearerToken.isEmpty, !target.username.isEmpty {
            map["bearer_token"]?.problem("give either bearer_token or username/password, not both")
        }
        if !target.password.isEmpty, target.username.isEmpty {
            map["password"]?.problem("a password needs a username")
        }
        if let headers = map["headers"]?.entries() {
            for (name, value) in headers {
                if !isToken(name) {
                    value.problem("\"\(name)\" is not a valid HTTP header name")
                } else if reservedHeaders.contains(name.lowercased()) {
                    value.problem("the sink sets \(name) itself (remote write prescribes it)")
                } else if let text = value.string() {
                    target.headers.append((name, Secret(text)))
                }
            }
        }
        if let v = map["string_fields"]?.oneOf(RemoteWriteMapping.StringFields.allCases.map { ($0.rawValue, $0) }) {
            target.mapping.stringFields = v
        }
        if let v = map["timeout"]?.positiveDuration() { target.timeout = v }
        if let v = map["connect_timeout"]?.positiveDuration() { target.connectTimeout = v }
        if let v = map["idle_timeout"]?.positiveDuration() { target.idleTimeout = v }
        var settings = RemoteWriteSettings(
            target: target, spool: SpoolFileSettings(path: SpoolFileSettings.defaultPath(context)))
        NetworkSettings.read(
            map, context, maxInFlight: &settings.maxInFlight, retry: &settings.retry, spool: &settings.spool)
        return settings
    }

    /// RFC 9110's token: the characters a header name may hold.
    static func isToken(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                    || "!#$%&'*+-.^_`|~".utf8.contains(b)
            }
    }
}
