import Foundation
import GatewayCore
import Synchronization

@testable import Sinks

/// A remote-write receiver played from a script, without sockets: each request's body is decoded
/// (snappy, then the SwiftProtobuf `WriteRequest`) and takes the next reply (then 204), read
/// through ``RemoteWriteStatusPolicy`` exactly as ``RemoteWriteTransport`` reads a real answer.
final class ScriptedReceiver: Sendable {
    typealias Reply = ScriptedServer.Reply

    private struct State {
        var replies: [Reply]
        var requests: [Prometheus_WriteRequest] = []
        var written: [String] = []
    }

    private let state: Mutex<State>
    let now: Date

    init(_ replies: [Reply], now: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        state = Mutex(State(replies: replies))
        self.now = now
    }

    var requests: [Prometheus_WriteRequest] { state.withLock { $0.requests } }
    /// The samples answered 2xx, as `name{labels} value @ms`.
    var written: [String] { state.withLock { $0.written } }

    static func samples(_ request: Prometheus_WriteRequest) -> [String] {
        request.timeseries.flatMap { series in
            let labels = series.labels.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
            return series.samples.map { "{\(labels)} \($0.value) @\($0.timestamp)" }
        }
    }

    func answer(_ body: [UInt8]) async -> NetworkAnswer {
        let request: Prometheus_WriteRequest
        do {
            request = try Prometheus_WriteRequest(serializedBytes: try Snappy.uncompress(body))
        } catch {
            return .rejected(status: 400, message: "undecodable body: \(error)")
        }
        let reply = state.withLock { s -> Reply in
            s.requests.append(request)
            return s.replies.isEmpty ? .http(204) : s.replies.removeFirst()
        }
        switch reply {
        case .http(let status, let body, let retryAfter):
            let answer = RemoteWriteStatusPolicy.answer(status: status, body: body, retryAfter: retryAfter, now: now)
            if answer == .delivered { state.withLock { $0.written += Self.samples(request) } }
            return answer
        case .transportError(let message):
            return .retry(status: nil, retryAfter: nil, message: message)
        case .hang:
            try? await Task.sleep(for: .seconds(3600))
            return .retry(status: nil, retryAfter: nil, message: "given up (shutdown)")
        }
    }
}

/// ``RemoteWriteTransport`` with the scripted receiver in place of the HTTP client: the body is
/// the transport's own encoding.
struct ScriptedRemoteWriteTransport: NetworkTransport {
    static var serverName: String { "the remote-write receiver" }
    let target: ScriptedReceiver
    var redactedURL: String { "scripted" }

    init(target: ScriptedReceiver) { self.target = target }

    func body(for chunk: inout NetworkChunk) throws -> [UInt8] {
        try RemoteWriteTransport.encode(&chunk, mapping: RemoteWriteMapping(), droppedStringFields: nil)
    }

    func send(_ body: [UInt8], timeout: Duration?) async -> NetworkAnswer {
        await target.answer(body)
    }

    func shutdown() async {}
}
