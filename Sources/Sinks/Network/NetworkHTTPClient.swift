import AsyncHTTPClient
import NIOCore
import NIOPosix

/// The HTTP client of one network sink (influx2, prometheus_remote_write): keep-alive connections on an
/// event loop of its own, not the process-wide one the listeners use (a UDP listener decoding a burst
/// would otherwise hold up this connection's responses, and with one request in flight every such
/// delay is time the server sits idle).
enum NetworkHTTPClient {
    static func make(connectTimeout: Duration, timeout: Duration, idleTimeout: Duration) -> (
        client: HTTPClient, eventLoopGroup: MultiThreadedEventLoopGroup
    ) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(
            connect: .nanoseconds(min(connectTimeout, timeout).nanoseconds), read: .nanoseconds(timeout.nanoseconds))
        configuration.connectionPool = .init(idleTimeout: .nanoseconds(idleTimeout.nanoseconds))
        // The sink retries and spools on its own terms; a pool that kept retrying a refused
        // connection until the connect timeout would hold every batch for seconds in an outage.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.decompression = .disabled
        let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        return (
            HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup), configuration: configuration), eventLoopGroup
        )
    }
}
