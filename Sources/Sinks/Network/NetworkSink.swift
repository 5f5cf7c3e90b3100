import GatewayCore
import Logging
import ServiceLifecycle
import Synchronization

/// A sink that writes batches to a server over the network, the machinery every such sink shares;
/// what is particular to one kind of server (encoding, client, status policy) is its
/// ``NetworkTransport``. What it cannot deliver goes to a SQLite spool and is replayed, oldest
/// first, as soon as the server answers again. The `influx2` sink is `NetworkSink<InfluxTransport>`.
///
/// Order: a batch is sent directly only while the spool is empty; otherwise it is appended to
/// the spool, behind the backlog. A spooled batch leaves the spool only once the server
/// confirmed it (or refused its lines for good, which dead-letters them).
///
/// Accounting (every point ends in exactly one of these): `written` (delivered directly),
/// `spooled` then `replayed` (delivered from the spool), `dead_lettered`, `dropped{reason}`.
///
/// Tasks: batches on the wire are child tasks of ``run()`` (the ``replayService``), which must run
/// for the direct path to send; replay passes keep their requests in a task group of their own,
/// under the replayer, a child of ``run()`` too. ``expedite()`` cancels them all.
/// Time that decides behaviour (backoff, `max_wait`, Retry-After) is read from the injected clock.
public final class NetworkSink<Transport: NetworkTransport>: Sink, ClosableSink, Sendable {
    public struct Configuration: Sendable {
        public var target: Transport.Target
        public var precision: Precision
        public var retry: RetryPolicy
        /// Batches on the wire at once (each on its own connection). 1 keeps batches in order; more
        /// keep the server busy while a response travels back; batches in flight together may arrive
        /// in either order (each point keeps its timestamp), and enter the spool in the order sent.
        public var maxInFlight: Int

        public init(
            target: Transport.Target, precision: Precision = .nanoseconds, retry: RetryPolicy = RetryPolicy(),
            maxInFlight: Int = 1
        ) {
            self.target = target
            self.precision = precision
            self.retry = retry
            self.maxInFlight = max(1, maxInFlight)
        }
    }

    public typealias Health = NetworkSinkHealth

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

    /// One batch of the direct path, from `write` to the child task of `run()` that sends it.
    struct Job: Sendable {
        var chunk: NetworkChunk
        var body: Transport.Body
        let batch: PointBatch
        /// Opened once the batch sent before this one is settled.
        let previous: Latch?
        /// Opened once this batch is settled.
        let settled: Latch
    }

    public let name: String
    public let configuration: Configuration
    public let spool: SpoolStore?
    public let transport: Transport
    let metrics: SinkMetrics
    let delivery: DeliveryMetrics
    let logger: Logger
    let clock: any Clock<Duration>
    let state = Mutex(State())
    /// Batches on the wire (direct path), oldest first: each one's `settled` latch.
    private let window = Mutex<[Latch]>([])
    private let mail = Mailbox<Mail>()

    /// What `run()` takes from its mailbox.
    enum Mail: Sendable {
        /// A batch to send in a child task.
        case job(Job)
        /// ``expedite()``: cancel every child task (requests on the wire, backoffs, the replayer).
        case expedite
    }

    public init(
        name: String, configuration: Configuration, spool: SpoolStore?, metrics: SinkMetrics,
        delivery: DeliveryMetrics, logger: Logger, clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.name = name
        self.configuration = configuration
        self.spool = spool
        self.transport = Transport(target: configuration.target)
        self.metrics = metrics
        self.delivery = delivery
        self.logger = logger
        self.clock = clock
        delivery.healthy.record(1)
    }

    public var countsOwnWrites: Bool { true }
    public var settlesBatches: Bool { true }

    /// The delivery health, unless the spool cannot write, which comes first.
    public var health: Health {
        if let why = spool?.writeError { return .spoolUnwritable(why) }
        return state.withLock { $0.health }
    }

    // MARK: Direct path (the sink worker calls this, one batch at a time)

    /// Encodes the batch (and compresses it, with gzip on) while earlier ones are still on the
    /// wire, then waits until fewer than `maxInFlight` are (with 1, until the previous one is
    /// settled: delivered or spooled) and hands it to ``run()`` to send. While the spool holds a
    /// backlog, the batch is appended behind it instead.
    ///
    /// The batch is settled (``PointBatch/settle()``) once it is delivered, dead-lettered, spooled
    /// or dropped, which may be after this returns; abandoned if it could be none of these.
    public func write(_ batch: PointBatch) async throws {
        if batch.isEmpty { return batch.settle() }
        let precision = configuration.precision
        var chunk = NetworkChunk(batch: batch, precision: precision)
        let body: Transport.Body
        do {
            body = try transport.body(for: &chunk)
        } catch {
            batch.settle()
            throw error
        }
        await waitForRoom()
        if let spool, !spool.isEmpty || state.withLock({ $0.expedited }) {
            let payload: SpoolPayload
            do {
                payload = try chunk.compressed()
            } catch {
                batch.settle()
                throw error
            }
            await flush()
            if await store(payload) == .lost { batch.abandon() }
            return batch.settle()
        }
        let settled = Latch()
        let previous = window.withLock { latches -> Latch? in
            defer { latches.append(settled) }
            return latches.last
        }
        let job = Job(chunk: chunk, body: body, batch: batch, previous: previous, settled: settled)
        // `run()` has ended (closed or cancelled): nobody else will send it.
        if !mail.submit(.job(job)) { await execute(job) }
    }

