import CompressNIO
import Foundation
import GatewayCore
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A TEST DOUBLE of InfluxDB 2.x's `/api/v2/write`, for the answers a real Influx-compatible
/// server will not give on demand (VictoriaMetrics never sends 400 with a line number, 401,
/// 413, 429/503 with Retry-After or a 500 loop). It answers as InfluxDB's documentation says:
/// by default it parses the body with the gateway's own decoder and, like InfluxDB, refuses the
/// whole batch with 400 and the first malformed line's number; a test can script other answers.
/// Everything it accepts is recorded, line by line, in arrival order.
public final class InfluxContractDouble: Sendable {
    public struct Request: Sendable {
        public var path: String
        public var query: [String: String]
        public var headers: [(String, String)]
        public var lines: [String]
        public var gzipped: Bool
        /// The body as it came, before any decompression.
        public var body: [UInt8]
    }

    public struct Answer: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: String

        public init(status: Int, headers: [(String, String)] = [], body: String = "") {
            self.status = status
            self.headers = headers
            self.body = body
        }

        public static func influxError(
            _ status: Int, code: String, message: String, line: Int? = nil, headers: [(String, String)] = []
        )
            -> Answer
        {
            var object: [String: Any] = ["code": code, "message": message]
            if let line { object["line"] = line }
            let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            return Answer(
                status: status, headers: headers + [("Content-Type", "application/json")],
                body: String(decoding: data, as: UTF8.self))
        }
    }

    /// Decides the answer to a request; nil means the default behaviour (parse, 204 or 400).
    public typealias Script = @Sendable (Request) -> Answer?

    struct State {
        var requests: [Request] = []
        var accepted: [String] = []
        var script: Script?
        var token: String?
        var maxLines: Int?
        var answerDelay: TimeAmount?
        var unanswered = 0
        var mostUnanswered = 0
    }

    let state = Mutex(State())
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel = Mutex<Channel?>(nil)
    private let boundPort = Atomic<Int>(0)
    public var port: Int { boundPort.load(ordering: .relaxed) }

    public init() {}

    public func start() async throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(Handler(double: self))
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        self.channel.withLock { $0 = channel }
        boundPort.store(channel.localAddress?.port ?? 0, ordering: .relaxed)
    }

    public func stop() async throws {
        let channel = self.channel.withLock { $0 }
        try? await channel?.close()
        try await group.shutdownGracefully()
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// Replaces the script (nil: default behaviour).
    public func script(_ script: Script?) { state.withLock { $0.script = script } }
    /// Requires `Authorization: Token <token>`; 401 otherwise (nil: no check).
    public func requireToken(_ token: String?) { state.withLock { $0.token = token } }
    /// Answers 413 to a body of more than `lines` lines (nil: no limit).
    public func limitLines(_ lines: Int?) { state.withLock { $0.maxLines = lines } }

    /// Holds every answer this long (a slow server), so that requests overlap.
    public func delayAnswers(_ delay: Duration?) {
        state.withLock {
            $0.answerDelay = delay.map {
                .nanoseconds(Int64($0.components.seconds) * 1_000_000_000 + $0.components.attoseconds / 1_000_000_000)
            }
        }
    }

    /// The most requests that were waiting for their answers at one time.
    public var mostConcurrentRequests: Int { state.withLock { $0.mostUnanswered } }

    public var requests: [Request] { state.withLock { $0.requests } }
    public var accepted: [String] { state.withLock { $0.accepted } }

    func answer(_ request: Request) -> Answer {
        let (script, token, maxLines) = state.withLock { s in
            s.requests.append(request)
            return (s.script, s.token, s.maxLines)
        }
        if let answer = script?(request) { return answer }
        if let token {
            let header = request.headers.first { $0.0.lowercased() == "authorization" }?.1
            if header != "Token \(token)" {
                return .influxError(401, code: "unauthorized", message: "unauthorized access")
            }
        }
        if let maxLines, request.lines.count > maxLines {
            return .influxError(413, code: "request too large", message: "request entity too large")
        }
        let precision = Precision(influx: request.query["precision"] ?? "ns") ?? .nanoseconds
        let decoder = LineProtocolDecoder(precision: precision)
        for (index, line) in request.lines.enumerated() {
            let result = decoder.decode(line)
            if let error = result.errors.first {
                return .influxError(
                    400, code: "invalid", message: "unable to parse '\(line)': \(error.message)", line: index + 1)
            }
        }
        state.withLock { $0.accepted.append(contentsOf: request.lines) }
        return Answer(status: 204)
    }

    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let double: InfluxContractDouble
        var head: HTTPRequestHead?
        var body = ByteBuffer()

        init(double: InfluxContractDouble) { self.double = double }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body.clear()
            case .body(var part):
                body.writeBuffer(&part)
            case .end:
                guard let head else { return }
                let answer = double.answer(Self.request(head: head, body: body))
                let delay = double.state.withLock { s -> TimeAmount? in
                    guard let delay = s.answerDelay else { return nil }
                    s.unanswered += 1
                    s.mostUnanswered = max(s.mostUnanswered, s.unanswered)
                    return delay
                }
                guard let delay else {
                    respond(answer, to: head, context: context)
                    return
                }
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: delay) {
                    let (handler, context) = loopBound.value
                    handler.double.state.withLock { $0.unanswered -= 1 }
                    handler.respond(answer, to: head, context: context)
                }
            }
        }

        func respond(_ answer: Answer, to head: HTTPRequestHead, context: ChannelHandlerContext) {
            var headers = HTTPHeaders()
            for (name, value) in answer.headers { headers.add(name: name, value: value) }
            headers.add(name: "Content-Length", value: "\(answer.body.utf8.count)")
            let status = HTTPResponseStatus(statusCode: answer.status)
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                promise: nil)
            if !answer.body.isEmpty {
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: answer.body)))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }

        static func request(head: HTTPRequestHead, body: ByteBuffer) -> Request {
            var body = body
            let received = Array(body.readableBytesView)
            let gzipped = head.headers.first(name: "Content-Encoding")?.lowercased() == "gzip"
            if gzipped, let inflated = try? body.decompress(with: .gzip()) { body = inflated }
            let text = String(buffer: body)
            // Line protocol string values may hold newlines; the gateway's lines do not in
            // these tests, so plain splitting is enough here.
            let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
            let parts = head.uri.split(separator: "?", maxSplits: 1)
            var query: [String: String] = [:]
            if parts.count == 2 {
                for pair in parts[1].split(separator: "&") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    query[String(kv[0])] = kv.count == 2 ? String(kv[1]).removingPercentEncoding ?? String(kv[1]) : ""
                }
            }
            return Request(
                path: String(parts.first ?? ""), query: query, headers: head.headers.map { ($0.name, $0.value) },
                lines: lines, gzipped: gzipped, body: received)
        }
    }
}
