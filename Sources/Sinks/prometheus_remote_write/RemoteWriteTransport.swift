import AsyncHTTPClient
import CoreMetrics
import Foundation
import GatewayCore
import NIOCore
import NIOPosix

/// The `prometheus_remote_write` sink: remote write 1.0 (a snappy-compressed protobuf
/// `WriteRequest`) to Prometheus, VictoriaMetrics, Mimir, Cortex, Thanos or anything that takes it.
/// It is the shared ``NetworkSink`` (window of batches on the wire, retry, spool, ordered replay,
/// dead letters, health) with ``RemoteWriteTransport``; the spool keeps line protocol at
/// millisecond precision, like an `influx2` sink's, and replay encodes it again.
public typealias RemoteWriteSink = NetworkSink<RemoteWriteTransport>

/// How a batch travels to a remote-write receiver: points mapped to series
/// (``RemoteWriteEncoder``), serialized as a `WriteRequest`, snappy-compressed and posted with the
/// protocol's headers; the answer read by ``RemoteWriteStatusPolicy``.
public struct RemoteWriteTransport: NetworkTransport {
    public static var serverName: String { "the remote-write receiver" }
    /// The `X-Prometheus-Remote-Write-Version` this sink speaks.
    public static let protocolVersion = "0.1.0"

    public let target: RemoteWriteTarget
    let client: HTTPClient
    let eventLoopGroup: MultiThreadedEventLoopGroup
    public var redactedURL: String { Redact.url(target.url) }

    public init(target: RemoteWriteTarget) {
        self.target = target
        (client, eventLoopGroup) = NetworkHTTPClient.make(
            connectTimeout: target.connectTimeout, timeout: target.timeout, idleTimeout: target.idleTimeout)
    }

    public func body(for chunk: inout NetworkChunk) throws -> [UInt8] {
        try Self.encode(&chunk, mapping: target.mapping, droppedStringFields: target.droppedStringFields)
    }

    /// How the `WriteRequest` is serialized: ``RemoteWriteWire`` (the sink's), or SwiftProtobuf's
    /// generated message (the same bytes; the benchmark's `encode` scenario compares the two).
    public enum Serializer: Sendable {
        case wire, swiftProtobuf
    }

    /// A chunk's request body: its points as a snappy-compressed `WriteRequest`, read from its
    /// batch on the direct path (string fields counted once per chunk, however often it is sent),
    /// else from its line protocol (replay, split chunks).
    public static func encode(
        _ chunk: inout NetworkChunk, mapping: RemoteWriteMapping, droppedStringFields: CoreMetrics.Counter?,
        serializer: Serializer = .wire
    ) throws -> [UInt8] {
        let encoder = RemoteWriteEncoder(mapping: mapping)
        let encoded: RemoteWriteEncoder.Encoded
        if let batch = chunk.batch {
            encoded = encoder.encode(batch)
            if !chunk.counted, encoded.droppedStringFields > 0 {
                droppedStringFields?.increment(by: Int64(encoded.droppedStringFields))
            }
            chunk.counted = true
        } else {
            let decoded = LineProtocolDecoder.storedData(precision: chunk.precision).decode(try chunk.plain())
            encoded = encoder.encode(decoded.points)
        }
        switch serializer {
        case .wire: return Snappy.compress(RemoteWriteWire.bytes(encoded.series))
        case .swiftProtobuf: return Snappy.compress(try encoded.request.serializedBytes())
        }
    }

    public func send(_ body: [UInt8], timeout: Duration?) async -> NetworkAnswer {
        let timeout = min(timeout ?? target.timeout, target.timeout)
        var request = HTTPClientRequest(url: target.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-protobuf")
        request.headers.add(name: "Content-Encoding", value: "snappy")
        request.headers.add(name: "X-Prometheus-Remote-Write-Version", value: Self.protocolVersion)
        request.headers.add(name: "User-Agent", value: "gateway")
        if let authorization = target.authorization { request.headers.add(name: "Authorization", value: authorization) }
        for header in target.headers { request.headers.replaceOrAdd(name: header.name, value: header.value.value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            let status = Int(response.status.code)
            let text = (try? await response.body.collect(upTo: 1 << 20)).map { String(buffer: $0) } ?? ""
            return RemoteWriteStatusPolicy.answer(
                status: status, body: text, retryAfter: response.headers.first(name: "Retry-After"))
        } catch {
            return .retry(status: nil, retryAfter: nil, message: InfluxClient.describe(error, timeout: timeout))
        }
    }

    public func shutdown() async {
        try? await client.shutdown()
        try? await eventLoopGroup.shutdownGracefully()
    }
}