    /// Sends one batch of the direct path and settles it.
    func execute(_ job: Job) async {
        if await send(job.chunk, body: job.body, after: job.previous) == .lost { job.batch.abandon() }
        job.batch.settle()
        job.settled.open()
    }

    /// Waits until fewer than `maxInFlight` batches are on the wire.
    func waitForRoom() async {
        while true {
            let oldest = window.withLock { latches -> Latch? in
                latches.count >= configuration.maxInFlight ? latches.removeFirst() : nil
            }
            guard let oldest else { return }
            await oldest.wait()
        }
    }

    /// Waits until every batch on the wire is settled (delivered, dead-lettered, spooled or dropped).
    public func flush() async {
        let pending = window.withLock { latches -> [Latch] in
            defer { latches = [] }
            return latches
        }
        for latch in pending { await latch.wait() }
    }

    /// Delivers one batch. A batch that must go to the spool first waits until the batch sent before
    /// it (`previous`) is settled, so batches enter the spool in the order they were sent and replay
    /// stays oldest first whatever `maxInFlight` is.
    @discardableResult
    func send(_ chunk: NetworkChunk, body: Transport.Body?, after previous: Latch? = nil) async -> Kept {
        var retry = configuration.retry
        if state.withLock({ $0.shuttingDown }) { retry.maxRetries = 0 }
        let result = await deliver(chunk, body: body, policy: retry, budget: retry.maxWait, bound: retry.maxWait)
        metrics.written.increment(by: Int64(result.delivered))
        if result.delivered > 0 { metrics.batches.increment() }
        guard let failure = result.failure else {
            setHealth(.healthy)
            return .kept
        }
        setHealth(failure.health)
        guard let remainder = result.remainder else { return .kept }
        let metadata: Logger.Metadata = [
            "status": "\(failure.answer.statusText)", "error": "\(failure.answer.message)",
            "points": "\(remainder.points)",
        ]
        guard spool != nil else {
            metrics.writeErrors.increment()
            metrics.droppedWriteError.increment(by: Int64(remainder.points))
            logger.error("write failed and the spool is off: batch dropped", metadata: metadata)
            return .dropped
        }
        logger.warning("write failed, batch spooled for replay", metadata: metadata)
        state.withLock { $0.serverDelay = failure.serverDelay }
        await previous?.wait()
        return await store(remainder)
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

    // MARK: Lifecycle

    /// Sends the direct path's batches (each in a child task, at most `maxInFlight` at once) and
    /// replays the spool, until the sink is closed and shutdown has begun. Run by
    /// ``replayService``; tests may run it directly.
    public func run() async {
        await run(replaying: true)
    }

    /// ``run()``; without `replaying`, the spool is replayed only by calls to ``replay(maxBatches:)``
    /// (tests that replay step by step).
    func run(replaying: Bool) async {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withDiscardingTaskGroup { group in
                    if replaying { group.addTask { await self.replayLoop() } }
                    while let next = await mail.next() {
                        switch next {
                        case .job(let job): group.addTask { await self.execute(job) }
                        // Requests on the wire fail (`given up (shutdown)`) and their batches go to the
                        // spool; backoffs end at once; later children start cancelled.
                        case .expedite: group.cancelAll()
                        }
                    }
                }
            } onGracefulShutdown: {
                self.beginShutdown()
                self.wakeReplayer()
            }
        } onCancel: {
            self.beginShutdown()
            self.wakeReplayer()
        }
    }

    /// ``run()`` as a service beside the sink worker, started before it and stopped after it.
    public var replayService: some Service { RunService(sink: self) }

    struct RunService: Service {
        let sink: NetworkSink

        func run() async {
            await sink.run()
            // A service that returns before the group asks it to is an error to ServiceGroup.
            try? await gracefulShutdown()
        }
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
        _ = mail.submit(.expedite)
        wakeReplayer()
    }

    /// Waits for the batches on the wire, then stops ``run()`` and closes the connections.
    public func close() async {
        await flush()
        state.withLock { $0.shuttingDown = true }
        mail.close()
        wakeReplayer()
        await transport.shutdown()
    }

    func setHealth(_ health: Health) {
        let changed = state.withLock { s -> Bool in
            defer { s.health = health }
            return s.health != health
        }
        // Recorded every time: the spool's writability (part of `health`) changes on its own.
        recordHealth()
        if changed, case .refused(let why) = health {
            logger.error(
                "\(Transport.serverName) refuses writes: data is held in the spool until this is fixed",
                metadata: ["reason": "\(why)", "url": "\(transport.redactedURL)"])
        }
    }

    /// `gateway_sink_healthy`: 1 only while deliveries succeed and the spool can write.
    func recordHealth() {
        delivery.healthy.record(health == .healthy ? 1 : 0)
    }
}
