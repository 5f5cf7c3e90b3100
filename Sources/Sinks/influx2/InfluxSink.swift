import GatewayCore
import Logging
import ServiceLifecycle
import Synchronization

/// The `influx2` sink: writes batches to InfluxDB 2.x's `/api/v2/write` and follows its status
/// contract. What it cannot deliver goes to a SQLite spool and is replayed, oldest first, by
/// ``replayService`` as soon as the server answers again.
///
/// Order: a batch is sent directly only while the spool is empty; otherwise it is appended to
/// the spool, behind the backlog. A spooled batch leaves the spool only once the server
/// confirmed it (or refused its lines for good, which dead-letters them).
///
/// Accounting (every point ends in exactly one of these): `written` (delivered directly),
/// `spooled` then `replayed` (delivered from the spool), `dead_lettered`, `dropped{reason}`.
public final class InfluxSink: Sink, ClosableSink, Sendable {
    public struct Configuration: Sendable {
        public var target: InfluxTarget
        public var precision: Precision
        public var retry: RetryPolicy
        /// Batches on the wire at once (each on its own connection). 1 keeps batches in order; more
        /// keep the server busy while a response travels back; batches in flight together may arrive
        /// in either order (each point keeps its timestamp), and enter the spool in the order sent.
        public var maxInFlight: Int

        public init(
            target: InfluxTarget, precision: Precision = .nanoseconds, retry: RetryPolicy = RetryPolicy(),
            maxInFlight: Int = 1
        ) {
            self.target = target
            self.precision = precision
            self.retry = retry
            self.maxInFlight = max(1, maxInFlight)
        }
    }

    public enum Health: Sendable, Equatable {
        case healthy
        /// Failing for a reason that may pass (network, 5xx, throttling); retrying.
        case retrying(String)
        /// Refused (401, 403, 404): holding data in the spool until the configuration is fixed.
        case refused(String)
        /// The spool cannot write (disk full, I/O error): the sink takes nothing more from its queue.
        case spoolUnwritable(String)

        public var text: String {
            switch self {
            case .healthy: return "healthy"
            case .retrying(let why): return "retrying: \(why)"
            case .refused(let why): return "refused: \(why)"
            case .spoolUnwritable(let why): return "spool cannot write: \(why)"
            }
        }
    }

    struct State {
        var health = Health.healthy
        var shuttingDown = false
        /// Shutdown passed its deadline: nothing more is sent, everything goes to the spool.
        var expedited = false
        /// The replayer sleeps on this between attempts; append and `replayNow` wake it.
        var replayWaiter: CheckedContinuation<Void, Never>?
        var replayWakePending = false
        /// Set by what may cut a backoff short: its own timer, `replayNow`, shutdown.
        var urgentWake = false
        /// Consecutive failed replay attempts (sets the backoff).
        var replayFailures = 0
        /// A delay the server asked for (Retry-After) that the replayer honours first.
        var serverDelay: Duration?
    }

    public let name: String
    public let configuration: Configuration
    public let spool: SpoolStore?
    let client: InfluxClient
    let metrics: SinkMetrics
    let delivery: DeliveryMetrics
    let logger: Logger
    let clock: any Clock<Duration>
    private let state = Mutex(State())
    /// Batches on the wire, oldest first.
    private let inFlight = Mutex<[Task<Void, Never>]>([])
    /// Spooled batches on the wire (replay), cancelled by ``expedite()``.
    private let replaying = Mutex<[Task<DeliveryResult, Never>]>([])

    public init(
        name: String, configuration: Configuration, spool: SpoolStore?, metrics: SinkMetrics,
        delivery: DeliveryMetrics, logger: Logger, clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.name = name
        self.configuration = configuration
        self.spool = spool
        self.client = InfluxClient(target: configuration.target)
        self.metrics = metrics
        self.delivery = delivery
        self.logger = logger
        self.clock = clock
        delivery.healthy.record(1)
    }

