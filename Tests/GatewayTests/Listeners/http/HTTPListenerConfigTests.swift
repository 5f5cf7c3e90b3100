import ConfigReading
import Foundation
import GatewayCore
import Testing

@testable import Gateway

/// The HTTP listener's connection and security settings, as `gateway check` and `gateway run` read them.
@Suite struct HTTPListenerConfigTests {
    func load(_ yaml: String) throws -> (config: GatewayConfig?, problems: [String]) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            return (try ConfigLoader(environment: [:]).load(path: path), [])
        } catch {
            return (nil, error.problems.map { $0.description.replacingOccurrences(of: path, with: "FILE") })
        }
    }

    func http(_ listener: String) throws -> (HTTPListenerConfig?, [String]) {
        let (config, problems) = try load(
            """
            listeners:
              h: \(listener)
            sinks: {out: {type: blackhole}}
            routes: [{to: [out]}]
            """)
        guard let http = config?.listeners.first?.settings as? HTTPListenerConfig else { return (nil, problems) }
        return (http, problems)
    }

    @Test func defaults_boundEveryConnection() throws {
        let (http, problems) = try http(#"{type: http, listen: "127.0.0.1:0"}"#)
        #expect(problems.isEmpty)
        #expect(http?.readHeaderTimeout == .seconds(10))
        #expect(http?.bodyTimeout == .seconds(60))
        #expect(http?.idleTimeout == .seconds(60))
        #expect(http?.maxConnections == 512)
        #expect(http?.insecure == false)
        #expect(http?.readToken.isEmpty == true)
    }

    @Test func connectionSettings_areRead() throws {
        let (http, problems) = try http(
            #"{type: http, listen: "127.0.0.1:0", read_header_timeout: 2s, body_timeout: 500ms, idle_timeout: 1m, max_connections: 64}"#
        )
        #expect(problems.isEmpty)
        #expect(http?.readHeaderTimeout == .seconds(2))
        #expect(http?.bodyTimeout == .milliseconds(500))
        #expect(http?.idleTimeout == .seconds(60))
        #expect(http?.maxConnections == 64)
    }

    @Test func badConnectionSettings_areReportedWithFileLineAndKey() throws {
        let (_, problems) = try http(
            #"{type: http, listen: "127.0.0.1:0", read_header_timeout: soon, body_timeout: 0s, max_connections: 0}"#)
        let text = problems.joined(separator: "\n")
        #expect(text.contains("FILE:2: listeners.h.read_header_timeout: expected a"), "\(problems)")
        #expect(text.contains("FILE:2: listeners.h.body_timeout:"), "\(problems)")
        #expect(text.contains("FILE:2: listeners.h.max_connections: expected a positive integer"), "\(problems)")
    }

    @Test func nonLoopbackWithoutToken_isRefusedWithFileLine() throws {
        for address in ["0.0.0.0:8087", "[::]:8087", "10.1.2.3:8087", "gateway.example:8087"] {
            let (_, problems) = try http(#"{type: http, listen: "\#(address)"}"#)
            #expect(problems.count == 1, "\(address): \(problems)")
            #expect(problems.first?.hasPrefix("FILE:2: listeners.h.listen: listens on ") == true, "\(problems)")
            #expect(problems.first?.contains("without a token") == true)
        }
    }

    @Test func nonLoopback_isAllowedWithATokenOrInsecure_andLoopbackWithout() throws {
        #expect(try http(#"{type: http, listen: "0.0.0.0:8087", token: t0k}"#).1.isEmpty)
        #expect(try http(#"{type: http, listen: "0.0.0.0:8087", insecure: true}"#).1.isEmpty)
        for address in ["127.0.0.1:8087", "127.8.9.10:0", "localhost:8087", "[::1]:8087"] {
            #expect(try http(#"{type: http, listen: "\#(address)"}"#).1.isEmpty, "\(address)")
        }
    }

    @Test func readTokenWithoutToken_isRefused() throws {
        let (_, problems) = try http(#"{type: http, listen: "127.0.0.1:0", read_token: r34d}"#)
        #expect(problems.count == 1)
        #expect(
            problems.first?.hasPrefix("FILE:2: listeners.h.read_token: read_token is set but token is not") == true,
            "\(problems)")
    }

    @Test func secrets_neverShowInDescriptions() throws {
        let (http, _) = try http(#"{type: http, listen: "127.0.0.1:0", token: Wr1teT0ken, read_token: Re4dT0ken}"#)
        let shown = ["\(String(describing: http))", String(reflecting: http), "\(http as Any)"]
        for text in shown {
            #expect(!text.contains("Wr1teT0ken") && !text.contains("Re4dT0ken"), "\(text)")
        }
        var dumped = ""
        dump(http, to: &dumped)
        #expect(!dumped.contains("Wr1teT0ken") && !dumped.contains("Re4dT0ken"), "\(dumped)")
        #expect(http?.token.value == "Wr1teT0ken")
    }

    @Test func secretComparison_needsTheWholeValue() {
        let secret = Secret("abc123")
        #expect(secret.matches("abc123"))
        #expect(!secret.matches("abc12"))
        #expect(!secret.matches("abc1234"))
        #expect(!secret.matches(""))
        #expect(!Secret("").matches(""))
    }

    @Test func urlRedaction_keepsSchemeHostPortPath() {
        #expect(
            Redact.url("postgres://app:pa/ss@db.example:5432/metrics?sslmode=require&password=x")
                == "postgres://db.example:5432/metrics")
        #expect(Redact.url("https://u:p@hooks.example/a/b?token=abc#frag") == "https://hooks.example/a/b")
        #expect(Redact.url("http://127.0.0.1:8086") == "http://127.0.0.1:8086")
        #expect(Redact.url("postgres://user@/db?host=/var/run/postgresql") == "postgres:///db")
        #expect(Redact.url("not a url") == "not a url")
    }
}
