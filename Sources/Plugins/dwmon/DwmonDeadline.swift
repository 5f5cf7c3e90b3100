/// Runs `body` against its deadline in a task group: the body in one child task, a sleep of
/// `timeout` on `clock` in the other, and the first to finish wins. When the deadline comes first,
/// or the caller is cancelled (shutdown), `stop` is called (it should make the body end: interrupt
/// a database, close a connection) and the body is cancelled; the call then throws
/// ``DwmonSourceError/timeout(_:)`` (or `CancellationError`).
///
/// Both tasks belong to the caller's, so the call returns once the body has ended: a body must end
/// when cancelled. Blocking work gets there through ``onThreadUntilCancelled(_:)``, whose wait ends
/// at cancellation while the pool thread finishes the work on its own (a read stuck on a dead file
/// system never holds up the run or shutdown).
func withDeadline<T: Sendable>(
    _ timeout: Duration, clock: any Clock<Duration> = ContinuousClock(), stop: @escaping @Sendable () -> Void = {},
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withTaskCancellationHandler {
        try await withThrowingTaskGroup(of: DeadlineRace<T>.self) { group in
            group.addTask { .finished(try await body()) }
            group.addTask {
                try await clock.sleep(for: timeout, tolerance: nil)
                return .deadline
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            switch first {
            case .finished(let value):
                return value
            case .deadline:
                stop()
                throw DwmonSourceError.timeout(timeout)
            }
        }
    } onCancel: {
        stop()
    }
}

/// Which side of ``withDeadline(_:clock:stop:_:)`` finished first.
enum DeadlineRace<T: Sendable>: Sendable {
    case finished(T)
    case deadline
}
