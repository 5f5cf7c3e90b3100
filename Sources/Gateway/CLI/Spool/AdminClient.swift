import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Plugins
import Sinks

/// Talks to a running gateway's admin API.
struct AdminClient {
    let base: String
    let token: String

    /// The admin URL the owner recorded in the spool's lock file; the configuration's first
    /// HTTP listener otherwise.
    init(config: GatewayConfig?, spoolPath: String) throws {
        let http = config?.listeners.lazy.compactMap { l -> HTTPListenerConfig? in
            l.settings as? HTTPListenerConfig
        }.first
        token = http?.token.value ?? ""
        if let recorded = FileLock.ownerAdminURL(path: spoolPath + ".lock") {
            base = recorded
            return
        }
        guard let http else {
            throw ValidationError(
                "the spool is held by a running gateway, and the configuration has no HTTP listener to reach it by: stop the gateway to work on the file offline"
            )
        }
        let host = http.listen.host == "0.0.0.0" || http.listen.host.isEmpty ? "127.0.0.1" : http.listen.host
        base = "http://\(host.contains(":") ? "[\(host)]" : host):\(http.listen.port)"
    }

    /// The answer to one call: its status and body, decoded into the admin API's types.
    struct Answer {
        var status: Int
        var body: Data

        func decode<T: Decodable>(_ type: T.Type) -> T? { try? JSONDecoder().decode(type, from: body) }

        /// The error's message (`{"code", "message"}`), or the body as text.
        var message: String {
            decode(ErrorAnswer.self)?.message ?? String(decoding: body, as: UTF8.self)
        }
    }

    func call(_ method: HTTPMethod, _ path: String) async throws -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if !token.isEmpty { request.headers.add(name: "Authorization", value: "Token \(token)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Answer(status: Int(response.status.code), body: Data(buffer: body))
    }
}

func printErr(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

func formatAge(_ nanos: Int64?) -> String {
    guard let nanos else { return "-" }
    let seconds = Double(SpoolStore.now() - nanos) / 1e9
    if seconds < 120 { return String(format: "%.0fs", seconds) }
    if seconds < 7200 { return String(format: "%.0fm", seconds / 60) }
    return String(format: "%.1fh", seconds / 3600)
}
