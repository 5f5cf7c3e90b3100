import CoreMetrics
import Logging
import NIOCore
import Synchronization

/// What every UDP listener (`udp`, `statsd`) does with its socket: ask for the receive buffer it was
/// configured with, and report the kernel's drops on it.
enum UDPSocketSupport {
    /// SO_RCVBUFFORCE where permitted (root), else SO_RCVBUF; warns when the kernel granted less.
    /// Returns the size granted (the kernel reports twice what it holds for data), if it could be read.
    @discardableResult
    static func setReceiveBuffer(
        _ channel: any Channel, size requested: Int, listener: String, logger: Logger
    ) async -> Int? {
        let size = SocketOptionValue(requested)
        // SO_RCVBUFFORCE
        let force = ChannelOptions.Types.SocketOption(level: .socket, name: NIOBSDSocket.Option(rawValue: 33))
        do {
            try await channel.setOption(force, value: size).get()
        } catch {
            try? await channel.setOption(.socketOption(.so_rcvbuf), value: size).get()
        }
        guard let granted = try? await channel.getOption(.socketOption(.so_rcvbuf)).get() else { return nil }
        if Int(granted) / 2 < requested {
            logger.warning(
                "udp receive buffer smaller than configured (raise net.core.rmem_max or run as root)",
                metadata: ["listener": "\(listener)", "granted": "\(granted)", "requested": "\(requested)"])
        }
        return Int(granted)
    }

    /// Reports the kernel's drop count for the socket on `port` at every metrics export.
    static func registerKernelDrops(port: Int, listener: String, metrics: GatewayMetrics) {
        let counter = Counter(
            label: "gateway_udp_kernel_drops_total", dimensions: [("listener", listener)], factory: metrics.factory)
        let last = Mutex<Int>(KernelUDPStats.drops(port: port))
        metrics.addRefresher {
            let now = KernelUDPStats.drops(port: port)
            last.withLock { previous in
                if now > previous { counter.increment(by: Int64(now - previous)) }
                previous = now
            }
        }
    }
}
