import AsyncHTTPClient
import CoreMetrics
import Foundation
import GatewayCore
import Logging
import NIOCore
import Synchronization

/// Delivers BAD checks to a webhook: one JSON POST per check, from a bounded queue, retried on
/// network errors, 429 and 5xx with a doubling wait (capped at a minute). An alert that cannot be
/// queued or delivered is counted and logged, never dropped silently.
public final class DwmonWebhook: Sendable {
    let settings: DwmonSettings.Webhook
    let client: HTTPClient
    let logger: Logger
    let delivered: Counter
    let failed: Counter
    let dropped: Counter
    /// What retries wait on (the plugin's clock).
    let clock: any Clock<Duration>
    private let stream: AsyncStream<[UInt8]>
    private let continuation: AsyncStream<[UInt8]>.Continuation
    private let pending = Atomic<Int>(0)

    init(
        settings: DwmonSettings.Webhook, client: HTTPClient, plugin: String, logger: Logger,
        metrics: any MetricsFactory,
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.settings = settings
        self.clock = clock
        self.client = client
        self.logger = logger
        func counter(_ outcome: String) -> Counter {
            Counter(
                label: "gateway_plugin_dwmon_webhook_total", dimensions: [("plugin", plugin), ("outcome", outcome)],
                factory: metrics)
        }
        delivered = counter("delivered")
        failed = counter("failed")
        dropped = counter("dropped")
        (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .unbounded)
    }

    /// Alerts queued and not yet delivered or given up.
    public var backlog: Int { pending.load(ordering: .relaxed) }

    /// The JSON an alert carries: the check, the requirement line as written, and `__EXTRA__`.
    static func body(_ check: DwmonCheck, file: DwmonFile, requirementText: String, zone: TimeZone) -> [UInt8] {
        var extra = JSONValue.object([])
        if !file.extra.isEmpty, let parsed = try? JSONValue.parse(Array(file.extra.utf8)) {
            extra = parsed
        }
        return JSONBody.encode(
            DwmonWebhookBody(
                check: DwmonCheckAnswer(check, zone: zone), requirementText: requirementText, source: file.source,
                extra: EncodableJSON(value: extra)))
    }

    /// Queues one alert; refused (counted, logged) when `queue_size` alerts already wait.
    func enqueue(_ body: [UInt8], what: String) {
        let waiting = pending.add(1, ordering: .relaxed).newValue
        guard waiting <= settings.queueSize else {
            pending.subtract(1, ordering: .relaxed)
            dropped.increment()
            logger.error(
                "dwmon webhook queue full; alert dropped",
                metadata: ["alert": "\(what)", "queue_size": "\(settings.queueSize)"])
            return
        }
        continuation.yield(body)
    }

    /// Delivers queued alerts until cancelled; what is left then is counted as dropped and logged.
    func run() async {
        for await body in stream {
            if Task.isCancelled {
                pending.subtract(1, ordering: .relaxed)
                dropped.increment()
                continue
            }
            await deliver(body)
            pending.subtract(1, ordering: .relaxed)
            if Task.isCancelled { break }
        }
        let left = pending.exchange(0, ordering: .relaxed)
        if left > 0 {
            dropped.increment(by: Int64(left))
            logger.warning(
                "dwmon webhook: alerts not delivered at shutdown (their checks are in the state file and were emitted as points)",
                metadata: ["alerts": "\(left)"])
        }
    }

    func finish() { continuation.finish() }

    private func deliver(_ body: [UInt8]) async {
        var wait = min(settings.backoff, .seconds(60))
        let shown = DwmonRedact.url(settings.url)
        var lastError = ""
        var tries = 0
        for attempt in 1...max(1, settings.attempts) {
            tries = attempt
            var request = HTTPClientRequest(url: settings.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "gateway-dwmon")
            for (name, value) in settings.headers { request.headers.add(name: name, value: value) }
            request.body = .bytes(ByteBuffer(bytes: body))
            let sent = request
            var retryAfter: Duration?
            do {
                let (client, timeout) = (self.client, settings.timeout)
                // The whole exchange under the timeout: a receiver that stalls after its headers
                // must not hold up the queue.
                let (code, retryHeader) = try await withDeadline(timeout) {
                    let response = try await client.execute(sent, timeout: .nanoseconds(Units.nanoseconds(timeout)))
                    _ = try? await response.body.collect(upTo: 1 << 20)
                    return (Int(response.status.code), response.headers.first(name: "Retry-After"))
                }
                if (200..<300).contains(code) {
                    delivered.increment()
                    return
                }
                lastError = "answered \(code)"
                if code != 429 && code < 500 {
                    break  // the receiver refuses this alert; trying again would not change that
                }
                if let header = retryHeader, let seconds = Int(header), seconds >= 0 {
                    retryAfter = .seconds(min(seconds, 300))
                }
            } catch {
                lastError = "\(error)"
            }
            if attempt == settings.attempts || Task.isCancelled { break }
            logger.notice(
                "dwmon webhook: delivery failed; trying again",
                metadata: ["url": "\(shown)", "attempt": "\(attempt)", "error": "\(lastError)"])
            try? await clock.sleep(for: retryAfter ?? wait, tolerance: nil)
            wait = min(wait * 2, .seconds(60))
        }
        failed.increment()
        logger.error(
            "dwmon webhook: alert not delivered; giving up",
            metadata: ["url": "\(shown)", "attempts": "\(tries)", "error": "\(lastError)"])
    }
}
