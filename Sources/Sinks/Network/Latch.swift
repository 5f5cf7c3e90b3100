import Synchronization

/// A one-way signal: once opened it stays open, and every waiter, present or future, goes on.
/// The network sink opens one per batch on the wire once the batch is settled; the runtime one per
/// running component, opened when it has stopped.
public final class Latch: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    public init() {}

    public func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.isOpen = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the latch is open (cancellation does not cut the wait short: a batch on the
    /// wire is settled whatever happens to the task waiting for it).
    public func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.isOpen { return true }
                s.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}

/// Hands the direct path's batches from `write` to the sink's `run()`, which sends each in a child
/// task of its own task group. `next()` returns nil once the mailbox is closed and empty, or once
/// `run()` is cancelled and nothing is left; `submit` then refuses, and the caller sends the batch
/// itself.
final class Mailbox<Job: Sendable>: Sendable {
    private struct State {
        var jobs: [Job] = []
        var waiter: CheckedContinuation<Job?, Never>?
        var closed = false
    }

    private let state = Mutex(State())

    init() {}

    /// False when nobody takes jobs any more.
    func submit(_ job: Job) -> Bool {
        let (accepted, waiter) = state.withLock { s -> (Bool, CheckedContinuation<Job?, Never>?) in
            if s.closed { return (false, nil) }
            if let waiter = s.waiter {
                s.waiter = nil
                return (true, waiter)
            }
            s.jobs.append(job)
            return (true, nil)
        }
        waiter?.resume(returning: job)
        return accepted
    }

    func close() {
        let waiter = state.withLock { s -> CheckedContinuation<Job?, Never>? in
            s.closed = true
            defer { s.waiter = nil }
            return s.jobs.isEmpty ? s.waiter : nil
        }
        waiter?.resume(returning: nil)
    }

    func next() async -> Job? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Job?, Never>) in
                let (ready, job) = state.withLock { s -> (Bool, Job?) in
                    if !s.jobs.isEmpty { return (true, s.jobs.removeFirst()) }
                    if s.closed || Task.isCancelled {
                        s.closed = true
                        return (true, nil)
                    }
                    s.waiter = continuation
                    return (false, nil)
                }
                if ready { continuation.resume(returning: job) }
            }
        } onCancel: {
            close()
        }
    }
}
