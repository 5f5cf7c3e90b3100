import GatewayCore
import Sinks
import Testing

@testable import Gateway

@Suite struct RouterTests {
    func makeRouter(_ routes: [RouteConfig], sinks: [String]) -> (Router, GatewayMetrics) {
        let metrics = GatewayMetrics()
        let targets = sinks.map {
            Router.Target(
                name: $0, queue: SinkQueue(capacity: 1000, policy: .dropNewest),
                metrics: SinkMetrics(sink: $0, factory: metrics.factory))
        }
        return (Router(routes: routes, targets: targets, factory: metrics.factory), metrics)
    }

    /// A writer waits for room in full `block` queues, woken by them; a queue full by its bytes counts
    /// as full; a closed one (its sink stopping) holds nobody: the writer goes on and the queue refuses.
    @Test func waitForRoom_wakesOnRoom_andAClosedQueueHoldsNobody() async {
        let metrics = GatewayMetrics()
        let queue = SinkQueue(capacity: 1_000_000, policy: .block, maxBytes: 1)
        let router = Router(
            routes: [route("all", to: ["q"])],
            targets: [
                Router.Target(name: "q", queue: queue, metrics: SinkMetrics(sink: "q", factory: metrics.factory))
            ],
            factory: metrics.factory)
        queue.offer([point("a")])
        #expect(!router.blockQueuesHaveRoom && router.fullBlockQueues == ["q"])
        #expect(await router.waitForRoom(upTo: .milliseconds(30)) == false)
        let waiting = Task { await router.waitForRoom(upTo: .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(20))
        queue.takeBatch(max: 10).settle()
        #expect(await waiting.value == true)
        queue.offer([point("b")])
        queue.close()
        let clock = ContinuousClock()
        let start = clock.now
        #expect(router.blockQueuesHaveRoom && router.fullBlockQueues.isEmpty)
        #expect(await router.waitForRoom(upTo: .seconds(30)) == true)
        #expect(clock.now - start < .seconds(5))
    }

    func route(
        _ name: String, series: [String] = [], tags: [(String, String)] = [], sources: [String] = [], to: [String],
        stop: Bool = false, isDefault: Bool = false
    ) -> RouteConfig {
        RouteConfig(
            name: name, series: series, tags: tags.map { (key: $0.0, pattern: $0.1) }, sources: sources, to: to,
            stop: stop,
            isDefault: isDefault)
    }

    func point(_ series: String, _ tags: [GatewayCore.Tag] = []) -> Point {
        Point(series: series, time: 1, tags: tags, fields: [Field("v", .int(1))])
    }

    @Test func rulesMatchSeriesGlobsTagsAndSource_inOrder_withStop() {
        let (router, metrics) = makeRouter(
            [
                route(
                    "luna", series: ["requests", "subtask_*"], tags: [("service", "luna-*")], to: ["influx"], stop: true
                ),
                route("udp-only", sources: ["udp"], to: ["archive"]),
                route("all", to: ["console"]),
            ], sinks: ["influx", "archive", "console"])
        let points = [
            point("requests", [GatewayCore.Tag("service", "luna-tasks")]),
            point("subtask_final", [GatewayCore.Tag("service", "luna-tasks")]),
            point("requests", [GatewayCore.Tag("service", "other")]),
            point("cpu"),
        ]
        let split = router.split(points, source: "udp")
        #expect(split[0].map(\.series) == ["requests", "subtask_final"])
        #expect(split[1].map(\.series) == ["requests", "cpu"])
        #expect(split[2].map(\.series) == ["requests", "cpu"])
        let fromHTTP = router.split(points, source: "http")
        #expect(fromHTTP[1].isEmpty)
        let snapshot = metrics.snapshot()
        #expect(snapshot.value("gateway_points_routed_total", ["route": "luna"]) == 4)
        #expect(snapshot.value("gateway_points_routed_total", ["route": "udp-only"]) == 2)
    }

    @Test func unmatchedPoints_goToTheDefaultRoute_orAreCountedUnrouted() {
        let (router, metrics) = makeRouter([route("cpu", series: ["cpu"], to: ["a"])], sinks: ["a", "b"])
        let split = router.split([point("cpu"), point("mem"), point("disk")], source: "udp")
        #expect(split[0].count == 1)
        #expect(metrics.snapshot().value("gateway_points_unrouted_total") == 2)

        let (withDefault, metrics2) = makeRouter(
            [route("cpu", series: ["cpu"], to: ["a"]), route("rest", to: ["b"], isDefault: true)], sinks: ["a", "b"])
        let split2 = withDefault.split([point("cpu"), point("mem")], source: "udp")
        #expect(split2[1].map(\.series) == ["mem"])
        #expect(metrics2.snapshot().value("gateway_points_unrouted_total") == 0)
        #expect(metrics2.snapshot().value("gateway_points_routed_total", ["route": "rest"]) == 1)
    }

    @Test func aFullDropNewestQueue_countsItsDrops() {
        let metrics = GatewayMetrics()
        let queue = SinkQueue(capacity: 3, policy: .dropNewest)
        let router = Router(
            routes: [route("all", to: ["a"])],
            targets: [
                Router.Target(name: "a", queue: queue, metrics: SinkMetrics(sink: "a", factory: metrics.factory))
            ],
            factory: metrics.factory)
        _ = router.offer((0..<5).map { _ in point("x") }, source: "udp")
        #expect(queue.count == 3)
        #expect(metrics.snapshot().value("gateway_points_dropped_total", ["sink": "a", "reason": "queue_full"]) == 2)
    }

    @Test func globs() {
        #expect(Glob("*").matches("anything"))
        #expect(Glob("sub*_final").matches("subtask_final"))
        #expect(!Glob("sub*_final").matches("subtask_finals"))
        #expect(Glob("h?st").matches("host"))
        #expect(Glob("[ab]x").matches("bx"))
        #expect(!Glob("[!ab]x").matches("ax"))
        #expect(Glob("GET:/*").matches("GET:/version"))
        #expect(Glob("exact").matches("exact"))
        #expect(!Glob("exact").matches("exactly"))
    }
}
