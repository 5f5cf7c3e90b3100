import ConfigReading
import Foundation
import GatewayCore
import Testing

@testable import Gateway

/// `type: statsd` settings as `gateway check` and `gateway run` read them.
@Suite struct StatsDListenerConfigTests {
    func statsd(_ listener: String) throws -> (StatsDListenerConfig?, [String]) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString).yaml").path
        try """
        listeners:
          sd: \(listener)
        sinks: {out: {type: blackhole}}
        routes: [{to: [out]}]
        """.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let config = try ConfigLoader(environment: [:]).load(path: path)
            return (config.listeners.first?.settings as? StatsDListenerConfig, [])
        } catch {
            return (nil, error.problems.map { $0.description.replacingOccurrences(of: path, with: "FILE") })
        }
    }

    @Test func defaults_areTelegrafs() throws {
        let (config, problems) = try statsd("{type: statsd}")
        #expect(problems.isEmpty)
        let c = try #require(config)
        #expect(c.listen.port == 8125 && c.listen.host == "127.0.0.1" && c.transport == .udp)
        #expect(c.flushInterval == .seconds(10) && c.aggregation.percentiles == [50, 90, 99])
        #expect(c.aggregation.maxSeries == 100_000 && c.aggregation.deleteCounters && c.aggregation.deleteTimings)
        #expect(!c.aggregation.floatCounters && c.aggregation.metricSeparator == "_")
    }

    @Test func everySetting_isRead() throws {
        let (config, problems) = try statsd(
            """
            {type: statsd, listen: "127.0.0.1:9125", protocol: both, receive_buffer: 1MiB, max_datagram: 8KiB,
               flush_interval: 2s, percentiles: [75, 99.9, 75], max_series: 50, timing_samples: 10, set_members: 20,
               delete_counters: false, delete_gauges: false, delete_sets: false, delete_timings: false,
               float_counters: true, metric_separator: "."}
            """)
        #expect(problems.isEmpty, "\(problems)")
        let c = try #require(config)
        #expect(c.listen.port == 9125 && c.transport == .both && c.receiveBuffer == 1 << 20 && c.maxDatagram == 8192)
        #expect(c.flushInterval == .seconds(2) && c.aggregation.percentiles == [75, 99.9])
        #expect(c.aggregation.maxSeries == 50 && c.aggregation.timingSamples == 10 && c.aggregation.setMembers == 20)
        #expect(!c.aggregation.deleteCounters && !c.aggregation.deleteGauges && !c.aggregation.deleteSets)
        #expect(!c.aggregation.deleteTimings)
        #expect(c.aggregation.floatCounters && c.aggregation.metricSeparator == ".")
    }

    @Test func badSettings_areReportedWithTheirPlace() throws {
        let (_, problems) = try statsd(
            "{type: statsd, protocol: sctp, percentiles: [0, 50, x], flush_interval: 10ms, max_series: 0, nosuch: 1}")
        let text = problems.joined(separator: "\n")
        #expect(text.contains("sd.protocol: expected one of udp, tcp, both, got \"sctp\""), "\(text)")
        #expect(text.contains("expected a percentile above 0 and below 100"), "\(text)")
        #expect(text.contains("sd.flush_interval: expected at least 100ms"), "\(text)")
        #expect(text.contains("sd.max_series"), "\(text)")
        #expect(text.contains("nosuch"), "\(text)")
    }
}
