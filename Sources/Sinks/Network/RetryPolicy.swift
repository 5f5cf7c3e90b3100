/// How a network sink retries: capped exponential backoff with jitter.
public struct RetryPolicy: Sendable {
    /// Retries of one batch on the direct path before it goes to the spool.
    public var maxRetries: Int
    public var initialBackoff: Duration
    public var maxBackoff: Duration
    /// The most the direct path waits in all for one batch (backoffs and Retry-After together);
    /// a longer wait sends the batch to the spool at once, so ingest never waits on a slow server.
    public var maxWait: Duration
    /// The longest Retry-After honoured as given; longer ones are cut to this.
    public var maxRetryAfter: Duration
    /// The factor a backoff is multiplied by, drawn at random from this range (`1...1` in tests
    /// that check the schedule).
    public var jitter: ClosedRange<Double>

    public init(
        maxRetries: Int = 3, initialBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(30),
        maxWait: Duration = .seconds(5), maxRetryAfter: Duration = .seconds(300), jitter: ClosedRange<Double> = 0.5...1
    ) {
        self.maxRetries = maxRetries
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.maxWait = maxWait
        self.maxRetryAfter = maxRetryAfter
        self.jitter = jitter
    }

    /// The wait before retry number `attempt` (1-based): initial × 2^(attempt-1), capped, then
    /// jittered down by up to half so that many gateways do not retry in step.
    public func backoff(attempt: Int) -> Duration {
        backoff(attempt: attempt, jitter: Double.random(in: jitter))
    }

    public func backoff(attempt: Int, jitter: Double) -> Duration {
        let exponent = min(max(attempt - 1, 0), 40)
        let base = initialBackoff * (1 << exponent)
        let capped = base > maxBackoff || base < .zero ? maxBackoff : base
        return capped * jitter
    }
}
