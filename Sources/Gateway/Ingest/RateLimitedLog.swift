import Foundation
import Logging
import Synchronization

/// Logs at most `burst` messages per `window`; the rest are counted and summarised once the
/// window turns, so a flood of bad input cannot flood the log.
final class RateLimitedLog: Sendable {
    private struct State {
        var windowStart = ContinuousClock.now
        var emitted = 0
        var suppressed = 0
    }

    private let state = Mutex(State())
    private let burst: Int
    private let window: Duration
    let logger: Logger

    init(logger: Logger, burst: Int = 10, window: Duration = .seconds(10)) {
        self.logger = logger
        self.burst = burst
        self.window = window
    }

    func warning(_ message: Logger.Message, metadata: @autoclosure () -> Logger.Metadata) {
        let now = ContinuousClock.now
        let (allowed, suppressedBefore) = state.withLock { s -> (Bool, Int) in
            var previous = 0
            if now - s.windowStart >= window {
                previous = s.suppressed
                s = State(windowStart: now, emitted: 0, suppressed: 0)
            }
            if s.emitted < burst {
                s.emitted += 1
                return (true, previous)
            }
            s.suppressed += 1
            return (false, previous)
        }
        if suppressedBefore > 0 {
            logger.warning("similar messages suppressed", metadata: ["suppressed": "\(suppressedBefore)"])
        }
        if allowed { logger.warning(message, metadata: metadata()) }
    }
}
