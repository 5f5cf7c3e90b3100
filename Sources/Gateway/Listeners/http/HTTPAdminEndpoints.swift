import CoreMetrics
import Foundation
import GatewayCore
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Plugins
import ServiceLifecycle

/// The operator endpoints (`/health`, `/metrics`, `/api/v1/status`), spool administration and plugin routes.
extension HTTPHandlers {
    // MARK: Operator endpoints

    func health() -> Response {
        if status.isDraining {
            return Self.json(.serviceUnavailable, HealthAnswer(status: "fail", message: "draining"))
        }
        return Self.json(.ok, HealthAnswer(status: "pass"))
    }

    func metrics(_ request: Request) -> Response {
        if let denied = authorizeRead(request) { return denied }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(
            status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: status.metrics.exposition())))
    }

    func statusJSON(_ request: Request) -> Response {
        if let denied = authorizeRead(request) { return denied }
        return Self.json(.ok, status.status())
    }

    /// `POST /api/v1/reload` (a write: the token): reads the configuration again and applies it;
    /// 200 with the outcome (applied or unchanged), 400 with the problems when it was refused (the
    /// running configuration goes on), 503 while shutting down.
    func reload(_ request: Request) async -> Response {
        if let denied = authorize(request) { return denied }
        let outcome = await reloadConfig("POST /api/v1/reload")
        switch outcome.result {
        case "refused" where status.isDraining: return Self.json(.serviceUnavailable, outcome)
        case "refused": return Self.json(.badRequest, outcome)
        default: return Self.json(.ok, outcome)
        }
    }

    // MARK: Spool administration (what `gateway spool` uses when this gateway owns the file)

    func spoolStats(_ request: Request) -> Response {
        if let denied = authorizeRead(request) { return denied }
        return Self.json(.ok, SpoolList(sinks: spools.describe()))
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
            SpoolReplayAnswer(
                sink: sink, batches: entry.store.batchCount, points: entry.store.pointCount,
                health: replayer.health.text))
    }

    func spoolPurge(_ request: Request, sink: String) async -> Response {
        if let denied = authorize(request) { return denied }
        guard let entry = spools.entry(sink) else { return unknownSpool(sink) }
        do {
            let purged = try await entry.store.purge()
            logger.warning(
                "spool purged over the admin API",
                metadata: ["sink": "\(sink)", "batches": "\(purged.batches)", "points": "\(purged.points)"])
            return Self.json(.ok, SpoolPurgeAnswer(sink: sink, batches: purged.batches, points: purged.points))
        } catch {
            return Self.influxError(.internalServerError, code: "internal error", message: "purge failed: \(error)")
        }
    }

    func unknownSpool(_ sink: String) -> Response {
        let known = spools.entries.map(\.sink).sorted().joined(separator: ", ")
        return Self.influxError(
            .notFound, code: "not found",
            message: "no spool for sink \"\(sink)\" (spools: \(known.isEmpty ? "none" : known))")
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
}

/// `GET /health`: `{"status": "pass"}`, or `{"status": "fail", "message": "draining"}` (503).
struct HealthAnswer: Codable, Sendable {
    var status: String
    var message: String?
}
