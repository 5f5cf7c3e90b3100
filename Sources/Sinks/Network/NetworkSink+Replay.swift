import GatewayCore
import Logging

extension NetworkSink {
    /// The replayer, a child task of ``run()``: replays while the spool holds batches, sleeps while
    /// it is empty, and stops once shutdown begins (the sink worker begins it when it drains).
    func replayLoop() async {
        guard let spool else { return }
        while !state.withLock({ $0.shuttingDown }) {
            if spool.isEmpty {
                await waitForWake()
                continue
            }
            if let delay = await replay() { await sleepOrWake(delay) }
        }
    }

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

    /// What one replay pass came to.
    struct ReplayPass {
        var started = 0
        var failure: Failure?
        var readError: (any Error)?
        /// The server asked for a wait before anything was sent.
        var serverDelay: Duration?
    }

    /// One pass of the replay loop: sends the spooled batches oldest first, up to `maxInFlight`
    /// on the wire at once (children of this pass's task group), until the spool is empty,
    /// `maxBatches` were sent, one fails, or the gateway shuts down. Each leaves the spool once
    /// the server confirmed it, in the order they were sent; a failed one stays (with any batch
    /// after it that failed too). Returns the wait before the next pass (nil: go on at once).
    public func replay(maxBatches: Int = .max) async -> Duration? {
        guard let spool else { return nil }
        // A delivered batch whose delete failed must be gone before anything more is sent, or a
        // restart would send it again: no replay until the spool can write.
        if !spool.deleteDelivered() {
            recordHealth()
            return SpoolRetry.delay(.max)
        }
        // What the spool held when this pass began (the log says it after the pass emptied some).
        let backlog = spool.pointCount
        let pass = await replayPass(spool, maxBatches: maxBatches)
        if let serverDelay = pass.serverDelay { return serverDelay }
        guard let failure = pass.failure else {
            if pass.started > 0 {
                if state.withLock({ $0.health }) != .healthy {
                    logger.info(
                        "sink answers again; replaying the spool",
                        metadata: ["spooled_points": "\(backlog)", "left": "\(spool.pointCount)"])
                }
                setHealth(.healthy)
                state.withLock { $0.replayFailures = 0 }
            }
            if spool.hasUndeletedDeliveries { return SpoolRetry.delay(.max) }
            return pass.readError == nil ? nil : configuration.retry.maxBackoff
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
                "status": "\(failure.answer.statusText)", "error": "\(failure.answer.message)",
                "spooled_points": "\(spool.pointCount)", "next_attempt_in": "\(Units.text(delay))",
            ])
        return delay
    }

    func replayPass(_ spool: SpoolStore, maxBatches: Int) async -> ReplayPass {
        let policy = {
            var policy = configuration.retry
            policy.maxRetries = 0
            return policy
        }()
        return await withTaskGroup(of: (Int64, DeliveryResult).self) { group in
            var pass = ReplayPass()
            // Batches on the wire, oldest first, and the results of those that came back.
            var window: [SpoolStore.Entry] = []
            var results: [Int64: DeliveryResult] = [:]
            var cursor: Int64 = 0
            while true {
                while pass.failure == nil, pass.readError == nil, pass.started < maxBatches,
                    window.count < configuration.maxInFlight, !spool.hasUndeletedDeliveries,
                    pass.started == 0 || !state.withLock({ $0.shuttingDown })
                {
                    let entry: SpoolStore.Entry?
                    do {
                        entry = try await spool.oldest(
                            after: cursor,
                            corruptFound: { [delivery] points in delivery.droppedCorrupt.increment(by: Int64(points)) })
                    } catch {
                        logger.error("cannot read the spool", metadata: ["error": "\(error)", "path": "\(spool.path)"])
                        pass.readError = error
                        break
                    }
                    guard let entry else { break }
                    if window.isEmpty, pass.started == 0 {
                        let serverDelay = state.withLock { s -> Duration? in
                            defer { s.serverDelay = nil }
                            return s.serverDelay
                        }
                        if let serverDelay, serverDelay > .zero {
                            spool.release(entry)
                            pass.serverDelay = serverDelay
                            return pass
                        }
                    }
                    cursor = entry.id
                    pass.started += 1
                    window.append(entry)
                    group.addTask {
                        (
                            entry.id,
                            await self.deliver(NetworkChunk(payload: entry.payload), policy: policy, budget: .zero)
                        )
                    }
                }
                guard !window.isEmpty else { break }
                let entry = window.removeFirst()
                while results[entry.id] == nil, let next = await group.next() { results[next.0] = next.1 }
                let result = results.removeValue(forKey: entry.id) ?? DeliveryResult()
                await settleReplayed(entry, result, in: spool)
                if pass.failure == nil, let failed = result.failure { pass.failure = failed }
            }
            return pass
        }
    }
}
