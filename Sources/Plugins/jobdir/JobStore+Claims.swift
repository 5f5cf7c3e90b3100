import Foundation
import GRDB

// The processor API: taking the next job and reporting it finished.
extension JobStore {
    // MARK: Processor API

    public enum ClaimError: Error, Equatable, CustomStringConvertible {
        case unknownProcessor(String)

        public var description: String {
            switch self {
            case .unknownProcessor(let name): return "processor \"\(name)\" is not registered: check in first"
            }
        }
    }

    /// The next job of a processor (priority first, then oldest), now running; nil when it has
    /// none. Counts as the processor's check-in.
    public func claim(_ processor: String, now: Double) throws -> JobdirJob? {
        try db.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM processors WHERE name = ?", arguments: [processor]) != nil
            else { throw ClaimError.unknownProcessor(processor) }
            _ = try Self.checkIn(db, processor, now: now)
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM jobs WHERE processor = ? AND state = 'queued' ORDER BY qkey LIMIT 1",
                    arguments: [processor])
            else { return nil }
            var job = Self.job(row)
            try db.execute(
                sql: "UPDATE jobs SET state = 'running', claimed_at = ? WHERE uuid = ?", arguments: [now, job.uuid])
            job.state = .running
            job.claimedAt = now
            return job
        }
    }

    public enum FinishError: Error, Equatable, CustomStringConvertible {
        case unknownJob(String)
        /// Done by a processor the job is not (or no longer) assigned to.
        case notAssigned(uuid: String, to: String, assignee: String?)
        /// Done again with the other outcome.
        case alreadyFinished(uuid: String, state: JobdirJob.State)

        public var description: String {
            switch self {
            case .unknownJob(let uuid): return "no unfinished job \(uuid)"
            case .notAssigned(let uuid, let to, let assignee):
                return
                    "job \(uuid) is not assigned to \"\(to)\" (assigned to \(assignee.map { "\"\($0)\"" } ?? "no processor"): it was requeued when \"\(to)\" was dead)"
            case .alreadyFinished(let uuid, let state): return "job \(uuid) is already \(state.rawValue)"
            }
        }
    }

    /// Marks a job done (succeeded or failed), ready for cleanup. When `processor` is given it must be
    /// the job's assignee (and it counts as its check-in). Reporting the same outcome again is
    /// answered with the job as it is (a retried request).
    public func finish(
        _ uuid: String, success: Bool, message: String?, processor: String?, now: Double
    ) throws -> (job: JobdirJob, repeated: Bool) {
        try db.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE uuid = ?", arguments: [uuid]) else {
                if let history = try Row.fetchOne(db, sql: "SELECT * FROM history WHERE uuid = ?", arguments: [uuid]) {
                    let job = Self.historyJob(history)
                    if job.success == success { return (job, true) }
                    throw FinishError.alreadyFinished(uuid: uuid, state: job.success == true ? .succeeded : .failed)
                }
                throw FinishError.unknownJob(uuid)
            }
            var job = Self.job(row)
            let outcome: JobdirJob.State = success ? .succeeded : .failed
            if job.state == .succeeded || job.state == .failed {
                if job.state == outcome { return (job, true) }
                throw FinishError.alreadyFinished(uuid: uuid, state: job.state)
            }
            if let processor {
                guard job.processor == processor else {
                    throw FinishError.notAssigned(uuid: uuid, to: processor, assignee: job.processor)
                }
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM processors WHERE name = ?", arguments: [processor]) != nil
                {
                    _ = try Self.checkIn(db, processor, now: now)
                }
            }
            try db.execute(
                sql: "UPDATE jobs SET state = ?, finished_at = ?, message = ? WHERE uuid = ?",
                arguments: [outcome.rawValue, now, message, uuid])
            try Self.add(db, success ? "succeeded_total" : "failed_total", 1)
            job.state = outcome
            job.finishedAt = now
            job.message = message
            job.success = success
            return (job, false)
        }
    }
}
