import CoreMetrics
import Dispatch
import Hummingbird
import Synchronization

/// Counts every HTTP request by endpoint (the route's path pattern, `unmatched` for none), method
/// and status code, and times it (`gateway_http_requests_total`,
/// `gateway_http_request_duration_seconds`). The endpoint is the route's pattern, not the path, so the
/// label set stays bounded whatever clients ask for.
struct HTTPRequestMetrics<Context: RequestContext>: RouterMiddleware {
    final class Cache: Sendable {
        let listener: String
        let factory: any MetricsFactory
        private let counters = Mutex<[String: CoreMetrics.Counter]>([:])
        private let timers = Mutex<[String: CoreMetrics.Timer]>([:])

        init(listener: String, factory: any MetricsFactory) {
            self.listener = listener
            self.factory = factory
        }

        func record(endpoint: String, method: String, status: Int, nanoseconds: UInt64) {
            let counter = counters.withLock { counters in
                let key = "\(endpoint) \(method) \(status)"
                if let existing = counters[key] { return existing }
                let made = Counter(
                    label: "gateway_http_requests_total",
                    dimensions: [
                        ("listener", listener), ("endpoint", endpoint), ("method", method), ("code", "\(status)"),
                    ],
                    factory: factory)
                counters[key] = made
                return made
            }
            let timer = timers.withLock { timers in
                let key = "\(endpoint) \(method)"
                if let existing = timers[key] { return existing }
                let made = Timer(
                    label: "gateway_http_request_duration_seconds",
                    dimensions: [("listener", listener), ("endpoint", endpoint), ("method", method)], factory: factory)
                timers[key] = made
                return made
            }
            counter.increment()
            timer.recordNanoseconds(Int64(nanoseconds))
        }
    }

    let cache: Cache

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = DispatchTime.now().uptimeNanoseconds
        let method = request.method.rawValue
        // Hummingbird names a path no route serves "NotFound".
        func endpoint() -> String { context.endpointPath.flatMap { $0 == "NotFound" ? nil : $0 } ?? "unmatched" }
        do {
            let response = try await next(request, context)
            cache.record(
                endpoint: endpoint(), method: method, status: response.status.code,
                nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            cache.record(
                endpoint: endpoint(), method: method, status: status,
                nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
            throw error
        }
    }
}
