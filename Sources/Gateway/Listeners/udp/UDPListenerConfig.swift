import ConfigReading
import GatewayCore
import ServiceLifecycle

/// `type: udp`: line protocol datagrams (see the README's UDP section).
struct UDPListenerConfig: Sendable {
    var listen = HostPort(host: "127.0.0.1", port: 8089)
    /// SO_RCVBUF asked for (SO_RCVBUFFORCE where permitted).
    var receiveBuffer = 8 * 1024 * 1024
    /// Largest datagram accepted whole; larger ones are truncated by the kernel and counted.
    var maxDatagram = 65_536
    /// Datagrams read per system call (recvmmsg).
    var vectorReads = 64
    /// Timestamp unit of line protocol without an explicit one.
    var precision = Precision.nanoseconds
}

extension UDPListenerConfig: ListenerSettings {
    static let factory = ListenerFactory(type: "udp") { map, _ in read(map) }

    var socket: (proto: String, address: HostPort) { ("udp", listen) }

    func make(_ context: ListenerContext) throws -> any Service {
        UDPListener(
            name: context.name, config: self, ingest: context.ingest, metrics: context.metrics,
            logger: context.logger)
    }

    static func read(_ map: ConfigMap) -> UDPListenerConfig {
        var udp = UDPListenerConfig()
        if let v = map["listen"]?.hostPort() { udp.listen = v }
        if let v = map["receive_buffer"]?.size() { udp.receiveBuffer = v }
        if let v = map["max_datagram"]?.size() {
            if v < 512 || v > 65_536 {
                map["max_datagram"]?.problem("expected a size from 512 to 64KiB, got \(v)")
            } else {
                udp.maxDatagram = v
            }
        }
        if let v = map["vector_reads"]?.positiveInt() { udp.vectorReads = min(v, 1024) }
        if let v = map["precision"]?.oneOf(Precision.allCases.map { ($0.rawValue, $0) }) { udp.precision = v }
        return udp
    }
}
