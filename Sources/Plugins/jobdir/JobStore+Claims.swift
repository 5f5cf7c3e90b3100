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
        /// Done again with the other outcome: the first report stands.
        case alreadyFinished(uuid: String, state: JobdirJob.State, by: String?, message: String?)
        /// Done again by another processor than the one that reported it: the first report stands.
        case finishedByAnother(uuid: String, by: String, reporter: String)

        public var description: String {
            switch self {
            case .unknownJob(let uuid): return "no unfinished job \(uuid)"
            case .notAssigned(let uuid, let to, let assignee):
                return
                    "job \(uuid) is not assigned to \"\(to)\" (assigned to \(assignee.map { "\"\($0)\"" } ?? "no processor"): it was requeued when \"\(to)\" was dead)"
            case .alreadyFinished(let uuid, let state, let by, let message):
                let other = state == .succeeded ? "failure" : "success"
                let who = by.map { " by \"\($0)\"" } ?? ""
                let said = message.map { " with the message \"\($0)\"" } ?? ""
                return
                    "job \(uuid) was already reported \(state.rawValue)\(who)\(said); this report of \(other) conflicts with it and is not recorded (the first report stands)"
            case .finishedByAnother(let uuid, let by, let reporter):
                return
                    "job \(uuid) was reported done by \"\(by)\", not by \"\(reporter)\"; this report is not recorded (the first report stands)"
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
                    try Self.repeated(job, reported: job.success == true ? .succeeded : .failed, success, processor)
                    return (job, true)
                }
                throw FinishError.unknownJob(uuid)
            }
            var job = Self.job(row)
            let outcome: JobdirJob.State = success ? .succeeded : .failed
            if job.state == .succeeded || job.state == .failed {
                try Self.repeated(job, reported: job.state, success, processor)
                return (job, true)
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

    /// A second report for a job already done: the same outcome (from its processor, or from a
    /// caller naming none) is a repeat, answered as the first; anything else conflicts.
    static func repeated(_ job: JobdirJob, reported: JobdirJob.State, _ success: Bool, _ processor: String?)
        throws(FinishError)
    {
        if let processor, let by = job.processor, by != processor {
            throw .finishedByAnother(uuid: job.uuid, by: by, reporter: processor)
        }
        if (reported == .succeeded) != success {
            throw .alreadyFinished(uuid: job.uuid, state: reported, by: job.processor, message: job.message)
        }
    }
}
