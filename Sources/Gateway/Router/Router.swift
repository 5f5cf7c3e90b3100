import CoreMetrics
import GatewayCore
import Metrics
import Sinks
import Synchronization

/// Sends each point to the sinks its rules name. Rules are tried in order; every matching rule adds
/// its sinks, and a rule with `stop` ends the search. Points no rule sent anywhere go to the
/// default route when there is one, else they are counted as unrouted (never silently lost).
final class Router: Sendable {
    struct Rule: Sendable {
        var name: String
        var series: [Glob]
        var tags: [(key: String, pattern: Glob)]
        var sources: [Glob]
        var sinkMask: UInt64
        var stop: Bool

        /// True for a rule without series or tag conditions: it takes every point of its sources.
        var unconditional: Bool { series.isEmpty && tags.isEmpty }

        func matches(_ point: borrowing Point) -> Bool {
            if unconditional { return true }
            if !series.isEmpty, !series.contains(where: { $0.matches(point.series) }) { return false }
            for (key, pattern) in tags {
                guard let value = point.tag(key), pattern.matches(value) else { return false }
            }
            return true
        }

        func matchesSource(_ source: String) -> Bool {
            sources.isEmpty || sources.contains(where: { $0.matches(source) })
        }
    }

    struct Target: Sendable {
        var name: String
        var queue: SinkQueue
        var metrics: SinkMetrics
    }

    /// Plugins' copies of points (by series), taken before the points go to their sinks.
    struct Tap: Sendable {
        var series: [Glob]
        var receive: @Sendable ([Point]) -> Void
    }

    let rules: [Rule]
    let taps: [Tap]
    let defaultMask: UInt64
    let defaultName: String?
    let targets: [Target]
    /// Live tap clients (`GET /api/v1/tap`); one atomic load per batch while none is attached.
    let liveTap: LiveTap
    let routed: [CoreMetrics.Counter]
    let defaultRouted: CoreMetrics.Counter?
    let unrouted: CoreMetrics.Counter
    /// Callers routing through this router right now (counted by ``Ingest``): a reload waits for 0
    /// before it stops the sinks only this router fed.
    let inUse = Atomic<Int>(0)

    init(
        routes: [RouteConfig], targets: [Target], taps: [Tap] = [], liveTap: LiveTap? = nil,
        factory: any MetricsFactory
    ) {
        self.targets = targets
        self.liveTap = liveTap ?? LiveTap(factory: factory)
        self.taps = taps
        func mask(_ names: [String]) -> UInt64 {
            var mask: UInt64 = 0
            for name in names {
                if let index = targets.firstIndex(where: { $0.name == name }) { mask |= 1 << UInt64(index) }
            }
            return mask
        }
        var rules: [Rule] = []
        var defaultMask: UInt64 = 0
        var defaultName: String?
        for route in routes {
            if route.isDefault {
                defaultMask = mask(route.to)
                defaultName = route.name
                continue
            }
            rules.append(
                Rule(
                    name: route.name, series: route.series.map(Glob.init),
                    tags: route.tags.map { ($0.key, Glob($0.pattern)) }, sources: route.sources.map(Glob.init),
                    sinkMask: mask(route.to), stop: route.stop))
        }
        self.rules = rules
        self.defaultMask = defaultMask
        self.defaultName = defaultName
        routed = rules.map {
            Counter(label: "gateway_points_routed_total", dimensions: [("route", $0.name)], factory: factory)
        }
        defaultRouted = defaultName.map {
            Counter(label: "gateway_points_routed_total", dimensions: [("route", $0)], factory: factory)
        }
        unrouted = Counter(label: "gateway_points_unrouted_total", factory: factory)
    }

