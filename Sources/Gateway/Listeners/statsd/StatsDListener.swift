import CoreMetrics
import Foundation
import GatewayCore
import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Receives StatsD/DogStatsD lines over UDP (vector reads, as the udp listener) and/or TCP
/// (newline-separated), aggregates them in a ``StatsDIntake`` and flushes it at every multiple of
/// `flush_interval` and once more at shutdown, so the current interval is not lost.
struct StatsDListener: Service {
    let name: String
    let config: StatsDListenerConfig
    let ingest: Ingest
    let metrics: GatewayMetrics
    let logger: Logger

    func run() async throws {
        let intake = StatsDIntake(name: name, aggregation: config.aggregation, ingest: ingest, metrics: metrics)
        var channels: [any Channel] = []
        var addresses: [String] = []
        if config.transport != .tcp {
            let channel = try await bindUDP(intake)
            channels.append(channel)
            addresses.append("udp")
        }
        if config.transport != .udp {
            // With `both`, TCP takes the port UDP got (port 0 asks for a free one).
            let port = channels.first?.localAddress?.port ?? config.listen.port
            let channel = try await bindTCP(intake, port: port)
            channels.append(channel)
            addresses.append("tcp")
        }
        let port = channels.first?.localAddress?.port ?? config.listen.port
        logger.info(
            "statsd listener ready",
            metadata: [
                "listener": "\(name)", "address": "\(config.listen.host):\(port)",
                "protocol": "\(addresses.joined(separator: "+"))",
                "flush_interval": "\(config.flushInterval)",
            ])
        let interval = max(1, Units.nanoseconds(config.flushInterval))
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let now = Ingest.now()
                let next = (now / interval + 1) * interval
                try await Task.sleep(for: .nanoseconds(next - now))
                if intake.flush(at: next) { await ingest.waitForSpace() }
            }
        }
        for channel in channels { try? await channel.close() }
        intake.flush(at: Ingest.now())
        logger.info("statsd listener stopped", metadata: ["listener": "\(name)"])
    }

    func bindUDP(_ intake: StatsDIntake) async throws -> any Channel {
        let config = self.config
        let truncated = Counter(
            label: "gateway_udp_truncated_datagrams_total", dimensions: [("listener", name)], factory: metrics.factory)
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
                        StatsDDatagramHandler(intake: intake, maxDatagram: config.maxDatagram, truncated: truncated))
                }
            }
            .bind(host: config.listen.host, port: config.listen.port)
            .get()
        await UDPSocketSupport.setReceiveBuffer(channel, size: config.receiveBuffer, listener: name, logger: logger)
        UDPSocketSupport.registerKernelDrops(
            port: channel.localAddress?.port ?? config.listen.port, listener: name, metrics: metrics)
        return channel
    }

    func bindTCP(_ intake: StatsDIntake, port: Int) async throws -> any Channel {
        let maxLine = config.maxDatagram
        return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        StatsDStreamHandler(intake: intake, maxLine: maxLine))
                }
            }
            .bind(host: config.listen.host, port: port)
            .get()
    }
}
