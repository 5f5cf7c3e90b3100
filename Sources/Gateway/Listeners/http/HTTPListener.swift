import CoreMetrics
import Foundation
import GatewayCore
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Plugins
import ServiceLifecycle

/// The HTTP listener: InfluxDB's write endpoints (`/api/v2/write`, `/write`), JSON points
/// (`/api/v1/points`), and the operator endpoints (`/health`, `/metrics`, `/api/v1/status`).
struct HTTPListener: Service, CustomStringConvertible {
    let name: String
    let config: HTTPListenerConfig
    let ingest: Ingest
    /// The ingest journal (`ack: durable`); nil with `ack: memory`.
    var journal: IngestJournal? = nil
    let status: StatusReporter
    var spools = SpoolAdmin(entries: [])
    var pluginRoutes: [PluginRoute] = []
    let logger: Logger

    /// What service-lifecycle logs for this service: the name and address, never the settings.
    var description: String { "HTTPListener(\(name), \(config.listen))" }

    func run() async throws {
        let router = Hummingbird.Router(context: BasicRequestContext.self)
        router.middlewares.add(
            HTTPRequestMetrics(cache: .init(listener: name, factory: status.metrics.factory)))
        let unauthorized = Counter(
            label: "gateway_http_unauthorized_total", dimensions: [("listener", name)], factory: status.metrics.factory)
        let handlers = HTTPHandlers(
            config: config, ingest: ingest, journal: journal, status: status, spools: spools, unauthorized: unauthorized,
            logger: logger)
        // What an earlier run journaled and no sink settled is routed again before requests are taken.
        if let journal { try await JournalRecovery(journal: journal, ingest: ingest, logger: logger).run() }
        router.post("/api/v2/write") { request, _ in await handlers.influxWrite(request) }
        router.post("/write") { request, _ in await handlers.influxWrite(request) }
        router.post("/api/v1/points") { request, _ in await handlers.jsonPoints(request) }
        router.get("/health") { _, _ in handlers.health() }
        router.get("/ping") { _, _ in Response(status: .noContent) }
        router.head("/ping") { _, _ in Response(status: .noContent) }
        router.get("/metrics") { request, _ in handlers.metrics(request) }
        router.get("/api/v1/status") { request, _ in handlers.statusJSON(request) }
        router.get("/api/v1/spool") { request, _ in handlers.spoolStats(request) }
        router.post("/api/v1/spool/:sink/replay") { request, context in
            handlers.spoolReplay(request, sink: context.parameters.get("sink") ?? "")
        }
        router.post("/api/v1/spool/:sink/purge") { request, context in
            await handlers.spoolPurge(request, sink: context.parameters.get("sink") ?? "")
        }
        for route in pluginRoutes {
            let method: HTTPRequest.Method
            switch route.method {
            case .get: method = .get
            case .put: method = .put
            case .post: method = .post
            case .delete: method = .delete
            }
            router.on(RouterPath(route.path), method: method) { request, context in
                await handlers.plugin(route, request, context)
            }
        }

        let name = self.name
        let logger = self.logger
        let host = config.listen.host
        var serverLogger = logger
        serverLogger.logLevel = max(logger.logLevel, .notice)
        if config.token.isEmpty, !config.listen.isLoopback {
            logger.warning(
                "http listener on a non-loopback address without a token (insecure: true): anyone who reaches it can write points and purge spools",
                metadata: ["listener": "\(name)", "address": "\(config.listen)"])
        }
        var files = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &files) == 0, rlim_t(config.maxConnections + 64) > files.rlim_cur {
            // Not an error: out of descriptors, idle connections are closed and new ones shed.
            logger.warning(
                "max_connections leaves little room under the open-file limit: raise the limit (ulimit -n, LimitNOFILE) or lower max_connections",
                metadata: [
                    "listener": "\(name)", "max_connections": "\(config.maxConnections)", "open_file_limit": "\(files.rlim_cur)",
                ])
        }
        let connections = HTTPConnections(
            listener: name, maxConnections: config.maxConnections, factory: status.metrics.factory, logger: logger)
        let timeouts = config.timeouts
        let factory = status.metrics.factory
        let app = Application(
            router: router,
            server: HTTPServerBuilder { responder in
                GuardedHTTP1Channel(
                    inner: HTTP1Channel(responder: responder), connections: connections, timeouts: timeouts)
            },
            configuration: ApplicationConfiguration(address: .hostname(config.listen.host, port: config.listen.port)),
            onServerRunning: { [spools] channel in
                // First in the listening socket's pipeline: it sees accept errors before anything else.
                try? await channel.eventLoop.submit {
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPAcceptGuard(
                            connections: connections,
                            listeningSocket: HTTPAcceptGuard.listeningSocket(port: channel.localAddress?.port ?? -1),
                            factory: factory, logger: logger),
                        position: .first)
                }.get()
                spools.recordAdminURL("http://\(host.contains(":") ? "[\(host)]" : host):\(channel.localAddress?.port ?? 0)")
                logger.info(
                    "http listener ready",
                    metadata: ["listener": "\(name)", "address": "\(host):\(channel.localAddress?.port ?? 0)"])
            },
            logger: serverLogger
        )
        try await app.run()
        logger.info("http listener stopped", metadata: ["listener": "\(name)"])
        journal?.close()
    }
}

