/// What the HTTP writers did, summed over connections.
struct HTTPLoadResult {
    /// Points in bodies answered 204: what the target acknowledged.
    var pointsAccepted = 0
    var requests = 0
    /// Answers other than 204, by status.
    var errorStatuses: [Int: Int] = [:]
    /// Requests that got no answer at all (connection refused, reset, timed out).
    var transportFailures = 0
    /// The first error seen, to print.
    var firstError: String?
    /// From the common start to the last answer.
    var elapsed = 0.0

    var errors: Int { errorStatuses.values.reduce(0, +) + transportFailures }
}

/// `POST /api/v2/write` with pre-generated bodies over `connections` keep-alive connections, each on
/// its own thread, for a fixed time. Every connection owns a pool of bodies; when it has sent them
/// all it moves their timestamps on (``Payload/renew(_:)``) and starts again, so no point repeats.
final class HTTPLoad {
    static let path = "/api/v2/write"
    let pools: [Payload]

    init(connections: Int, linesPerBody: Int, bodiesPerConnection: Int, timestamps: TimestampAllocator) {
        pools = (0..<connections).map { _ in
            Payload(lines: linesPerBody * bodiesPerConnection, linesPerChunk: linesPerBody, timestamps: timestamps)
        }
    }

    /// Sends for `duration` seconds; with `once`, every body of every pool exactly once instead (a
    /// fixed number of points, however long it takes).
    func run(port: Int, duration: Double, timestamps: TimestampAllocator, once: Bool = false) -> HTTPLoadResult {
        let pools = self.pools
        // Connections are opened first; the clock starts for all at once.
        let start = Monotonic.now() + 0.2
        let perConnection = Threads.run(count: pools.count) { index in
            Self.write(
                pool: pools[index], port: port, start: start, duration: duration, timestamps: timestamps, once: once)
        }
        var total = HTTPLoadResult()
        var lastAnswer = start
        for (result, end) in perConnection {
            total.pointsAccepted += result.pointsAccepted
            total.requests += result.requests
            total.errorStatuses.merge(result.errorStatuses, uniquingKeysWith: +)
            total.transportFailures += result.transportFailures
            total.firstError = total.firstError ?? result.firstError
            lastAnswer = max(lastAnswer, end)
        }
        total.elapsed = lastAnswer - start
        return total
    }

    /// One connection's loop; returns its counts and the time of its last answer.
    private static func write(
        pool: Payload, port: Int, start: Double, duration: Double, timestamps: TimestampAllocator, once: Bool
    ) -> (HTTPLoadResult, Double) {
        var result = HTTPLoadResult()
        var connection: HTTPConnection?
        do {
            connection = try HTTPConnection(port: port)
        } catch {
            result.firstError = "\(error)"
        }
        Monotonic.sleep(start - Monotonic.now())
        let end = start + duration
        var next = 0
        var lastAnswer = start
        while once ? next < pool.chunkCount : Monotonic.now() < end {
            if next == pool.chunkCount {
                pool.renew(timestamps)
                next = 0
            }
            do {
                if connection == nil || connection!.isClosed { connection = try HTTPConnection(port: port) }
                let response = try connection!.request(
                    "POST", path, contentType: "text/plain; charset=utf-8", body: pool.chunk(next))
                result.requests += 1
                if response.status == 204 {
                    result.pointsAccepted += pool.linesIn(chunk: next)
                } else {
                    result.errorStatuses[response.status, default: 0] += 1
                    if result.firstError == nil {
                        result.firstError = "HTTP \(response.status): \(response.text.prefix(300))"
                    }
                }
            } catch {
                result.transportFailures += 1
                if result.firstError == nil { result.firstError = "\(error)" }
                connection = nil
                Monotonic.sleep(0.05)  // a target that is down should not be hammered with connects
            }
            lastAnswer = Monotonic.now()
            next += 1
        }
        return (result, lastAnswer)
    }
}

/// One small write before a measurement, to see the target take HTTP writes at all.
enum HTTPProbe {
    static func send(_ payload: Payload, port: Int) throws {
        let connection = try HTTPConnection(port: port, timeout: 10)
        for i in 0..<payload.chunkCount {
            let response = try connection.request(
                "POST", HTTPLoad.path, contentType: "text/plain; charset=utf-8", body: payload.chunk(i))
            guard response.status == 204 else {
                throw BenchError("probe write answered HTTP \(response.status): \(response.text.prefix(300))")
            }
        }
    }
}
