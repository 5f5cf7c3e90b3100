import CoreMetrics
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// The time limits of one HTTP connection.
struct HTTPTimeouts: Sendable {
    /// A new connection must send a complete request head within this.
    var readHeader: Duration
    /// A request body must arrive whole within this of its head.
    var body: Duration
    /// A kept-alive connection must complete its next request head within this of the last response.
    var idle: Duration
}

/// Hummingbird's HTTP/1 channel with an ``HTTPConnectionGuard`` behind the HTTP decoder of every
/// connection (where it sees request heads, body ends and response ends).
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let connections: HTTPConnections
    let timeouts: HTTPTimeouts

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { [connections, timeouts] value in
            let pipeline = channel.pipeline.syncOperations
            let decoder = try pipeline.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandler(
                HTTPConnectionGuard(connections: connections, timeouts: timeouts), position: .after(decoder.handler))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// Closes a connection that does not send a complete request head in time (a new connection:
/// `read_header_timeout`; a kept-alive one: `idle_timeout` from its last response), or whose
/// request body stalls (`body_timeout` from the head). A connection whose request is being
/// handled is never timed out: the handler's time is the gateway's, not the client's.
final class HTTPConnectionGuard: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Phase: Equatable {
        /// Waiting for a request head: the first (`read_header_timeout`) or the next (`idle_timeout`).
        case waiting
        case readingBody
        case handling
    }

    private let connections: HTTPConnections
    private let timeouts: HTTPTimeouts
    private var context: ChannelHandlerContext?
    private var registered = false
    private var heads = 0
    private var ends = 0
    private var responses = 0
    private var phase = Phase.waiting
    private var timer: Scheduled<Void>?
    private var generation = 0

    init(connections: HTTPConnections, timeouts: HTTPTimeouts) {
        self.connections = connections
        self.timeouts = timeouts
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop(context)
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop(context)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: heads += 1
        case .body: break
        case .end: ends += 1
        }
        update(context)
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            responses += 1
            update(context)
        }
        context.write(data, promise: promise)
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !registered else { return }
        registered = true
        guard connections.opened(context.channel) else {
            context.close(promise: nil)
            return
        }
        arm(context, timeouts.readHeader, .readHeaderTimeout)
    }

    private func stop(_ context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if registered {
            registered = false
            connections.closed(context.channel)
        }
    }

    private func update(_ context: ChannelHandlerContext) {
        let next: Phase = ends < heads ? .readingBody : responses < heads ? .handling : .waiting
        guard next != phase else { return }
        phase = next
        switch next {
        case .readingBody:
            connections.busy(context.channel)
            arm(context, timeouts.body, .bodyTimeout)
        case .handling:
            connections.busy(context.channel)
            disarm()
        case .waiting:
            connections.waiting(context.channel)
            arm(context, timeouts.idle, .idleTimeout)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
        generation += 1
    }

    private func arm(_ context: ChannelHandlerContext, _ delay: Duration, _ reason: HTTPConnections.CloseReason) {
        disarm()
        let armed = generation
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { [self] in
            guard armed == generation, let context = self.context, context.channel.isActive else { return }
            connections.count(reason)
            context.close(promise: nil)
        }
    }
}

/// On the listening socket: when `accept` fails for want of file descriptors (EMFILE, ENFILE) or
/// memory, NIO leaves the socket registered for reading (its read stays pending until an accept
/// succeeds), so the event loop would retry the accept at once, for ever, at full CPU, and
/// pausing reads cannot stop it. What does: make the accept succeed. When a connection is waiting
/// without a request, the longest-waiting one is closed to make room for the new one; when none
/// is, the new connection is shed: a descriptor kept in reserve for this is closed, the pending
/// connection accepted and closed at once, and the reserve opened again (libev's and nginx's
/// answer to EMFILE). Each failure is counted and logged (rate-limited). The error is not passed
/// on: it would end Hummingbird's accept loop.
final class HTTPAcceptGuard: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    static let recoverable: [CInt: String] = [EMFILE: "EMFILE", ENFILE: "ENFILE", ENOBUFS: "ENOBUFS", ENOMEM: "ENOMEM"]

    private let connections: HTTPConnections
    private let errors: [CInt: CoreMetrics.Counter]
    private let log: RateLimitedLog
    /// The listening socket's descriptor (NIO does not expose it), for shedding.
    private let listeningSocket: CInt?
    private var reserve: CInt

    init(connections: HTTPConnections, listeningSocket: CInt?, factory: any MetricsFactory, logger: Logger) {
        self.connections = connections
        self.listeningSocket = listeningSocket
        var errors: [CInt: CoreMetrics.Counter] = [:]
        for (code, name) in Self.recoverable {
            errors[code] = Counter(
                label: "gateway_http_accept_errors_total",
                dimensions: [("listener", connections.listener), ("error", name)],
                factory: factory)
        }
        self.errors = errors
        log = RateLimitedLog(logger: logger, burst: 1, window: .seconds(10))
        reserve = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    deinit {
        if reserve >= 0 { close(reserve) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let io = error as? IOError, let name = Self.recoverable[io.errnoCode] else {
            context.fireErrorCaught(error)
            return
        }
        errors[io.errnoCode]?.increment()
        let evicted = connections.evict(1)
        let shed = evicted == 0 ? shedPending() : 0
        log.warning(
            "http listener cannot accept connections (out of file descriptors or memory): closing an idle connection or shedding new ones",
            metadata: [
                "listener": "\(connections.listener)", "error": "\(name)", "open_connections": "\(connections.count)",
                "closed_idle": "\(evicted)", "shed": "\(shed)",
            ])
    }

    /// Accepts the connections waiting in the backlog and closes them at once, using the reserve
    /// descriptor's slot; returns how many.
    private func shedPending() -> Int {
        guard let listeningSocket, reserve >= 0 else { return 0 }
        close(reserve)
        var shed = 0
        while shed < 64 {
            let fd = accept(listeningSocket, nil, nil)  // non-blocking: the listening socket is
            guard fd >= 0 else { break }
            close(fd)
            shed += 1
        }
        reserve = open("/dev/null", O_RDONLY | O_CLOEXEC)
        for _ in 0..<shed { connections.count(.shed) }
        return shed
    }

    /// The descriptor of this process's listening TCP socket on `port`, found through /proc/self/fd.
    static func listeningSocket(port: Int) -> CInt? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return nil }
        for entry in entries {
            guard let fd = CInt(entry) else { continue }
            var listening: CInt = 0
            var length = socklen_t(MemoryLayout<CInt>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0, listening == 1 else { continue }
            var storage = sockaddr_storage()
            var size = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let named = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &size) }
            }
            guard named == 0 else { continue }
            let found: Int
            switch Int32(storage.ss_family) {
            case AF_INET:
                found = withUnsafePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                        Int(UInt16(bigEndian: $0.pointee.sin_port))
                    }
                }
            case AF_INET6:
                found = withUnsafePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                        Int(UInt16(bigEndian: $0.pointee.sin6_port))
                    }
                }
            default: continue
            }
            if found == port { return fd }
        }
        return nil
    }
}
