import Foundation
import GRDB
import GatewayCore
import Logging
import Metrics
import MetricsTestKit
import TestDoubles
import Testing

@testable import Sinks

/// A spool whose writes fail. The failing disk here is a TEST DOUBLE: temporary triggers on the
/// store's own connection make every insert, update and delete of a batch fail (`RAISE(ABORT)`,
/// SQLite error 19) where a full disk makes them fail with SQLite error 13, and are dropped again
/// when "space returns". A real full filesystem (an 8 MiB tmpfs) is in GatewayTests'
/// SpoolFaultEndToEndTests.
@Suite(.serialized) struct SpoolWriteFaultTests {
    let logger = Logger(label: "test")

    func failWrites(_ store: SpoolStore, _ on: Bool) throws {
        try store.db.writeWithoutTransaction { db in
            for operation in ["INSERT", "UPDATE", "DELETE"] {
                if on {
                    try db.execute(
                        sql: """
                            CREATE TEMP TRIGGER fail_\(operation.lowercased()) BEFORE \(operation) ON main.batches
                            BEGIN SELECT RAISE(ABORT, 'disk full (test double)'); END
                            """)
                } else {
                    try db.execute(sql: "DROP TRIGGER IF EXISTS temp.fail_\(operation.lowercased())")
                }
            }
        }
    }

    @Test func deliveredBatchWhoseDeleteFails_isNeverHandedOutAgain_andDeletedOnceWritesWork() async throws {
        let store = try SpoolStore(path: "\(try temporaryDirectory())/s.db", logger: logger)
        for i in 0..<3 {
            _ = try await store.append(
                try SpoolPayload(points: testPoints(i * 10..<(i + 1) * 10), precision: .nanoseconds))
        }
        let first = try #require(try await store.oldest())
        try failWrites(store, true)
        await #expect(throws: (any Error).self) { try await store.remove(first) }
        #expect(!store.isWritable)
        #expect(store.writeError?.contains("disk full (test double)") == true, "\(store.writeError ?? "")")
        #expect(store.hasUndeletedDeliveries)
        let next = try #require(try await store.oldest())
        #expect(next.id != first.id)
        store.release(next)
        #expect(!store.deleteDelivered())
        try failWrites(store, false)
        #expect(store.deleteDelivered())
        #expect(store.isWritable)
        #expect(!store.hasUndeletedDeliveries)
        #expect(store.batchCount == 2)
        #expect(store.pointCount == 20)
    }

    @Test func appendThatFails_reportsUnwritable_andTheNextOneThatWorksClearsIt() async throws {
        let store = try SpoolStore(path: "\(try temporaryDirectory())/s.db", logger: logger)
        let payload = try SpoolPayload(points: testPoints(0..<10), precision: .nanoseconds)
        try failWrites(store, true)
        await #expect(throws: (any Error).self) { try await store.append(payload) }
        #expect(!store.isWritable)
        #expect(store.batchCount == 0)
        try failWrites(store, false)
        _ = try await store.append(payload)
        #expect(store.isWritable)
        #expect(store.batchCount == 1)
    }

    /// The Influx sink with its server down and its spool unable to write: the batch is held and
    /// the append retried (the worker's `write` does not return, so it takes nothing more from its
    /// queue), nothing is dropped, the health says why; once writes work the batch is spooled.
    @Test func influxSink_spoolCannotWrite_holdsTheBatch_unhealthy_thenSpoolsItWhenWritesWork() async throws {
        let double = InfluxContractDouble()
        try await double.start()
        double.script { _ in .influxError(503, code: "unavailable", message: "down") }
        let metrics = TestMetrics()
        let store = try SpoolStore(path: "\(try temporaryDirectory())/influx.db", logger: logger)
        let delivery = DeliveryMetrics(sink: "influx", factory: metrics)
        let sinkMetrics = SinkMetrics(sink: "influx", factory: metrics)
        let sink = InfluxSink(
            name: "influx",
            configuration: .init(
                target: InfluxTarget(url: double.url, org: "o", bucket: "b", token: "t"),
                retry: RetryPolicy(maxRetries: 0, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(5))),
            spool: store, metrics: sinkMetrics, delivery: delivery, logger: logger)
        try failWrites(store, true)
        let running = sink.startSending()
        let writing = Task {
            try await sink.write(PointBatch(testPoints(0..<100)))
            await sink.flush()
        }
        let deadline = ContinuousClock.now + .seconds(20)
        func writeErrors() -> Int64 {
            (try? metrics.expectCounter("gateway_sink_write_errors_total", [("sink", "influx")]).totalValue) ?? 0
        }
        while writeErrors() < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(writeErrors() >= 3, "the append is retried")
        if case .spoolUnwritable(let why) = sink.health {
            #expect(why.contains("disk full (test double)"))
        } else {
            Issue.record("health: \(sink.health)")
        }
        #expect(try metrics.expectGauge("gateway_sink_healthy", [("sink", "influx")]).lastValue == 0)
        let dropped =
            (try? metrics.expectCounter(
                "gateway_points_dropped_total", [("sink", "influx"), ("reason", "write_error")]
            ).totalValue) ?? 0
        #expect(dropped == 0)
        #expect(store.batchCount == 0)
        try failWrites(store, false)
        try await writing.value
        #expect(store.pointCount == 100)
        #expect(store.isWritable)
        await sink.close()
        await running.value
        try await double.stop()
    }

    /// Replay with the server up and the spool unable to delete: each batch is sent once; replay
    /// waits until the delete works, then goes on with the rest.
    @Test func replay_deleteFails_sendsEachBatchOnce_andGoesOnWhenWritesWork() async throws {
        let double = InfluxContractDouble()
        try await double.start()
        let metrics = TestMetrics()
        let store = try SpoolStore(path: "\(try temporaryDirectory())/influx.db", logger: logger)
        for i in 0..<4 {
            _ = try await store.append(
                try SpoolPayload(points: testPoints(i * 10..<(i + 1) * 10), precision: .nanoseconds))
        }
        let sink = InfluxSink(
            name: "influx",
            configuration: .init(
                target: InfluxTarget(url: double.url, org: "o", bucket: "b", token: "t"), maxInFlight: 2),
            spool: store, metrics: SinkMetrics(sink: "influx", factory: metrics),
            delivery: DeliveryMetrics(sink: "influx", factory: metrics), logger: logger)
        try failWrites(store, true)
        for _ in 0..<5 {
            let delay = await sink.replay()
            #expect(delay != nil, "replay waits while a delivered batch cannot be deleted")
        }
        let sentWhileFull = double.accepted.count
        #expect(sentWhileFull > 0 && sentWhileFull <= 20, "at most max_in_flight batches, each once: \(sentWhileFull)")
        #expect(Set(double.accepted).count == double.accepted.count)
        try failWrites(store, false)
        while !store.isEmpty {
            if let delay = await sink.replay() { try await Task.sleep(for: min(delay, .milliseconds(50))) }
        }
        let encoder = LineProtocolEncoder()
        #expect(double.accepted.sorted() == testPoints(0..<40).map { encoder.line($0) }.sorted())
        await sink.close()
        try await double.stop()
    }
}