/// The request handlers, separate from the server so each reads on its own.
struct HTTPHandlers: Sendable {
    let config: HTTPListenerConfig
    let ingest: Ingest
    let journal: IngestJournal?
    let status: StatusReporter
    let spools: SpoolAdmin
    let unauthorized: CoreMetrics.Counter
    let logger: Logger

    // MARK: Influx writes

    func influxWrite(_ request: Request) async -> Response {
        let precision: Precision
        let body: ByteBuffer
        switch await accept(request, defaultPrecision: .nanoseconds) {
        case .success(let accepted): (body, precision) = accepted
        case .failure(let failure): return failure.response
        }
        let receiveTime = Ingest.now()
        var points: [Point] = []
        points.reserveCapacity(body.readableBytes / 64)
        let errors = body.withUnsafeReadableBytes { bytes in
            ingest.decode(bytes, format: .lineProtocol, linePrecision: precision, receiveTime: receiveTime, into: &points)
        }
        if let first = errors.first {
            // As InfluxDB: a batch with a malformed line is refused whole, so the client can fix and resend it.
            if !points.isEmpty { ingest.metrics.rejected(RejectReason("batch_rejected"), count: points.count) }
            let more = errors.count > 1 ? " (and \(errors.count - 1) more bad lines)" : ""
            return Self.influxError(
                .badRequest, code: "invalid",
                message: "unable to parse '\(first.text)': \(first.message) at line \(first.line), column \(first.column)\(more); no points were written",
                line: first.line)
        }
        if let busy = await waitForRoom(points: points.count) { return busy }
        let kept: JournalHold?
        switch journaled(body, points: points.count, format: .lineProtocol, linePrecision: precision, receiveTime: receiveTime) {
        case .success(let acknowledgement): kept = acknowledgement
        case .failure(let failure): return failure.response
        }
        let rejected = ingest.normalise(&points, receiveTime: receiveTime)
        if let failure = await route(points, kept) { return failure }
        if !rejected.isEmpty {
            return Self.partialWrite(rejected, written: points.count)
        }
        return Response(status: .noContent)
    }

    // MARK: Durable acknowledgement

    /// With `ack: durable`, writes the request to the journal before anything else happens to its
    /// points; the acknowledgement returned holds it there until every sink settled them. Refuses
    /// (429 when the journal is at `max_size`, 503 when the disk fails) rather than answer 2xx for
    /// points that could be lost. The points are counted as rejected then, and nothing is routed.
    func journaled(
        _ body: ByteBuffer, points: Int, format: PayloadFormat, linePrecision: Precision = .nanoseconds,
        jsonPrecision: Precision = .seconds, receiveTime: Int64
    ) -> Result<JournalHold?, ResponseFailure> {
        guard let journal, points > 0 else { return .success(nil) }
        let appended = body.withUnsafeReadableBytes { bytes in
            Result { () throws(IngestJournal.AppendError) in
                try journal.append(
                    bytes, format: format, linePrecision: linePrecision, jsonPrecision: jsonPrecision,
                    receiveTime: receiveTime)
            }
        }
        switch appended {
        case .success(let (acknowledgement, sequence)):
            return .success(JournalHold(acknowledgement: acknowledgement, sequence: sequence))
        case .failure(let error):
            return .failure(ResponseFailure(refusal(error, points: points)))
        }
    }

