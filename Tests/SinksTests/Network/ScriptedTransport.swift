import Foundation
import GatewayCore
import Synchronization

@testable import Sinks

/// A server played from a script, without sockets: each request takes the next reply (then 204),
/// read through InfluxDB's status policy exactly as `InfluxTransport` reads a real answer.
final class ScriptedServer: Sendable {
    enum Reply: Sendable, CustomStringConvertible {
        /// An HTTP answer: status, body, Retry-After header.
        case http(Int, body: String = "", retryAfter: String? = nil)
        /// No HTTP answer: what `InfluxClient` reports for a network failure.
        case transportError(String)
        /// No answer at all until the request is given up (its task cancelled).
        case hang

        var description: String {
            switch self {
            case .http(let status, _, let retryAfter):
                return retryAfter.map { "\(status) Retry-After \($0)" } ?? "\(status)"
            case .transportError(let what): return what
            case .hang: return "no answer"
            }
        }
    }

    private struct State {
        var replies: [Reply]
        var requests: [[String]] = []
        var written: [String] = []
    }

    private let state: Mutex<State>
    /// The `now` Retry-After dates are read against.
    let now: Date

    init(_ replies: [Reply], now: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        state = Mutex(State(replies: replies))
        self.now = now
    }

    /// The lines of each request, in order.
    var requests: [[String]] { state.withLock { $0.requests } }
    /// The lines answered 2xx.
    var written: [String] { state.withLock { $0.written } }

    func answer(_ lines: [String]) async -> InfluxOutcome {
        let reply = state.withLock { s -> Reply in
            s.requests.append(lines)
            return s.replies.isEmpty ? .http(204) : s.replies.removeFirst()
        }
        switch reply {
        case .http(let status, let body, let retryAfter):
            let outcome = InfluxStatusPolicy.outcome(status: status, body: body, retryAfter: retryAfter, now: now)
            if outcome == .delivered { state.withLock { $0.written += lines } }
            return outcome
        case .transportError(let message):
            return .failed(status: nil, message: message)
        case .hang:
            try? await Task.sleep(for: .seconds(3600))
            return .failed(status: nil, message: "given up (shutdown)")
        }
    }
}

/// ``InfluxTransport`` with the scripted server in place of `InfluxClient`.
struct ScriptedInfluxTransport: NetworkTransport {
    struct Body: Sendable {
        var lines: [String]
    }

    static var serverName: String { "Influx" }
    let target: ScriptedServer
    var redactedURL: String { "scripted" }

    init(target: ScriptedServer) { self.target = target }

    func body(for chunk: inout NetworkChunk) throws -> Body {
        Body(lines: String(decoding: try chunk.plain(), as: UTF8.self).split(separator: "\n").map(String.init))
    }

    func send(_ body: Body, timeout: Duration?) async -> NetworkAnswer {
        InfluxStatusPolicy.answer(await target.answer(body.lines))
    }

    func shutdown() async {}
}
