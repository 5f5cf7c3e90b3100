import Foundation
import GRDB
import Logging

/// Why a spool cannot write (disk full, I/O error, read-only file system), and since when.
struct WriteFault {
    var error: String?
    var since: ContinuousClock.Instant?
    var lastLogged: ContinuousClock.Instant?
    var failures = 0
}

extension SpoolStore {
    /// While the last write failed: why (SQLite's error, e.g. `SQLite error 13: database or disk is
    /// full`). Nil while the spool can write.
    public var writeError: String? { writeFault.withLock { $0.error } }

    public var isWritable: Bool { writeError == nil }

    /// How often a spool that stays unwritable is logged again.
    static let unwritableLogInterval: Duration = .seconds(30)

    func noteWriteFailed(_ error: any Error) {
        let now = ContinuousClock.now
        let text = Self.describe(error)
        let log = writeFault.withLock { fault -> (first: Bool, failures: Int)? in
            fault.failures += 1
            fault.error = text
            if fault.since == nil {
                fault.since = now
                fault.lastLogged = now
                return (true, fault.failures)
            }
            if let last = fault.lastLogged, now - last < Self.unwritableLogInterval { return nil }
            fault.lastLogged = now
            return (false, fault.failures)
        }
        guard let log else { return }
        logger.error(
            log.first
                ? "spool cannot write (disk full or I/O error): the sink holds its batches and takes no more from its queue until it can"
                : "spool still cannot write",
            metadata: ["path": "\(path)", "error": "\(text)", "failed_writes": "\(log.failures)"])
    }

    func noteWriteSucceeded() {
        let recovered = writeFault.withLock { fault -> (since: ContinuousClock.Instant, failures: Int)? in
            guard let since = fault.since else { return nil }
            defer { fault = WriteFault() }
            return (since, fault.failures)
        }
        guard let recovered else { return }
        logger.notice(
            "spool can write again",
            metadata: [
                "path": "\(path)", "unwritable_for": "\(ContinuousClock.now - recovered.since)",
                "failed_writes": "\(recovered.failures)",
            ])
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return
                "SQLite error \(error.resultCode.primaryResultCode.rawValue): \(error.message ?? "\(error.resultCode)")"
        }
        return "\(error)"
    }
}