    /// Routes accepted points; with a journal acknowledgement, waits first for the record to be on
    /// stable storage as `sync` asks, then gives back the request's hold.
    func route(_ points: [Point], _ hold: JournalHold?) async -> Response? {
        guard let hold, let journal else {
            await ingest.router.push(points, source: ingest.source)
            return nil
        }
        let acknowledgement = hold.acknowledgement
        do {
            try await journal.waitDurable(hold.sequence)
        } catch {
            acknowledgement.release()
            return refusal(error, points: points.count)
        }
        if !points.isEmpty {
            await ingest.router.push(points, source: ingest.source, acknowledgement: acknowledgement)
        }
        acknowledgement.release()
        return nil
    }

    /// A write waits at most `queue_wait` for room in full `block` sink queues (a sink that cannot
    /// keep up, or holds a batch its spool cannot take); then it is answered 503, nothing of it kept,
    /// rather than hold the client (and, with `ack: durable`, grow the journal) without bound.
    func waitForRoom(points: Int) async -> Response? {
        guard points > 0, !ingest.router.blockQueuesHaveRoom else { return nil }
        if await ingest.router.waitForRoom(upTo: config.queueWait) { return nil }
        let full = ingest.router.fullBlockQueues
        ingest.metrics.rejected(RejectReason("queue_full"), count: points)
        ingest.log.warning(
            "write refused: sink queues stayed full for queue_wait",
            metadata: ["source": "\(ingest.source)", "sinks": "\(full)", "queue_wait": "\(Units.text(config.queueWait))"])
        var response = Self.influxError(
            .serviceUnavailable, code: "unavailable",
            message: "sink queues full for \(Units.text(config.queueWait)) (\(full.joined(separator: ", "))): nothing of this request was kept; retry later")
        response.headers[.retryAfter] = "1"
        return response
    }

    /// A journaled request: its record's number and the hold that keeps it in the journal.
    struct JournalHold {
        var acknowledgement: Acknowledgement
        var sequence: UInt64
    }

    func refusal(_ error: IngestJournal.AppendError, points: Int) -> Response {
        var response: Response
        switch error {
        case .full:
            ingest.metrics.rejected(RejectReason("journal_full"), count: points)
            response = Self.influxError(.tooManyRequests, code: "too many requests", message: "\(error); retry later")
            response.headers[.retryAfter] = "1"
        case .io:
            ingest.metrics.rejected(RejectReason("journal_error"), count: points)
            response = Self.influxError(.serviceUnavailable, code: "unavailable", message: "\(error); retry later")
            response.headers[.retryAfter] = "10"
        }
        ingest.log.warning(
            "write refused: the ingest journal cannot take it", metadata: ["source": "\(ingest.source)", "error": "\(error)"])
        return response
    }

    // MARK: JSON points

    func jsonPoints(_ request: Request) async -> Response {
        let precision: Precision
        let body: ByteBuffer
        switch await accept(request, defaultPrecision: .seconds) {
        case .success(let accepted): (body, precision) = accepted
        case .failure(let failure): return failure.response
        }
        let receiveTime = Ingest.now()
        var points: [Point] = []
        let errors = body.withUnsafeReadableBytes { bytes in
            ingest.decode(bytes, format: .json, jsonPrecision: precision, receiveTime: receiveTime, into: &points)
        }
        if let busy = await waitForRoom(points: points.count) { return busy }
        let kept: JournalHold?
        switch journaled(body, points: points.count, format: .json, jsonPrecision: precision, receiveTime: receiveTime) {
        case .success(let acknowledgement): kept = acknowledgement
        case .failure(let failure): return failure.response
        }
        let rejected = ingest.normalise(&points, receiveTime: receiveTime)
        if let failure = await route(points, kept) { return failure }
        let all = errors + rejected
        if all.isEmpty { return Response(status: .noContent) }
        if points.isEmpty {
            return Self.json(.badRequest, Self.errorList(code: "invalid", written: 0, errors: all))
        }
        return Self.json(.unprocessableContent, Self.errorList(code: "unprocessable entity", written: points.count, errors: all))
    }

    // MARK: Operator endpoints