    public var countsOwnWrites: Bool { true }
    /// The delivery health, unless the spool cannot write, which comes first.
    public var health: Health {
        if let why = spool?.writeError { return .spoolUnwritable(why) }
        return state.withLock { $0.health }
    }

    // MARK: Direct path (the sink worker calls this, one batch at a time)

    /// Encodes and compresses the batch while earlier ones are still on the wire, then waits until
    /// fewer than `maxInFlight` are (with 1, until the previous one is settled: delivered or spooled)
    /// before sending it. While the spool holds a backlog, the batch is appended behind it instead.
    ///
    /// The batch is settled (``PointBatch/settle()``) once it is delivered, dead-lettered, spooled
    /// or dropped, which may be after this returns.
    public func write(_ batch: PointBatch) async throws {
        if batch.isEmpty { return batch.settle() }
        let raw = LineProtocolEncoder(precision: configuration.precision).encode(batch)
        let payload: SpoolPayload
        do {
            payload = try SpoolPayload(raw: raw, points: batch.count, precision: configuration.precision)
        } catch {
            batch.settle()
            throw error
        }
        await waitForRoom()
        if let spool, !spool.isEmpty || state.withLock({ $0.expedited }) {
            await flush()
            if await store(payload) == .lost { batch.abandon() }
            return batch.settle()
        }
        let previous = inFlight.withLock { $0.last }
        let sending = Task {
            if await self.send(payload, raw: raw, after: previous) == .lost { batch.abandon() }
            batch.settle()
        }
        inFlight.withLock { $0.append(sending) }
    }

    public var settlesBatches: Bool { true }

    /// Waits until fewer than `maxInFlight` batches are on the wire.
    func waitForRoom() async {
        while true {
            let oldest = inFlight.withLock { tasks -> Task<Void, Never>? in
                tasks.count >= configuration.maxInFlight ? tasks.removeFirst() : nil
            }
            guard let oldest else { return }
            await oldest.value
        }
    }

    /// Waits until every batch on the wire is settled (delivered, dead-lettered, spooled or dropped).
    public func flush() async {
        let pending = inFlight.withLock { tasks -> [Task<Void, Never>] in
            defer { tasks = [] }
            return tasks
        }
        for task in pending { await task.value }
    }

    /// Delivers one batch. A batch that must go to the spool first waits until the batch sent before
    /// it (`previous`) is settled, so batches enter the spool in the order they were sent and replay
    /// stays oldest first whatever `maxInFlight` is.
    @discardableResult
    func send(_ payload: SpoolPayload, raw: [UInt8], after previous: Task<Void, Never>? = nil) async -> Kept {
        let shuttingDown = state.withLock { $0.shuttingDown }
        var retry = configuration.retry
        if shuttingDown { retry.maxRetries = 0 }
        let result = await deliver(
            Chunk(payload: payload, raw: raw), policy: retry, budget: retry.maxWait, bound: retry.maxWait)
        metrics.written.increment(by: Int64(result.delivered))
        if result.delivered > 0 { metrics.batches.increment() }
        guard let failure = result.failure else {
            setHealth(.healthy)
            return .kept
        }
        setHealth(failure.health)
        guard let remainder = result.remainder else { return .kept }
        if spool != nil {
            logger.warning(
                "write failed, batch spooled for replay",
                metadata: [
                    "status": "\(failure.outcome.statusText)", "error": "\(failure.outcome.message)",
                    "points": "\(remainder.points)",
                ])
            state.withLock { $0.serverDelay = failure.serverDelay }
            await previous?.value
            return await store(remainder)
        } else {
            metrics.writeErrors.increment()
            metrics.droppedWriteError.increment(by: Int64(remainder.points))
            logger.error(
                "write failed and the spool is off: batch dropped",
                metadata: [
                    "status": "\(failure.outcome.statusText)", "error": "\(failure.outcome.message)",
                    "points": "\(remainder.points)",
                ])
            return .dropped
        }
    }

    /// What became of a batch the sink took.
    enum Kept {
        /// Delivered, dead-lettered or spooled.
        case kept
        /// Dropped by a policy the operator chose (spool off, `when_full: drop_newest`), counted.
        case dropped
        /// Dropped at shutdown because the spool could not take it: a source that journaled the
        /// points (`ack: durable`) keeps them for the next start.
        case lost
    }

