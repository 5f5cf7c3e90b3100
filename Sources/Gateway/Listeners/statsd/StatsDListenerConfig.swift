import ConfigReading
import GatewayCore
import ServiceLifecycle

/// `type: statsd`: StatsD and DogStatsD lines over UDP and/or TCP, aggregated per flush interval
/// (see the README's statsd section).
struct StatsDListenerConfig: Sendable {
    enum Transport: String, Sendable, CaseIterable {
        case udp, tcp, both
    }

    var listen = HostPort(host: "127.0.0.1", port: 8125)
    var transport = Transport.udp
    /// SO_RCVBUF asked for (SO_RCVBUFFORCE where permitted).
    var receiveBuffer = 8 * 1024 * 1024
    /// Largest datagram accepted whole (UDP), longest line (TCP).
    var maxDatagram = 65_536
    /// Datagrams read per system call (recvmmsg).
    var vectorReads = 64
    /// Aggregation interval; flushes fall on multiples of it (Unix time).
    var flushInterval = Duration.seconds(10)
    var aggregation = StatsDAggregation()
}

extension StatsDListenerConfig: ListenerSettings {
    static let factory = ListenerFactory(type: "statsd") { map, _ in read(map) }

    var socket: (proto: String, address: HostPort) { (transport == .tcp ? "tcp" : "udp", listen) }

    func make(_ context: ListenerContext) throws -> any Service {
        StatsDListener(
            name: context.name, config: self, ingest: context.ingest, metrics: context.metrics, logger: context.logger)
    }

    static func read(_ map: ConfigMap) -> StatsDListenerConfig {
        var config = StatsDListenerConfig()
        if let v = map["listen"]?.hostPort() { config.listen = v }
        if let v = map["protocol"]?.oneOf(Transport.allCases.map { ($0.rawValue, $0) }) { config.transport = v }
        if let v = map["receive_buffer"]?.size() { config.receiveBuffer = v }
        if let v = map["max_datagram"]?.size() {
            if v < 512 || v > 65_536 {
                map["max_datagram"]?.problem("expected a size from 512 to 64KiB, got \(v)")
            } else {
                config.maxDatagram = v
            }
        }
        if let v = map["vector_reads"]?.positiveInt() { config.vectorReads = min(v, 1024) }
        if let v = map["flush_interval"]?.positiveDuration() {
            if v < .milliseconds(100) {
                map["flush_interval"]?.problem("expected at least 100ms")
            } else {
                config.flushInterval = v
            }
        }
        if let node = map["percentiles"], let items = node.sequence() {
            var percentiles: [Double] = []
            for item in items {
                guard let text = item.string(), let p = Double(text), p > 0, p < 100 else {
                    item.problem("expected a percentile above 0 and below 100")
                    continue
                }
                if !percentiles.contains(p) { percentiles.append(p) }
            }
            config.aggregation.percentiles = percentiles
        }
        if let v = map["max_series"]?.positiveInt() { config.aggregation.maxSeries = v }
        if let v = map["timing_samples"]?.positiveInt() { config.aggregation.timingSamples = v }
        if let v = map["set_members"]?.positiveInt() { config.aggregation.setMembers = v }
        if let v = map["delete_counters"]?.bool() { config.aggregation.deleteCounters = v }
        if let v = map["delete_gauges"]?.bool() { config.aggregation.deleteGauges = v }
        if let v = map["delete_sets"]?.bool() { config.aggregation.deleteSets = v }
        if let v = map["delete_timings"]?.bool() { config.aggregation.deleteTimings = v }
        if let v = map["float_counters"]?.bool() { config.aggregation.floatCounters = v }
        if let node = map["metric_separator"] {
            if let v = node.string(), !v.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
                config.aggregation.metricSeparator = v
            } else {
                node.problem("expected a string without control characters, such as \"_\" or \".\"")
            }
        }
        return config
    }
}
