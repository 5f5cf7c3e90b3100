import NIOPosix
import Synchronization

/// Where plugins run blocking work (SQLite reads and writes, directory scans): a fixed pool of
/// threads shared by every plugin, so a burst of API requests queues instead of taking an OS
/// thread each (2,000 concurrent jobdir requests once made 2,007 threads). Eight threads: GRDB's
/// pools read with up to five connections and write with one, so more threads would only wait on
/// SQLite, while fewer would let one slow scan or query hold up the API.
public enum BlockingPool {
    public static let threads = 8

    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        return pool
    }()
}

/// Runs blocking work on ``BlockingPool``, not on the concurrency pool (whose threads must not block).
/// The caller waits for the work to end, cancelled or not (a step of a plugin is never half done).
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await BlockingPool.pool.runIfActive(work)
}

/// Runs blocking work on ``BlockingPool``; when the caller is cancelled it stops waiting at once
/// and throws `CancellationError`, while the pool thread finishes the work on its own and its result
/// is dropped. For work that a deadline may abandon (a query stuck on a dead file system).
func onThreadUntilCancelled<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    let outcome = FirstResult<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            outcome.wait(continuation)
            BlockingPool.pool.submit { state in
                guard case .active = state else {
                    outcome.finish(.failure(CancellationError()))
                    return
                }
                outcome.finish(Result { try work() })
            }
        }
    } onCancel: {
        outcome.finish(.failure(CancellationError()))
    }
}

/// The first of several results (work done, cancellation); resumes the waiter once.
final class FirstResult<T: Sendable>: Sendable {
    private struct State {
        var result: Result<T, any Error>?
        var waiter: CheckedContinuation<T, any Error>?
    }
    private let state = Mutex(State())

    /// Records `result` if nothing was recorded yet; true when it was first.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (first, waiter) = state.withLock { s -> (Bool, CheckedContinuation<T, any Error>?) in
            if case .some = s.result { return (false, nil) }
            s.result = result
            let waiter = s.waiter
            s.waiter = nil
            return (true, waiter)
        }
        waiter?.resume(with: result)
        return first
    }

    /// Resumes `continuation` with the first result, now or when it comes.
    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        let ready: Result<T, any Error>? = state.withLock { s in
            if let result = s.result { return result }
            s.waiter = continuation
            return nil
        }
        if let ready { continuation.resume(with: ready) }
    }
}
