import ConfigReading
import Foundation
import GatewayCore

/// `type: influx2`: line protocol to an InfluxDB 2.x write API (or anything that speaks it), with a
/// spool for outages.
public struct Influx2Settings: SinkSettings {
    public var target: InfluxTarget
    public var precision = Precision.nanoseconds
    public var retry = RetryPolicy()
    public var maxInFlight = 2
    public var spool: SpoolFileSettings

    public init(target: InfluxTarget, spool: SpoolFileSettings) {
        self.target = target
        self.spool = spool
    }

    public static let factory = SinkFactory(type: "influx2", batchSize: 5000, queueSize: 500_000) { map, context in
        read(map, context)
    }

    public var spoolFile: SpoolFileSettings? { spool.enabled ? spool : nil }

    /// The sink's sending settings (the running gateway and `gateway spool replay` build it alike).
    public var configuration: InfluxSink.Configuration {
        .init(target: target, precision: precision, retry: retry, maxInFlight: maxInFlight)
    }

    public func make(_ context: SinkContext) throws -> SinkParts {
        let delivery = DeliveryMetrics(sink: context.name, factory: context.factory)
        let store =
            spool.enabled ? try SpoolStore(path: spool.path, options: spool.options, logger: context.logger) : nil
        let sink = InfluxSink(
            name: context.name,
            configuration: configuration, spool: store, metrics: context.metrics, delivery: delivery,
            logger: context.logger)
        return SinkParts(
            sink: sink, services: [sink.replayService],
            spool: store.map { .init(store: $0, delivery: delivery, replayer: sink) },
            expedite: { sink.expedite() })
    }

    static func read(_ map: ConfigMap, _ context: ConfigContext) -> Influx2Settings {
        var target = InfluxTarget(url: "", org: "", bucket: "", token: "")
        if let url = NetworkSettings.url(map, what: "the InfluxDB base URL, e.g. http://127.0.0.1:8086") {
            target.url = url
        }
        if let api = map["api"]?.oneOf(InfluxTarget.API.allCases.map { ($0.rawValue, $0) }) { target.api = api }
        switch target.api {
        case .v2:
            if let org = map.required("org", what: "the InfluxDB organization")?.string() { target.org = org }
            if let bucket = map.required("bucket", what: "the InfluxDB bucket")?.string() { target.bucket = bucket }
        case .v1:
            if let db = map.required("database", what: "the InfluxDB 1.x database (api: v1)")?.string() {
                target.database = db
            }
            if let v = map["retention_policy"]?.string() { target.retentionPolicy = v }
            if let v = map["username"]?.string() { target.username = v }
            if let v = map["password"]?.string() { target.password = Secret(v) }
        }
        if let token = map["token"]?.string() { target.token = Secret(token) }
        if let gzip = map["gzip"]?.bool() { target.gzip = gzip }
        if let timeout = map["timeout"]?.positiveDuration() { target.timeout = timeout }
        if let v = map["connect_timeout"]?.positiveDuration() { target.connectTimeout = v }
        if let v = map["idle_timeout"]?.positiveDuration() { target.idleTimeout = v }
        var settings = Influx2Settings(
            target: target, spool: SpoolFileSettings(path: SpoolFileSettings.defaultPath(context)))
        if let v = map["precision"]?.oneOf(Precision.allCases.map { ($0.rawValue, $0) }) { settings.precision = v }
        NetworkSettings.read(
            map, context, maxInFlight: &settings.maxInFlight, retry: &settings.retry, spool: &settings.spool)
        return settings
    }
}

extension RetryPolicy {
    /// `retry:` of a network sink.
    mutating func read(_ retry: ConfigMap) {
        if let v = retry["max_retries"]?.int(min: 0) { maxRetries = v }
        if let v = retry["initial_backoff"]?.duration() { initialBackoff = v }
        if let v = retry["max_backoff"]?.duration() { maxBackoff = v }
        if let v = retry["max_wait"]?.duration() { maxWait = v }
        if let v = retry["max_retry_after"]?.duration() { maxRetryAfter = v }
        if initialBackoff <= .zero || initialBackoff > maxBackoff {
            retry.node.problem("initial_backoff must be above zero and at most max_backoff")
        }
    }
}
