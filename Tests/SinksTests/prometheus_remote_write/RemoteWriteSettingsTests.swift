import Foundation
import GatewayCore
import Testing

@testable import Sinks

/// The sink's keys: what they set, and problems reported with line and key path.
@Suite struct RemoteWriteSettingsTests {
    func read(_ yaml: String) throws -> (RemoteWriteSettings?, [String]) {
        let (settings, problems) = try readSinkSettings(RemoteWriteSettings.factory, yaml)
        return (settings as? RemoteWriteSettings, problems)
    }

    @Test func everyKey_isRead() throws {
        let (settings, problems) = try read(
            """
            url: "https://mimir.example:8080/api/v1/push"
            bearer_token: "s3cret"
            headers: {X-Scope-OrgID: tenant-1}
            string_fields: label
            timeout: 3s
            connect_timeout: 1s
            idle_timeout: 30s
            max_in_flight: 4
            retry: {max_retries: 5, initial_backoff: 10ms, max_backoff: 2s, max_wait: 1s, max_retry_after: 1m}
            spool: {enabled: false}
            """)
        #expect(problems == [])
        let s = try #require(settings)
        #expect(s.target.url == "https://mimir.example:8080/api/v1/push")
        #expect(s.target.authorization == "Bearer s3cret")
        #expect(s.target.headers.map(\.name) == ["X-Scope-OrgID"] && s.target.headers[0].value.value == "tenant-1")
        #expect(s.target.mapping.stringFields == .label)
        #expect(s.target.timeout == .seconds(3) && s.target.connectTimeout == .seconds(1))
        #expect(s.target.idleTimeout == .seconds(30))
        #expect(s.maxInFlight == 4)
        #expect(s.retry.maxRetries == 5 && s.retry.maxWait == .seconds(1) && s.retry.maxRetryAfter == .seconds(60))
        #expect(s.spoolFile == nil)
        #expect(s.configuration.precision == .milliseconds)
        // The secret is not in what a log or dump of the settings shows.
        #expect(!"\(s.target.bearerToken)".contains("s3cret"))
        #expect(!"\(s.target.headers)".contains("tenant-1"))
    }

    @Test func basicAuth_andDefaults() throws {
        let (settings, problems) = try read(
            """
            url: "http://127.0.0.1:8428/api/v1/write"
            username: u
            password: p
            """)
        #expect(problems == [])
        let s = try #require(settings)
        #expect(s.target.authorization == "Basic " + Data("u:p".utf8).base64EncodedString())
        #expect(s.maxInFlight == 2 && s.target.mapping.stringFields == .drop && s.spool.enabled)
        #expect(RemoteWriteSettings.factory.batchSize == 5000)
    }

    @Test func problems_nameLineAndKey() throws {
        let (_, problems) = try read(
            """
            url: "ftp://x/y"
            bearer_token: t
            username: u
            headers: {Content-Encoding: gzip, "bad name": x}
            string_fields: keep
            max_in_flight: 40
            """)
        #expect(problems.contains { $0.hasPrefix("1: url: expected an http:// or https:// URL") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("2: bearer_token: give either bearer_token or username") })
        #expect(problems.contains { $0.contains("headers.Content-Encoding: the sink sets Content-Encoding itself") })
        #expect(problems.contains { $0.contains("\"bad name\" is not a valid HTTP header name") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("5: string_fields: expected one of drop, label") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("6: max_in_flight: expected 1 to 16") }, "\(problems)")
        let (_, missing) = try read("string_fields: drop\n")
        #expect(missing.contains { $0.contains("missing required key \"url\"") }, "\(missing)")
    }

    /// The commented sample in the shipped gateway.yaml is valid once uncommented.
    @Test func theShippedSample_isValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let shipped = try String(contentsOf: root.appendingPathComponent("gateway.yaml"), encoding: .utf8)
        let line = try #require(shipped.split(separator: "\n").first { $0.hasPrefix("  # remote: {") })
        // `type` is the gateway's key, not the sink's.
        let mapping = line.dropFirst("  # remote: ".count).replacingOccurrences(
            of: "type: prometheus_remote_write, ", with: "")
        let (settings, problems) = try read(mapping)
        #expect(problems == [])
        #expect(settings?.target.url == "http://127.0.0.1:8428/api/v1/write")
    }
}