    /// Splits `points` per sink. Returns one array per target (empty where nothing goes). When every
    /// point goes to the same single sink (the common case) the input array is handed on as it is.
    func split(_ points: [Point], source: String) -> [[Point]] {
        for tap in taps {
            let copies = points.filter { point in tap.series.contains(where: { $0.matches(point.series) }) }
            if !copies.isEmpty { tap.receive(copies) }
        }
        var perSink = [[Point]](repeating: [], count: targets.count)
        var routedCounts = [Int](repeating: 0, count: rules.count)
        var defaultCount = 0
        var unroutedCount = 0
        // Rules whose source condition holds for this batch (all points of a batch share a source).
        let active = rules.indices.filter { rules[$0].matchesSource(source) }
        var masks = [UInt64]()
        masks.reserveCapacity(points.count)
        var uniform = true
        if active.isEmpty {
            // No rule can match: every point takes the default route, or none.
            masks = [UInt64](repeating: defaultMask, count: points.count)
            if defaultMask != 0 { defaultCount = points.count } else { unroutedCount = points.count }
        } else {
            // Points and rules are read in place: iterating copies would retain every array they hold.
            points.withUnsafeBufferPointer { points in
                rules.withUnsafeBufferPointer { rules in
                    for point in points.indices {
                        var mask: UInt64 = 0
                        for index in active where rules[index].unconditional || rules[index].matches(points[point]) {
                            mask |= rules[index].sinkMask
                            routedCounts[index] += 1
                            if rules[index].stop { break }
                        }
                        if mask == 0 {
                            if defaultMask != 0 {
                                mask = defaultMask
                                defaultCount += 1
                            } else {
                                unroutedCount += 1
                            }
                        }
                        if let first = masks.first, first != mask { uniform = false }
                        masks.append(mask)
                    }
                }
            }
        }
        if liveTap.isActive { liveTap.observe(points, masks: masks, source: source, router: self) }
        if uniform, let mask = masks.first, mask != 0, mask & (mask - 1) == 0 {
            perSink[mask.trailingZeroBitCount] = points
        } else {
            for (point, mask) in zip(points, masks) where mask != 0 {
                var m = mask
                while m != 0 {
                    perSink[m.trailingZeroBitCount].append(point)
                    m &= m - 1
                }
            }
        }
        for (index, count) in routedCounts.enumerated() where count > 0 { routed[index].increment(by: Int64(count)) }
        if defaultCount > 0 { defaultRouted?.increment(by: Int64(defaultCount)) }
        if unroutedCount > 0 { unrouted.increment(by: Int64(unroutedCount)) }
        return perSink
    }

    /// The routes `point` matches from `source`, in order, up to a `stop`; the default route when none
    /// did (the live tap's answer, computed again for the few points a tap client asked for).
    func routeNames(_ point: Point, source: String) -> [String] {
        var names: [String] = []
        for rule in rules where rule.matchesSource(source) && rule.matches(point) {
            names.append(rule.name)
            if rule.stop { break }
        }
        if names.isEmpty, defaultMask != 0, let defaultName { names.append(defaultName) }
        return names
    }

    /// The sinks of a mask, by name.
    func sinkNames(_ mask: UInt64) -> [String] {
        var names: [String] = []
        var m = mask
        while m != 0 {
            names.append(targets[m.trailingZeroBitCount].name)
            m &= m - 1
        }
        return names
    }

    /// Routes without waiting (the UDP event loop). Returns true when some `block` queue is full,
    /// so the caller should pause reading until ``waitForSpace()``.
    func offer(_ points: [Point], source: String) -> Bool {
        var full = false
        for (index, chunk) in split(points, source: source).enumerated() where !chunk.isEmpty {
            let target = targets[index]
            let result = target.queue.offer(chunk)
            if result.dropped > 0 { target.metrics.droppedQueueFull.increment(by: Int64(result.dropped)) }
            if result.full && target.queue.policy == .block { full = true }
        }
        return full
    }

    /// Routes, waiting for room in `block` queues (HTTP requests, plugins). Each queued chunk holds
    /// `acknowledgement` until its sink settles it.
    func push(_ points: [Point], source: String, acknowledgement: Acknowledgement? = nil) async {
        for (index, chunk) in split(points, source: source).enumerated() where !chunk.isEmpty {
            let target = targets[index]
            let dropped = await target.queue.push(chunk, acknowledgement: acknowledgement)
            if dropped > 0 { target.metrics.droppedQueueFull.increment(by: Int64(dropped)) }
        }
    }

    /// True when every `block` queue has room.
    var blockQueuesHaveRoom: Bool {
        targets.allSatisfy { $0.queue.policy != .block || $0.queue.hasRoom }
    }

    /// The `block` queues that are full, by sink name.
    var fullBlockQueues: [String] {
        targets.filter { $0.queue.policy == .block && !$0.queue.hasRoom }.map(\.name)
    }

    /// Waits up to `limit` for every `block` queue to have room; false if one is still full then.
    /// Woken by the queues themselves (no polling): the first to finish of the wait for room and
    /// the deadline cancels the other.
    func waitForRoom(upTo limit: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while !blockQueuesHaveRoom {
            // Room seen by the queues may be taken again by another writer before this one looks.
            if clock.now >= deadline || Task.isCancelled { return false }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.waitForSpace() }
                group.addTask { try? await clock.sleep(until: deadline) }
                await group.next()
                group.cancelAll()
            }
        }
        return true
    }

    /// Returns when every `block` queue has room.
    func waitForSpace() async {
        for target in targets where target.queue.policy == .block {
            await target.queue.waitForSpace()
        }
    }
}
