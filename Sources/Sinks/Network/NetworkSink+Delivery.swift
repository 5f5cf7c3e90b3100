import GatewayCore
import Logging

extension NetworkSink {
    struct Failure: Sendable {
        var answer: NetworkAnswer
        /// The wait the server asked for, if any.
        var serverDelay: Duration?

        var health: Health {
            switch answer {
            case .refused(let status, let message): return .refused("\(status) \(message)")
            default: return .retrying("\(answer.statusText) \(answer.message)")
            }
        }
    }

    struct DeliveryResult: Sendable {
        var delivered = 0
        var deadLettered = 0
        /// What is left to deliver, set when `failure` is.
        var remainder: SpoolPayload?
        var failure: Failure?
    }

    /// Sends a chunk and acts on each answer (``NetworkAnswer``): bad lines are dead-lettered and
    /// the rest sent again, a body too large is halved, a rejected one dead-lettered; failures that
    /// may pass wait Retry-After or a backoff and retry. Stops, returning the rest, after
    /// `policy.maxRetries` retries, once waiting would pass `budget`, at once when refused, and
    /// once the sink is expedited (``expedite()`` also cancels the task, so the request on the
    /// wire and the backoff end at once). `body` is the first chunk's body when already encoded.
    ///
    /// With a `bound`, the whole of it (requests on the wire, backoffs, Retry-After) takes at most
    /// that long on the sink's clock: each request is given the time left, so a server that accepts
    /// and never answers holds a batch no longer than `max_wait` before it is spooled.
    func deliver(
        _ first: NetworkChunk, body firstBody: Transport.Body? = nil, policy: RetryPolicy, budget: Duration,
        bound: Duration? = nil
    ) async -> DeliveryResult {
        var result = DeliveryResult()
        var work = [first]
        var encoded = firstBody
        var retries = 0
        var waited = Duration.zero
        // Time on the wire as the clock measured it; backoffs are counted in `waited`.
        var onTheWire = Duration.zero
        while !work.isEmpty {
            var chunk = work.removeFirst()
            let answer: NetworkAnswer
            do {
                let body: Transport.Body
                if let ready = encoded {
                    body = ready
                    encoded = nil
                } else {
                    body = try transport.body(for: &chunk)
                }
                let left = bound.map { $0 - waited - onTheWire }
                if state.withLock({ $0.expedited }) {
                    answer = .retry(status: nil, retryAfter: nil, message: "given up (shutdown)")
                } else if let left, let bound, left <= .zero {
                    answer = .retry(
                        status: nil, retryAfter: nil, message: "no answer within max_wait (\(Units.text(bound)))")
                } else {
                    let (answered, took) = await clock.measuring { await transport.send(body, timeout: left) }
                    answer = answered
                    onTheWire += took
                }
            } catch {
                // A body that cannot be read back (the spool's checksum passed, so this is a bug
                // or a disk fault): keep it aside as dead letters rather than loop on it.
                logger.error("cannot prepare a batch for sending", metadata: ["error": "\(error)"])
                result.deadLettered += chunk.points
                delivery.deadLettered.increment(by: Int64(chunk.points))
                continue
            }
            switch answer {
            case .delivered:
                result.delivered += chunk.points
            case .badLines(let status, let message, let line):
                let lines = (try? chunk.lines()) ?? []
                if lines.count <= 1 {
                    result.deadLettered += await deadLetter(
                        lines, status: status, message: message, count: chunk.points)
                } else if let line, line >= 1, line <= lines.count {
                    result.deadLettered += await deadLetter(
                        [lines[line - 1]], status: status, message: message, count: 1)
                    var rest = lines
                    rest.remove(at: line - 1)
                    work.insert(NetworkChunk(lines: rest[...], precision: chunk.precision), at: 0)
                } else {
                    work.insert(contentsOf: NetworkChunk.halves(lines, precision: chunk.precision), at: 0)
                }
            case .tooLarge(let status, let message):
                let lines = (try? chunk.lines()) ?? []
                if lines.count <= 1 {
                    result.deadLettered += await deadLetter(
                        lines, status: status, message: message, count: chunk.points)
                } else {
                    work.insert(contentsOf: NetworkChunk.halves(lines, precision: chunk.precision), at: 0)
                }
            case .rejected(let status, let message):
                let lines = (try? chunk.lines()) ?? []
                result.deadLettered += await deadLetter(lines, status: status, message: message, count: chunk.points)
            case .retry, .refused:
                var serverDelay: Duration?
                if case .retry(_, let retryAfter, _) = answer, let retryAfter {
                    serverDelay = min(retryAfter, policy.maxRetryAfter)
                }
                let delay = serverDelay ?? policy.backoff(attempt: retries + 1)
                let refused: Bool
                if case .refused = answer { refused = true } else { refused = false }
                if refused || retries >= policy.maxRetries || waited + onTheWire + delay > budget
                    || state.withLock({ $0.expedited })
                {
                    work.insert(chunk, at: 0)
                    result.failure = Failure(answer: answer, serverDelay: serverDelay)
                    do {
                        result.remainder = try NetworkChunk.merge(work, precision: first.precision)
                    } catch {
                        let points = work.reduce(0) { $0 + $1.points }
                        logger.error("cannot re-encode the rest of a batch", metadata: ["error": "\(error)"])
                        result.deadLettered += points
                        delivery.deadLettered.increment(by: Int64(points))
                    }
                    return result
                }
                retries += 1
                waited += delay
                delivery.retries.increment()
                logger.debug(
                    "write failed, retrying",
                    metadata: [
                        "status": "\(answer.statusText)", "retry_in": "\(Units.text(delay))", "retry": "\(retries)",
                    ])
                try? await clock.sleep(for: delay, tolerance: nil)
                work.insert(chunk, at: 0)
            }
        }
        return result
    }
}

extension Clock where Duration == Swift.Duration {
    /// What `work` returned and how long it took on this clock.
    func measuring<T>(_ work: () async -> T) async -> (T, Swift.Duration) {
        let start = now
        let value = await work()
        return (value, start.duration(to: now))
    }
}