    /// Appends to the spool, applying its full policy; wakes the replayer. While the spool cannot
    /// write (disk full, I/O error) the batch is held here and the append retried with backoff, so
    /// the sink takes nothing more from its queue and the queue's `when_full` applies upstream.
    @discardableResult
    func store(_ payload: SpoolPayload) async -> Kept {
        guard let spool else { return .dropped }
        var failures = 0
        while true {
            do {
                defer { if failures > 0 { recordHealth() } }
                switch try await spool.append(payload) {
                case .stored(let droppedBatches, let droppedPoints):
                    delivery.spooled.increment(by: Int64(payload.points))
                    if droppedBatches > 0 {
                        delivery.droppedSpoolFull.increment(by: Int64(droppedPoints))
                        logger.error(
                            "spool full (max_size): dropped the oldest batches to keep the newest",
                            metadata: ["dropped_batches": "\(droppedBatches)", "dropped_points": "\(droppedPoints)"])
                    }
                    wakeReplayer()
                    return .kept
                case .refused:
                    delivery.droppedSpoolFull.increment(by: Int64(payload.points))
                    logger.error(
                        "spool full (max_size, when_full: drop_newest): batch dropped",
                        metadata: ["points": "\(payload.points)", "spool_bytes": "\(spool.byteCount)"])
                    return .dropped
                case .full:
                    if state.withLock({ $0.shuttingDown }) {
                        delivery.droppedSpoolFull.increment(by: Int64(payload.points))
                        logger.error(
                            "spool full (when_full: block) at shutdown: batch dropped",
                            metadata: ["points": "\(payload.points)"])
                        return .lost
                    }
                    try? await clock.sleep(for: .milliseconds(50), tolerance: nil)
                }
            } catch {
                // The spool logs the fault (rate-limited) and reports it as the sink's health.
                failures += 1
                metrics.writeErrors.increment()
                if state.withLock({ $0.shuttingDown }), failures >= Self.spoolAttemptsAtShutdown {
                    metrics.droppedWriteError.increment(by: Int64(payload.points))
                    logger.error(
                        "cannot write to the spool at shutdown: batch dropped",
                        metadata: ["points": "\(payload.points)", "error": "\(error)", "path": "\(spool.path)"])
                    return .lost
                }
                recordHealth()
                try? await clock.sleep(for: Self.spoolRetryDelay(failures), tolerance: nil)
            }
        }
    }

    /// Appends tried at shutdown before a batch the spool cannot take is dropped (counted, logged).
    static let spoolAttemptsAtShutdown = 3

    /// The wait before retrying a spool write that failed `failures` times: 100 ms doubling to 2 s.
    static func spoolRetryDelay(_ failures: Int) -> Duration {
        min(.milliseconds(100) * (1 << min(max(failures - 1, 0), 5)), .seconds(2))
    }

    public func beginShutdown() {
        state.withLock { $0.shuttingDown = true }
    }

    /// Shutdown is taking too long (`shutdown_timeout`): requests on the wire are given up (what
    /// they held goes to the spool, spooled batches stay there) and every batch after them goes
    /// straight to the spool.
    public func expedite() {
        state.withLock {
            $0.shuttingDown = true
            $0.expedited = true
        }
        for task in inFlight.withLock({ $0 }) { task.cancel() }
        for task in replaying.withLock({ $0 }) { task.cancel() }
        wakeReplayer()
    }

    public func close() async {
        await flush()
        state.withLock { $0.shuttingDown = true }
        wakeReplayer()
        await client.shutdown()
    }

    // MARK: Replay

    /// The replayer, to run as a service beside the sink worker.
    public var replayService: some Service { Replayer(sink: self) }

    /// Skips the current backoff and replays now (`gateway spool replay` on a running gateway).
    public func replayNow() {
        state.withLock {
            $0.replayFailures = 0
            $0.serverDelay = nil
            $0.urgentWake = true
        }
        wakeReplayer()
    }

