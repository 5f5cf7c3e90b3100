import CoreMetrics
import Testing

@testable import Gateway

/// The readable copies `/api/v1/status` reads: the same figures Prometheus exports.
@Suite struct MetricsTallyTests {
    @Test func counters_andGauges_readBackWhatWasRecorded_sharedPerSeries() {
        let metrics = GatewayMetrics()
        let a = Counter(label: "gateway_points_written_total", dimensions: [("sink", "a")], factory: metrics.factory)
        let again = Counter(
            label: "gateway_points_written_total", dimensions: [("sink", "a")], factory: metrics.factory)
        let b = Counter(label: "gateway_points_written_total", dimensions: [("sink", "b")], factory: metrics.factory)
        let queue = Gauge(label: "gateway_sink_queue_points", dimensions: [("sink", "a")], factory: metrics.factory)
        let unwatched = Counter(label: "gateway_something_else_total", factory: metrics.factory)
        a.increment(by: 5)
        again.increment(by: 2)
        b.increment()
        queue.record(40)
        queue.record(12)
        unwatched.increment()
        let readings = Dictionary(
            uniqueKeysWithValues: metrics.tally.readings().map { ("\($0.label)\($0.dimensions)", $0.value) })
        #expect(readings["gateway_points_written_total[\"sink\": \"a\"]"] == 7)
        #expect(readings["gateway_points_written_total[\"sink\": \"b\"]"] == 1)
        #expect(readings["gateway_sink_queue_points[\"sink\": \"a\"]"] == 12)
        #expect(readings.count == 3, "only the families the status reads: \(readings)")
        let snapshot = metrics.snapshot()
        #expect(snapshot.value("gateway_points_written_total", ["sink": "a"]) == 7)
        #expect(snapshot.value("gateway_something_else_total") == 1, "Prometheus still gets every family")
    }

    @Test func status_isBuiltFromTheTally() {
        let metrics = GatewayMetrics()
        let received = Counter(
            label: "gateway_points_received_total", dimensions: [("listener", "http")], factory: metrics.factory)
        let rejected = Counter(
            label: "gateway_points_rejected_total", dimensions: [("listener", "http"), ("reason", "bad_line")],
            factory: metrics.factory)
        let dropped = Counter(
            label: "gateway_points_dropped_total", dimensions: [("sink", "out"), ("reason", "queue_full")],
            factory: metrics.factory)
        let routed = Counter(
            label: "gateway_points_routed_total", dimensions: [("route", "all")], factory: metrics.factory)
        received.increment(by: 10)
        rejected.increment(by: 3)
        dropped.increment(by: 4)
        routed.increment(by: 7)
        let status = StatusReporter(metrics: metrics, name: "gw").status()
        #expect(status.listeners["http"] == ListenerStatus(pointsReceived: 10, pointsRejected: ["bad_line": 3]))
        #expect(status.sinks["out"] == SinkStatus(pointsDropped: ["queue_full": 4]))
        #expect(status.routes == ["all": 7])
        #expect(status.pointsUnrouted == 0)
        #expect(status.status == "pass")
    }
}