    func health() -> Response {
        if status.isDraining {
            return Self.json(.serviceUnavailable, #"{"status":"fail","message":"draining"}"#)
        }
        return Self.json(.ok, #"{"status":"pass"}"#)
    }

    func metrics(_ request: Request) -> Response {
        if let denied = authorizeRead(request) { return denied }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: status.metrics.exposition())))
    }

    func statusJSON(_ request: Request) -> Response {
        if let denied = authorizeRead(request) { return denied }
        return Self.json(.ok, status.json())
    }

    // MARK: Spool administration (what `gateway spool` uses when this gateway owns the file)

    func spoolStats(_ request: Request) -> Response {
        if let denied = authorizeRead(request) { return denied }
        return Self.json(.ok, SpoolAdmin.jsonText(["sinks": spools.describe()]))
    }

    func spoolReplay(_ request: Request, sink: String) -> Response {
        if let denied = authorize(request) { return denied }
        guard let entry = spools.entry(sink) else { return unknownSpool(sink) }
        guard let replayer = entry.replayer else {
            return Self.influxError(
                .conflict, code: "conflict", message: "sink \"\(sink)\" is an archive (type spool): nothing replays it")
        }
        replayer.replayNow()
        logger.notice("spool replay requested over the admin API", metadata: ["sink": "\(sink)"])
        return Self.json(
            .accepted,
            SpoolAdmin.jsonText([
                "sink": sink, "batches": entry.store.batchCount, "points": entry.store.pointCount,
                "health": replayer.healthText,
            ]))
    }

    func spoolPurge(_ request: Request, sink: String) async -> Response {
        if let denied = authorize(request) { return denied }
        guard let entry = spools.entry(sink) else { return unknownSpool(sink) }
        do {
            let purged = try await entry.store.purge()
            logger.warning(
                "spool purged over the admin API",
                metadata: ["sink": "\(sink)", "batches": "\(purged.batches)", "points": "\(purged.points)"])
            return Self.json(.ok, SpoolAdmin.jsonText(["sink": sink, "batches": purged.batches, "points": purged.points]))
        } catch {
            return Self.influxError(.internalServerError, code: "internal error", message: "purge failed: \(error)")
        }
    }

    func unknownSpool(_ sink: String) -> Response {
        let known = spools.entries.map(\.sink).sorted().joined(separator: ", ")
        return Self.influxError(
            .notFound, code: "not found", message: "no spool for sink \"\(sink)\" (spools: \(known.isEmpty ? "none" : known))")
    }

    // MARK: Plugin routes

    func plugin(_ route: PluginRoute, _ request: Request, _ context: BasicRequestContext) async -> Response {
        if let denied = route.isWrite ? authorize(request) : authorizeRead(request) { return denied }
        var parameters: [String: String] = [:]
        for (key, value) in context.parameters { parameters[String(key)] = String(value) }
        var query: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
        var body: [UInt8] = []
        if route.method != .get {
            switch await readBody(request) {
            case .success(let buffer): body = Array(buffer.readableBytesView)
            case .failure(let failure): return failure.response
            }
        }
        let answer = await route.handler(PluginRequest(parameters: parameters, query: query, body: body))
        var headers = HTTPFields()
        headers[.contentType] = answer.contentType
        return Response(
            status: HTTPResponse.Status(code: answer.status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }

    // MARK: Helpers

    /// What every write endpoint checks first: the token, the `precision` parameter, the body.
    func accept(_ request: Request, defaultPrecision: Precision) async -> Result<(ByteBuffer, Precision), ResponseFailure> {
        if let denied = authorize(request) { return .failure(ResponseFailure(denied)) }
        var precision = defaultPrecision
        if let text = request.uri.queryParameters.get("precision") {
            guard let p = Precision(influx: text) else {
                return .failure(
                    ResponseFailure(
                        Self.influxError(
                            .badRequest, code: "invalid", message: "invalid precision \"\(text)\": expected ns, us, ms or s")))
            }
            precision = p
        }
        return await readBody(request).map { ($0, precision) }
    }

    /// 401 unless the configured token is given (`Token`, `Bearer`, Basic password, or `p=`).
    func authorize(_ request: Request) -> Response? {
        guard !config.token.isEmpty else { return nil }
        if let credential = Self.credential(request), config.token.matches(credential) { return nil }
        unauthorized.increment()
        return Self.influxError(.unauthorized, code: "unauthorized", message: "unauthorized access")
    }

    /// For the read endpoints: open unless `read_token` is set; then it or the write token.
    func authorizeRead(_ request: Request) -> Response? {
        guard !config.readToken.isEmpty else { return nil }
        if let credential = Self.credential(request),
            config.readToken.matches(credential) || config.token.matches(credential)
        {
            return nil
        }
        unauthorized.increment()
        return Self.influxError(.unauthorized, code: "unauthorized", message: "unauthorized access")
    }

    /// The credential a request carries: `Authorization: Token|Bearer <t>`, a Basic password, or `p=`.
    static func credential(_ request: Request) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            let scheme = parts[0].lowercased()
            if scheme == "token" || scheme == "bearer" { return String(parts[1]) }
            if scheme == "basic", let decoded = Data(base64Encoded: String(parts[1])),
                let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
            {
                return String(text[text.index(after: colon)...])
            }
            return nil
        }
        return request.uri.queryParameters.get("p").map { String($0) }
    }

    /// The body, decoded when gzip (whole or refused: see ``GzipBody``), with the size limit applied to it
    /// as sent and, while decoding, to what it decodes to.
    func readBody(_ request: Request) async -> Result<ByteBuffer, ResponseFailure> {
        let limit = config.maxBody
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            return .failure(ResponseFailure(Self.tooLarge(limit)))
        }
        var body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            return .failure(ResponseFailure(Self.tooLarge(limit)))
        } catch {
            return .failure(ResponseFailure(Self.influxError(.badRequest, code: "invalid", message: "cannot read the request body: \(error)")))
        }
        switch request.headers[.contentEncoding]?.lowercased() {
        case nil, "identity":
            return .success(body)
        case "gzip":
            // Whole or not at all: every member's trailer is checked, so a body cut short, damaged or
            // followed by stray bytes is refused instead of decoding as far as it goes.
            let decoded = body.withUnsafeReadableBytes { bytes in
                Result { () throws(GzipBodyError) -> [UInt8] in try GzipBody.decode(bytes, limit: limit) }
            }
            switch decoded {
            case .success(let bytes):
                return .success(ByteBuffer(bytes: bytes))
            case .failure(let error) where error.kind == .tooLarge:
                return .failure(ResponseFailure(Self.tooLarge(limit, decompressed: true)))
            case .failure(let error):
                return .failure(
                    ResponseFailure(
                        Self.influxError(
                            .badRequest, code: "invalid",
                            message: "invalid gzip body: \(error.message); no points were written")))
            }
        case let other?:
            return .failure(
                ResponseFailure(Self.influxError(.unsupportedMediaType, code: "unsupported media type", message: "unsupported Content-Encoding \"\(other)\": send identity or gzip")))
        }
    }

    struct ResponseFailure: Error {
        var response: Response
        init(_ response: Response) { self.response = response }
    }

    static func tooLarge(_ limit: Int, decompressed: Bool = false) -> Response {
        influxError(
            .contentTooLarge, code: "request too large",
            message: "request body is larger than the limit of \(limit) bytes\(decompressed ? " once decompressed" : "")")
    }

    /// InfluxDB's error body: `{"code": ..., "message": ..., "line": n}`.
    static func influxError(_ status: HTTPResponse.Status, code: String, message: String, line: Int? = nil) -> Response {
        var out: [UInt8] = Array(#"{"code":"#.utf8)
        JSONPointEncoder.appendJSONString(code, to: &out)
        out.append(contentsOf: #","message":"#.utf8)
        JSONPointEncoder.appendJSONString(message, to: &out)
        if let line { out.append(contentsOf: ",\"line\":\(line)".utf8) }
        out.append(UInt8(ascii: "}"))
        return json(status, String(decoding: out, as: UTF8.self))
    }

    /// 422 as InfluxDB answers a partial write: the valid points were written, these were not.
    static func partialWrite(_ rejected: [PointError], written: Int) -> Response {
        json(.unprocessableContent, errorList(code: "unprocessable entity", written: written, errors: rejected))
    }

    static func errorList(code: String, written: Int, errors: [PointError]) -> String {
        var out: [UInt8] = Array(#"{"code":"#.utf8)
        JSONPointEncoder.appendJSONString(code, to: &out)
        let summary = "partial write: \(errors.count) rejected, \(written) written: " + (errors.first.map { "\($0)" } ?? "")
        out.append(contentsOf: #","message":"#.utf8)
        JSONPointEncoder.appendJSONString(summary, to: &out)
        out.append(contentsOf: ",\"written\":\(written),\"rejected\":[".utf8)
        for (i, error) in errors.prefix(100).enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: "{\"line\":\(error.line),\"reason\":".utf8)
            JSONPointEncoder.appendJSONString(error.reason.rawValue, to: &out)
            out.append(contentsOf: #","message":"#.utf8)
            JSONPointEncoder.appendJSONString(error.message, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: "]}".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
