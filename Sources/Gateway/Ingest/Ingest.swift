import Foundation
import GatewayCore
import Logging
import Synchronization

/// The path every input takes after its transport: decode, normalise (default tags, receive time),
/// validate against schemas, count, and keep what was refused. One per source (listener).
final class Ingest: Sendable {
    let source: String
    let metrics: ListenerMetrics
    let defaultTags: [Tag]
    let deadLetter: DeadLetterFile?
    let log: RateLimitedLog
    /// Series caches for decoders that may run on any thread (HTTP requests): one is taken for a
    /// decode and given back, so repeated series are decoded once per cache, not once per request.
    private let cachePool = Mutex<[SeriesCache]>([])
    /// The routes and schemas points take; a reload swaps them (``swap(router:schemas:)``).
    private let pipeline: Mutex<(router: Router, schemas: SchemaSet)>

    init(
        source: String, metrics: ListenerMetrics, defaultTags: [Tag], schemas: SchemaSet, router: Router,
        deadLetter: DeadLetterFile?, logger: Logger
    ) {
        self.source = source
        self.metrics = metrics
        self.defaultTags = defaultTags
        self.pipeline = Mutex((router, schemas))
        self.deadLetter = deadLetter
        self.log = RateLimitedLog(logger: logger)
    }

    /// The router points take now.
    var router: Router { pipeline.withLock { $0.router } }
    /// The schemas points are checked against now.
    var schemas: SchemaSet { pipeline.withLock { $0.schemas } }

    /// A reload's new routes and schemas: from the next batch on. Returns the router it replaced;
    /// once that router's ``Router/inUse`` is 0, no point can reach its queues any more.
    @discardableResult
    func swap(router: Router, schemas: SchemaSet) -> Router {
        pipeline.withLock { current in
            defer { current = (router, schemas) }
            return current.router
        }
    }

    /// The current router, counted as in use until ``leave(_:)`` (taken under the same lock a swap
    /// takes, so a reload that saw the old router idle knows no caller still holds it).
    private func enter() -> Router {
        pipeline.withLock { current in
            current.router.inUse.add(1, ordering: .acquiring)
            return current.router
        }
    }

    private func leave(_ router: Router) { router.inUse.subtract(1, ordering: .releasing) }

    /// Routes without waiting (event loops); true when a `block` queue is full (see ``Router/offer``).
    func offer(_ points: [Point]) -> Bool {
        let router = enter()
        defer { leave(router) }
        return router.offer(points, source: source)
    }

    /// Routes, waiting for room in `block` queues (see ``Router/push``).
    func push(_ points: [Point], acknowledgement: Acknowledgement? = nil) async {
        let router = enter()
        defer { leave(router) }
        await router.push(points, source: source, acknowledgement: acknowledgement)
    }

    /// Returns when every `block` queue of the current routes has room.
    func waitForSpace() async { await router.waitForSpace() }

    static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Decodes `bytes` (format by its first byte unless given), appending points to `points`.
    /// Malformed lines are counted, logged (rate-limited) and dead-lettered here; the returned
    /// errors are for the caller's answer (HTTP).
    /// `linePrecision` is the unit of line-protocol timestamps, `jsonPrecision` that of JSON `time`.
    /// `cache` (from ``makeSeriesCache()``, used by one thread at a time) remembers decoded series;
    /// without one, a pooled cache is used.
    @discardableResult
    func decode(
        _ bytes: UnsafeRawBufferPointer, format: PayloadFormat? = nil, linePrecision: Precision = .nanoseconds,
        jsonPrecision: Precision = .seconds, receiveTime: Int64, into points: inout [Point], cache: SeriesCache? = nil
    ) -> [PointError] {
        var errors: [PointError] = []
        let before = points.count
        switch format ?? PayloadFormat.detect(bytes) {
        case .lineProtocol:
            let decoder = LineProtocolDecoder(precision: linePrecision, defaultTags: defaultTags)
            if let cache {
                decoder.decode(bytes, receiveTime: receiveTime, into: &points, errors: &errors, cache: cache)
            } else {
                let pooled = cachePool.withLock { $0.popLast() } ?? makeSeriesCache()
                decoder.decode(bytes, receiveTime: receiveTime, into: &points, errors: &errors, cache: pooled)
                // At most a few are kept (each holds up to 8,192 series): a burst of concurrent
                // requests makes extra caches that are freed once used.
                cachePool.withLock { if $0.count < 4 { $0.append(pooled) } }
            }
        case .json:
            JSONPointDecoder(precision: jsonPrecision)
                .decode(bytes, receiveTime: receiveTime, into: &points, errors: &errors)
            addDefaultTags(&points, from: before)
        }
        metrics.received.increment(by: Int64(points.count - before + errors.count))
        for error in errors {
            // A JSON error may not carry the text it is about: show the start of the input then.
            let input = error.text.isEmpty ? String(decoding: bytes.prefix(200), as: UTF8.self) : error.text
            reject(error, input: input, receiveTime: receiveTime)
        }
        return errors
    }

    /// A cache for one decoding thread (an event loop), holding this source's default tags.
    func makeSeriesCache() -> SeriesCache {
        SeriesCache(slots: 8192, defaultTags: defaultTags)
    }

    /// Counts, logs and keeps one refused line or point.
    func reject(_ error: PointError, input: String, receiveTime: Int64) {
        metrics.rejected(error.reason)
        log.warning(
            "input rejected",
            metadata: [
                "source": "\(source)", "reason": "\(error.reason)", "error": "\(error)",
                "input": "\(input.prefix(200))",
            ])
        deadLetter?.record(source: source, error: error, input: input, receiveTime: receiveTime)
    }

    /// Adds the default tags to `points[from...]` where they lack them.
    func addDefaultTags(_ points: inout [Point], from: Int = 0) {
        guard !defaultTags.isEmpty else { return }
        for i in from..<points.count {
            for tag in defaultTags { points[i].tags.addIfAbsent(tag) }
        }
    }

    /// Validates schemas in place; points that fail are removed, counted and returned as errors
    /// (with `line` = the point's 1-based position in `points`). Points from ``decode`` already carry
    /// the default tags (the line-protocol decoder adds them once per series); other points (from
    /// plugins) get them first with ``addDefaultTags(_:from:)``.
    @discardableResult
    func normalise(_ points: inout [Point], receiveTime: Int64) -> [PointError] {
        var failures: [PointError] = []
        let schemas = self.schemas
        if !schemas.isEmpty {
            var kept = 0
            for i in points.indices {
                var point = points[i]
                if let reason = schemas.validate(&point) {
                    let error = PointError(line: i + 1, column: 0, reason: .schema, message: reason)
                    failures.append(error)
                    reject(error, input: LineProtocolEncoder().line(point), receiveTime: receiveTime)
                } else {
                    points[kept] = point
                    kept += 1
                }
            }
            points.removeLast(points.count - kept)
        }
        metrics.accepted.increment(by: Int64(points.count))
        return failures
    }
}
