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
    var reload: @Sendable (String) async -> ReloadOutcome = {
        .refused(origin: $0, errors: ["reload is not available"])
    }
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
            config: config, ingest: ingest, journal: journal, status: status, spools: spools, reloadConfig: reload,
            unauthorized: unauthorized,
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
        router.get("/api/v1/tap") { request, _ in handlers.tap(request) }
        router.get("/") { request, _ in handlers.statusPage(request) }
        router.get("/ui") { request, _ in handlers.statusPage(request) }
        router.get("/api/v1/events") { request, _ in handlers.statusEvents(request) }
        router.post("/api/v1/spool/:sink/replay") { request, context in
            handlers.spoolReplay(request, sink: context.parameters.get("sink") ?? "")
        }
        router.post("/api/v1/reload") { request, _ in await handlers.reload(request) }
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
                    "listener": "\(name)", "max_connections": "\(config.maxConnections)",
                    "open_file_limit": "\(files.rlim_cur)",
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
                spools.recordAdminURL(
                    "http://\(host.contains(":") ? "[\(host)]" : host):\(channel.localAddress?.port ?? 0)")
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
    let reloadConfig: @Sendable (String) async -> ReloadOutcome
    let unauthorized: CoreMetrics.Counter
    let logger: Logger
}

// MARK: Who may call

extension HTTPHandlers {
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

}