    func wakeReplayer() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.replayWaiter {
                s.replayWaiter = nil
                return w
            }
            s.replayWakePending = true
            return nil
        }
        waiter?.resume()
    }

    func waitForWake() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.replayWakePending || s.shuttingDown {
                    s.replayWakePending = false
                    return true
                }
                s.replayWaiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Sleeps `delay` on the clock; only `replayNow` and shutdown cut it short (new batches
    /// arriving in the spool do not, or a dead server would be asked once per batch).
    func sleepOrWake(_ delay: Duration) async {
        let clock = self.clock
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                do {
                    try await clock.sleep(for: delay, tolerance: nil)
                    state.withLock { $0.urgentWake = true }
                    wakeReplayer()
                } catch {}
            }
            while true {
                await waitForWake()
                let done = state.withLock { s -> Bool in
                    if s.urgentWake || s.shuttingDown {
                        s.urgentWake = false
                        return true
                    }
                    return false
                }
                if done { break }
            }
            group.cancelAll()
        }
    }

    /// Sends the oldest spooled batch and settles it. Returns the wait before the next attempt
    /// (nil: go on at once).
    public func replayOnce() async -> Duration? {
        await replay(maxBatches: 1)
    }

    /// One pass of the replay loop: sends the spooled batches oldest first, up to `maxInFlight`
    /// on the wire at once, until the spool is empty, `maxBatches` were sent, one fails, or the
    /// gateway shuts down. Each leaves the spool once the server confirmed it; a failed one stays
    /// (with any batch after it that failed too). Returns the wait before the next pass (nil: go
    /// on at once).
    public func replay(maxBatches: Int = .max) async -> Duration? {
        guard let spool else { return nil }
        // A delivered batch whose delete failed must be gone before anything more is sent, or a
        // restart would send it again: no replay until the spool can write.
        if !spool.deleteDelivered() {
            recordHealth()
            return Self.spoolRetryDelay(.max)
        }
        var window: [(entry: SpoolStore.Entry, sending: Task<DeliveryResult, Never>)] = []
        // What the spool held when this pass began (the log says it after the pass emptied some).
        let backlog = spool.pointCount
        var cursor: Int64 = 0
        var started = 0
        var failure: Failure?
        var readError: (any Error)?
        var policy = configuration.retry
        policy.maxRetries = 0
        while true {
            while failure == nil, readError == nil, started < maxBatches, window.count < configuration.maxInFlight,
                !spool.hasUndeletedDeliveries, started == 0 || !state.withLock({ $0.shuttingDown })
            {
                let entry: SpoolStore.Entry?
                do {
                    entry = try await spool.oldest(
                        after: cursor,
                        corruptFound: { [delivery] points in delivery.droppedCorrupt.increment(by: Int64(points)) })
                } catch {
                    logger.error("cannot read the spool", metadata: ["error": "\(error)", "path": "\(spool.path)"])
                    readError = error
                    break
                }
                guard let entry else { break }
                if window.isEmpty, started == 0 {
                    let serverDelay = state.withLock { s -> Duration? in
                        defer { s.serverDelay = nil }
                        return s.serverDelay
                    }
                    if let serverDelay, serverDelay > .zero {
                        spool.release(entry)
                        return serverDelay
                    }
                }
                cursor = entry.id
                started += 1
                let sending = Task {
                    await self.deliver(Chunk(payload: entry.payload, raw: nil), policy: policy, budget: .zero)
                }
                replaying.withLock { $0.append(sending) }
                window.append((entry, sending))
            }
            guard !window.isEmpty else { break }
            let (entry, sending) = window.removeFirst()
            let result = await sending.value
            replaying.withLock { $0.removeAll { $0 == sending } }
            await settleReplayed(entry, result, in: spool)
            if failure == nil, let failed = result.failure { failure = failed }
        }
        guard let failure else {
            if started > 0 {
                if state.withLock({ $0.health }) != .healthy {
                    logger.info(
                        "sink answers again; replaying the spool",
                        metadata: ["spooled_points": "\(backlog)", "left": "\(spool.pointCount)"])
                }
                setHealth(.healthy)
                state.withLock { $0.replayFailures = 0 }
            }
            if spool.hasUndeletedDeliveries { return Self.spoolRetryDelay(.max) }
            return readError == nil ? nil : configuration.retry.maxBackoff
        }
        setHealth(failure.health)
        let failures = state.withLock { s -> Int in
            s.replayFailures += 1
            return s.replayFailures
        }
        let delay = failure.serverDelay ?? configuration.retry.backoff(attempt: failures)
        let level: Logger.Level = failure.health.isRefused ? .error : .warning
        logger.log(
            level: level,
            "replay failed; the spool keeps the data",
            metadata: [
                "status": "\(failure.outcome.statusText)", "error": "\(failure.outcome.message)",
                "spooled_points": "\(spool.pointCount)", "next_attempt_in": "\(Units.text(delay))",
            ])
        return delay
    }

    /// Counts what a replayed batch delivered and removes it from the spool, or leaves what is
    /// left of it there.
    func settleReplayed(_ entry: SpoolStore.Entry, _ result: DeliveryResult, in spool: SpoolStore) async {
        delivery.replayed.increment(by: Int64(result.delivered))
        do {
            if let remainder = result.remainder {
                if remainder.points != entry.payload.points || result.deadLettered > 0 {
                    try await spool.replace(entry, with: remainder)
                }
                spool.release(entry)
            } else {
                try await spool.remove(entry)
            }
        } catch {
            spool.release(entry)
            recordHealth()
            if result.remainder == nil {
                logger.error(
                    "delivered batch cannot be deleted from the spool: kept as delivered in memory, replay waits until the delete succeeds",
                    metadata: ["error": "\(error)", "batch_id": "\(entry.id)"])
            } else {
                logger.error("cannot update the spool after replay", metadata: ["error": "\(error)"])
            }
        }
    }

    struct Replayer: Service {
        let sink: InfluxSink

        func run() async {
            await withTaskCancellationHandler {
                await withGracefulShutdownHandler {
                    while sink.spool != nil, !sink.state.withLock({ $0.shuttingDown }) {
                        if sink.spool?.isEmpty ?? true {
                            await sink.waitForWake()
                            continue
                        }
                        if let delay = await sink.replay() { await sink.sleepOrWake(delay) }
                    }
                } onGracefulShutdown: {
                    sink.beginShutdown()
                    sink.wakeReplayer()
                }
            } onCancel: {
                sink.beginShutdown()
                sink.wakeReplayer()
            }
            // The sink worker stops replay when it begins to drain; a service that returns
            // before the group asks it to is an error to ServiceGroup, so wait for our turn.
            try? await gracefulShutdown()
        }
    }

    func setHealth(_ health: Health) {
        let changed = state.withLock { s -> Bool in
            defer { s.health = health }
            return s.health != health
        }
        // Recorded every time: the spool's writability (part of `health`) changes on its own.
        recordHealth()
        if changed {
            if case .refused(let why) = health {
                logger.error(
                    "Influx refuses writes: data is held in the spool until this is fixed",
                    metadata: ["reason": "\(why)", "url": "\(Redact.url(configuration.target.url))"])
            }
        }
    }

    /// `gateway_sink_healthy`: 1 only while deliveries succeed and the spool can write.
    func recordHealth() {
        delivery.healthy.record(health == .healthy ? 1 : 0)
    }

    // MARK: Status policy

    /// A piece of a batch: the compressed body and, once needed, the plain one.
    struct Chunk {
        var payload: SpoolPayload?
        var raw: [UInt8]?
        var points: Int
        let precision: Precision

        init(payload: SpoolPayload, raw: [UInt8]?) {
            self.payload = payload
            self.raw = raw
            self.points = payload.points
            self.precision = payload.precision
        }

        init(lines: ArraySlice<[UInt8]>, precision: Precision) {
            var raw: [UInt8] = []
            for line in lines {
                raw.append(contentsOf: line)
                raw.append(UInt8(ascii: "\n"))
            }
            self.raw = raw
            self.points = lines.count
            self.precision = precision
        }

        /// The two halves of a chunk's lines, in order.
        static func halves(_ lines: [[UInt8]], precision: Precision) -> [Chunk] {
            let mid = lines.count / 2
            return [Chunk(lines: lines[..<mid], precision: precision), Chunk(lines: lines[mid...], precision: precision)]
        }

        mutating func plain() throws -> [UInt8] {
            if let raw { return raw }
            let r = try payload!.raw()
            raw = r
            return r
        }

        mutating func compressed() throws -> SpoolPayload {
            if let payload { return payload }
            let p = try SpoolPayload(raw: raw!, points: points, precision: precision)
            payload = p
            return p
        }

        /// One entry per line, each re-encoded from its decoded point (string values may hold
        /// newlines, so the body is not split on them).
        mutating func lines() throws -> [[UInt8]] {
            let decoded = LineProtocolDecoder.storedData(precision: precision).decode(try plain())
            let encoder = LineProtocolEncoder(precision: precision)
            return decoded.points.map { point in
                var line: [UInt8] = []
                encoder.encode(point, into: &line)
                line.removeLast()
                return line
            }
        }
    }

    struct Failure {
        var outcome: InfluxOutcome
        /// The wait the server asked for, if any.
        var serverDelay: Duration?

        var health: Health {
            switch outcome {
            case .refused(let status, let message): return .refused("\(status) \(message)")
            default: return .retrying("\(outcome.statusText) \(outcome.message)")
            }
        }
    }

    struct DeliveryResult {
        var delivered = 0
        var deadLettered = 0
        /// What is left to deliver, set when `failure` is.
        var remainder: SpoolPayload?
        var failure: Failure?
    }

    /// Sends a batch following InfluxDB's status contract: 400 finds and dead-letters the bad
    /// lines and sends the rest; 413 splits; 422 dead-letters; 429/503 wait Retry-After; other
    /// 5xx and network errors back off. Stops, returning the rest, after `policy.maxRetries`
    /// retries or once waiting would pass `budget`; 401/403/404 stop at once.
    ///
    /// With a `bound`, the whole of it (requests on the wire, backoffs, Retry-After) takes at most
    /// that long: each request is given up when the bound would pass, so a server that accepts and
    /// never answers holds a batch no longer than `max_wait` before it is spooled.
    func deliver(_ first: Chunk, policy: RetryPolicy, budget: Duration, bound: Duration? = nil) async -> DeliveryResult {
        var result = DeliveryResult()
        var work = [first]
        var retries = 0
        var waited = Duration.zero
        // Time on the wire, measured; backoffs are counted in `waited` on the sink's clock.
        var onTheWire = Duration.zero
        while !work.isEmpty {
            var chunk = work.removeFirst()
            let outcome: InfluxOutcome
            do {
                let gzip = configuration.target.gzip
                let body = gzip ? try chunk.compressed().compressed : try chunk.plain()
                let left = bound.map { $0 - waited - onTheWire }
                if let left, left <= .zero {
                    outcome = .failed(status: nil, message: "no answer within max_wait (\(Units.text(bound!)))")
                } else {
                    let sent = ContinuousClock.now
                    outcome = await client.write(body: body, gzipped: gzip, precision: chunk.precision, timeout: left)
                    onTheWire += ContinuousClock.now - sent
                }
            } catch {
                // A body that cannot be read back (the spool's checksum passed, so this is a bug
                // or a disk fault): keep it aside as dead letters rather than loop on it.
                logger.error("cannot prepare a batch for sending", metadata: ["error": "\(error)"])
                result.deadLettered += chunk.points
                delivery.deadLettered.increment(by: Int64(chunk.points))
                continue
            }
            switch outcome {
            case .delivered:
                result.delivered += chunk.points
            case .badRequest(let message, let line):
                let lines = (try? chunk.lines()) ?? []
                if lines.count <= 1 {
                    result.deadLettered += await deadLetter(lines, status: 400, message: message, count: chunk.points)
                } else if let line, line >= 1, line <= lines.count {
                    result.deadLettered += await deadLetter([lines[line - 1]], status: 400, message: message, count: 1)
                    var rest = lines
                    rest.remove(at: line - 1)
                    work.insert(Chunk(lines: rest[...], precision: chunk.precision), at: 0)
                } else {
                    work.insert(contentsOf: Chunk.halves(lines, precision: chunk.precision), at: 0)
                }
            case .tooLarge(let message):
                let lines = (try? chunk.lines()) ?? []
                if lines.count <= 1 {
                    result.deadLettered += await deadLetter(lines, status: 413, message: message, count: chunk.points)
                } else {
                    work.insert(contentsOf: Chunk.halves(lines, precision: chunk.precision), at: 0)
                }
            case .unprocessable(let message):
                let lines = (try? chunk.lines()) ?? []
                result.deadLettered += await deadLetter(lines, status: 422, message: message, count: chunk.points)
            case .throttled, .failed, .refused:
                var serverDelay: Duration?
                if case .throttled(_, let retryAfter, _) = outcome, let retryAfter {
                    serverDelay = min(retryAfter, policy.maxRetryAfter)
                }
                let delay = serverDelay ?? policy.backoff(attempt: retries + 1)
                let refused: Bool
                if case .refused = outcome { refused = true } else { refused = false }
                if refused || retries >= policy.maxRetries || waited + onTheWire + delay > budget {
                    work.insert(chunk, at: 0)
                    result.failure = Failure(outcome: outcome, serverDelay: serverDelay)
                    do {
                        result.remainder = try Self.merge(work, precision: first.precision)
                    } catch {
                        let points = work.reduce(0) { $0 + $1.points }
                        logger.error("cannot re-encode the rest of a batch", metadata: ["error": "\(error)"])
                        result.deadLettered += points
                        delivery.deadLettered.increment(by: Int64(points))
                    }
                    return result
                }
                retries += 1
                waited += delay
                delivery.retries.increment()
                logger.debug(
                    "write failed, retrying",
                    metadata: ["status": "\(outcome.statusText)", "retry_in": "\(Units.text(delay))", "retry": "\(retries)"])
                try? await clock.sleep(for: delay, tolerance: nil)
                work.insert(chunk, at: 0)
            }
        }
        return result
    }

    /// One payload from the chunks left; the original one when nothing was split off.
    static func merge(_ chunks: [Chunk], precision: Precision) throws -> SpoolPayload {
        if chunks.count == 1, let payload = chunks[0].payload { return payload }
        var raw: [UInt8] = []
        var points = 0
        for var chunk in chunks {
            raw.append(contentsOf: try chunk.plain())
            points += chunk.points
        }
        return try SpoolPayload(raw: raw, points: points, precision: precision)
    }

    @discardableResult
    func deadLetter(_ lines: [[UInt8]], status: Int, message: String, count: Int) async -> Int {
        delivery.deadLettered.increment(by: Int64(count))
        let text = lines.map { String(decoding: $0, as: UTF8.self) }
        logger.error(
            "Influx refused lines for good; dead-lettered",
            metadata: [
                "status": "\(status)", "message": "\(message)", "points": "\(count)",
                "first_line": "\(text.first.map { String($0.prefix(300)) } ?? "")",
            ])
        guard let spool else { return count }
        do {
            try await spool.addDeadLetters(text, status: status, message: message)
        } catch {
            logger.error("cannot write dead letters to the spool", metadata: ["error": "\(error)"])
        }
        return count
    }
}

extension InfluxSink.Health {
    var isRefused: Bool {
        if case .refused = self { return true }
        return false
    }
}

extension InfluxOutcome {
    var message: String {
        switch self {
        case .delivered: return ""
        case .badRequest(let m, _), .tooLarge(let m), .unprocessable(let m): return m
        case .throttled(_, _, let m), .refused(_, let m), .failed(_, let m): return m
        }
    }
}
