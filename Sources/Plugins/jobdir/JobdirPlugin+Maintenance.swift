import Foundation
import GatewayCore

// Maintenance: dead processors, waiting jobs, rebalancing, and the `jobdir_jobs` points.
extension JobdirPlugin {

    /// Dead processors lose their unfinished jobs to live ones; waiting jobs are assigned; the
    /// queue is emitted as `jobdir_jobs` points.
    public func maintain() async {
        let logger = context.logger
        let now = self.now()
        do {
            let store = self.store
            let deadAfter = settings.deadAfter.asSeconds
            let jobTimeout = settings.jobTimeout?.asSeconds
            let expiry = try await onThread { try store.expire(now: now, deadAfter: deadAfter, jobTimeout: jobTimeout) }
            for dead in expiry.dead {
                logger.warning(
                    "jobdir processor is dead (no check-in for twice processor_check_in): its jobs are requeued",
                    metadata: ["processor": "\(dead)", "dead_after": "\(settings.deadAfter)"])
            }
            metrics.requeued.increment(by: expiry.requeued + expiry.timedOut)
            if expiry.timedOut > 0 {
                logger.warning(
                    "jobdir requeued jobs running longer than job_timeout",
                    metadata: [
                        "jobs": "\(expiry.timedOut)", "job_timeout": "\(settings.jobTimeout.map { "\($0)" } ?? "-")",
                    ])
            }
            if expiry.requeued + expiry.assigned + expiry.rebalanced > 0 {
                logger.info(
                    "jobdir reassigned jobs",
                    metadata: [
                        "requeued": "\(expiry.requeued)", "assigned": "\(expiry.assigned)",
                        "rebalanced": "\(expiry.rebalanced)",
                    ])
            }
            let (points, waiting) = try await onThread {
                let depths = try store.depths()
                return (try self.points(now: now, depths: depths), Self.waiting(depths))
            }
            let logNoProcessor = state.withLock { s in
                defer { s.noProcessorLogged = waiting > 0 }
                return waiting > 0 && !s.noProcessorLogged
            }
            if logNoProcessor {
                logger.warning("jobdir has no live processor: jobs wait unassigned until one checks in")
            }
            _ = await context.emit(points)
        } catch {
            logger.error("jobdir maintenance failed", metadata: ["error": "\(error)"])
        }
    }
}
