import CoreMetrics
import Foundation
import GatewayCore
import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Receives points over UDP: each datagram holds line-protocol lines or JSON points.
///
/// Datagrams are read in vectors (recvmmsg) into a receive buffer sized for whole datagrams, decoded
/// on the event loop, and routed once per read burst. When a `block` queue is full the listener stops
/// reading; the kernel's buffer then absorbs the burst, and what it drops is read from
/// `/proc/net/udp` and reported as `gateway_udp_kernel_drops_total`. Reading resumes from a task of
/// this service's own, which waits for room in the queues when the handler asks.
struct UDPListener: Service {
    let name: String
    let config: UDPListenerConfig
    let ingest: Ingest
    let metrics: GatewayMetrics
    let logger: Logger

    func run() async throws {
        let ingest = self.ingest
        let config = self.config
        let truncated = Counter(
            label: "gateway_udp_truncated_datagrams_total", dimensions: [("listener", name)], factory: metrics.factory)
        // The handler pauses reading on the event loop and hands over how to resume; the resuming
        // task below waits for room first.
        let (resumes, resumeRequests) = AsyncStream.makeStream(of: UDPIngestHandler.Resume.self)
        let requestResume: @Sendable (@escaping UDPIngestHandler.Resume) -> Void = { resumeRequests.yield($0) }
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.datagramVectorReadMessageCount, value: config.vectorReads)
            .channelOption(
                .recvAllocator,
                value: FixedSizeRecvByteBufferAllocator(capacity: config.vectorReads * (config.maxDatagram + 1))
            )
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        UDPIngestHandler(
                            ingest: ingest, config: config, truncated: truncated, requestResume: requestResume))
                }
            }
            .bind(host: config.listen.host, port: config.listen.port)
            .get()
        let granted =
            await UDPSocketSupport.setReceiveBuffer(
                channel, size: config.receiveBuffer, listener: name, logger: logger) ?? 0
        let port = channel.localAddress?.port ?? config.listen.port
        UDPSocketSupport.registerKernelDrops(port: port, listener: name, metrics: metrics)
        logger.info(
            "udp listener ready",
            metadata: [
                "listener": "\(name)", "address": "\(config.listen.host):\(port)",
                "receive_buffer": "\(granted)", "receive_buffer_requested": "\(config.receiveBuffer)",
            ])
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await resume in resumes {
                    await ingest.waitForSpace()
                    resume()
                }
            }
            await withGracefulShutdownHandler {
                try? await channel.closeFuture.get()
            } onGracefulShutdown: {
                channel.close(promise: nil)
            }
            // Closed: nothing is left to resume (a wait for room ends at cancellation).
            resumeRequests.finish()
            group.cancelAll()
        }
        logger.info("udp listener stopped", metadata: ["listener": "\(name)"])
    }

    /// Asks for the configured receive buffer with SO_RCVBUFFORCE (root may exceed rmem_max),
    /// else SO_RCVBUF; returns the size the kernel granted (it reports double the asked value).
}

/// Decodes datagrams on the event loop and routes what a read burst produced in one go.
final class UDPIngestHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    /// Turns reading back on (from any thread: it hops to the event loop).
    typealias Resume = @Sendable () -> Void

    let ingest: Ingest
    let config: UDPListenerConfig
    let truncated: CoreMetrics.Counter
    /// Hands a ``Resume`` to the listener's task, which calls it once the queues have room.
    let requestResume: @Sendable (@escaping Resume) -> Void
    private var pending: [Point] = []
    private var paused = false
    private var receiveTime: Int64 = 0
    /// Datagrams are decoded on this handler's event loop only, so the cache needs no lock.
    private let seriesCache: SeriesCache

    init(
        ingest: Ingest, config: UDPListenerConfig, truncated: CoreMetrics.Counter,
        requestResume: @escaping @Sendable (@escaping Resume) -> Void
    ) {
        self.ingest = ingest
        self.requestResume = requestResume
        self.config = config
        self.truncated = truncated
        self.seriesCache = ingest.makeSeriesCache()
        pending.reserveCapacity(8192)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        if pending.isEmpty { receiveTime = Ingest.now() }
        if envelope.data.readableBytes > config.maxDatagram {
            // Each slot holds max_datagram + 1 bytes, so a full slot means the kernel cut the datagram.
            // Its last line would be garbage: the datagram is refused whole, counted and logged.
            truncated.increment()
            ingest.log.warning(
                "udp datagram too large, dropped",
                metadata: ["source": "\(ingest.source)", "max_datagram": "\(config.maxDatagram)"])
            return
        }
        envelope.data.withUnsafeReadableBytes { bytes in
            _ = ingest.decode(
                bytes, linePrecision: config.precision, receiveTime: receiveTime, into: &pending, cache: seriesCache)
        }
        if pending.count >= 16_384 { flush(context: context) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flush(context: context)
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        flush(context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // One bad read never tears down the listener.
        ingest.log.warning("udp read error", metadata: ["source": "\(ingest.source)", "error": "\(error)"])
    }

    private func flush(context: ChannelHandlerContext) {
        guard !pending.isEmpty else { return }
        ingest.normalise(&pending, receiveTime: receiveTime)
        let full = ingest.offer(pending)
        // The queue now shares this array: start a new one sized for a burst like this one, rather
        // than one of the full capacity (which would copy nothing but allocate and touch it all).
        let burst = pending.count
        pending = []
        pending.reserveCapacity(min(max(burst, 64), 16_384))
        if full, !paused { pause(context: context) }
    }

    /// Stops reading until every `block` queue has room again.
    private func pause(context: ChannelHandlerContext) {
        paused = true
        let channel = context.channel
        channel.setOption(.autoRead, value: false).whenComplete { _ in }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        requestResume {
            eventLoop.execute {
                loopBound.value.paused = false
                channel.setOption(.autoRead, value: true).whenComplete { _ in }
                channel.read()
            }
        }
    }
}

/// Reads per-socket counters from `/proc/net/udp` and `/proc/net/udp6`.
enum KernelUDPStats {
    /// The kernel's drop count summed over the UDP sockets bound to local `port`.
    static func drops(port: Int) -> Int {
        var total = 0
        for file in ["/proc/net/udp", "/proc/net/udp6"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let columns = line.split(separator: " ", omittingEmptySubsequences: true)
                guard columns.count >= 13, let colon = columns[1].lastIndex(of: ":"),
                    let localPort = Int(columns[1][columns[1].index(after: colon)...], radix: 16), localPort == port,
                    let drops = Int(columns[columns.count - 1])
                else { continue }
                total += drops
            }
        }
        return total
    }
}
