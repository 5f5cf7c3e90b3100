import GatewayCore

/// The `influx2` sink: writes batches to InfluxDB 2.x's `/api/v2/write` and follows its status
/// contract (``InfluxStatusPolicy``). It is the shared ``NetworkSink`` (window of batches on the
/// wire, retry, spool, ordered replay, dead letters, health) with ``InfluxTransport`` (line
/// protocol, gzip or plain, and ``InfluxClient``).
///
/// Its configuration is `InfluxSink.Configuration(target: InfluxTarget, precision:, retry:,
/// maxInFlight:)`; its health `InfluxSink.Health`.
public typealias InfluxSink = NetworkSink<InfluxTransport>

/// How a batch travels to InfluxDB: its line protocol, gzip-compressed unless `gzip: false`, posted
/// by ``InfluxClient``; the answer read by ``InfluxStatusPolicy``.
public struct InfluxTransport: NetworkTransport {
    /// One request body: line protocol at a precision, gzip or plain.
    public struct Body: Sendable {
        public var bytes: [UInt8]
        public var gzipped: Bool
        public var precision: Precision
    }

    public static var serverName: String { "Influx" }

    public let client: InfluxClient
    public var target: InfluxTarget { client.target }
    public var redactedURL: String { Redact.url(target.url) }

    public init(target: InfluxTarget) {
        client = InfluxClient(target: target)
    }

    /// With `gzip: true` the gzip the spool would keep too (computed once); with `gzip: false` the
    /// plain line protocol, compressed nowhere on the direct path.
    public func body(for chunk: inout NetworkChunk) throws -> Body {
        if target.gzip {
            return Body(bytes: try chunk.compressed().compressed, gzipped: true, precision: chunk.precision)
        }
        return Body(bytes: try chunk.plain(), gzipped: false, precision: chunk.precision)
    }

    public func send(_ body: Body, timeout: Duration?) async -> NetworkAnswer {
        InfluxStatusPolicy.answer(
            await client.write(body: body.bytes, gzipped: body.gzipped, precision: body.precision, timeout: timeout))
    }

    public func shutdown() async {
        await client.shutdown()
    }
}
