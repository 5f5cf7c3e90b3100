import GatewayCore
import Logging

extension NetworkSink {
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
                if state.withLock({ $0.shuttingDown }), failures >= SpoolRetry.attemptsAtShutdown {
                    metrics.droppedWriteError.increment(by: Int64(payload.points))
                    logger.error(
                        "cannot write to the spool at shutdown: batch dropped",
                        metadata: ["points": "\(payload.points)", "error": "\(error)", "path": "\(spool.path)"])
                    return .lost
                }
                recordHealth()
                try? await clock.sleep(for: SpoolRetry.delay(failures), tolerance: nil)
            }
        }
    }

    /// Appends tried at shutdown before a batch the spool cannot take is dropped (counted, logged).
    static var spoolAttemptsAtShutdown: Int { SpoolRetry.attemptsAtShutdown }

    /// The wait before retrying a spool write that failed `failures` times: 100 ms doubling to 2 s.
    static func spoolRetryDelay(_ failures: Int) -> Duration { SpoolRetry.delay(failures) }

    /// Counts lines the server refused for good, logs them, and keeps them in the spool's dead
    /// letters (when there is a spool). Returns `count`.
    @discardableResult
    func deadLetter(_ lines: [[UInt8]], status: Int, message: String, count: Int) async -> Int {
        delivery.deadLettered.increment(by: Int64(count))
        let text = lines.map { String(decoding: $0, as: UTF8.self) }
        logger.error(
            "\(Transport.serverName) refused lines for good; dead-lettered",
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
}
