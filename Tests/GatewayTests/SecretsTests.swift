import Foundation
import GRDB
import NIOHTTP1
import TestDoubles
import Testing

/// No configured secret reaches a log line (at trace level, stderr and the log file), the status
/// or any API answer, while the gateway does everything that logs or reports its settings:
/// starts, authenticates writes and reads, fails to deliver to InfluxDB and spools, runs dwmon
/// checkers against a PostgreSQL and an HTTP source that cannot be reached, and posts alerts to
/// a webhook that cannot be reached.
@Suite(.serialized, .tags(.slow)) struct SecretsTests {
    @Test func traceRun_withEverySecretSet_showsNoneInLogsStatusOrAnswers() async throws {
        let secrets = [
            "write": "Wr1te-T0ken-7781", "read": "Re4d-T0ken-9902", "influxToken": "Infl-T0ken-3390",
            "influxUser": "Infl-User-4470", "influxPassword": "Infl-Pass-4471", "influxQuery": "Infl-Query-5520",
            "pgUser": "Pg-User-6612", "pgPassword": "Pg-Pass-8823", "pgQueryPassword": "Pg-QueryPass-1209",
            "apiUser": "Api-User-1301", "apiPassword": "Api-Pass-1302", "apiKey": "Api-Key-1303",
            "apiHeader": "Api-Header-1304", "hookUser": "Hook-User-1401", "hookPassword": "Hook-Pass-1402",
            "hookQuery": "Hook-Query-1403", "hookHeader": "Hook-Header-1404",
        ]
        let closed = try freeTCPPort()  // nothing listens here: every outbound connection fails
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("secrets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(dir)/checkers", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A warehouse whose checker is BAD at once (so an alert goes to the webhook), and checkers on
        // the two unreachable sources (so their errors are logged and reported).
        let warehouse = try DatabaseQueue(path: "\(dir)/warehouse.db")
        try await warehouse.write { db in try db.execute(sql: "CREATE TABLE t (k TEXT, ts INTEGER)") }
        try warehouse.close()
        for (name, source) in [("local_check", "warehouse"), ("pg_check", "pg"), ("api_check", "api")] {
            try """
            __QUERY__
            SELECT k AS dwmon_unique_key, ts AS dwmon_timestamp FROM t
            __REQUIREMENTS__
            CHECKHOURS0-23 CHECKMINUTES0-59 WEEKENDS WEEKDAYS MINNUM5 MAXNUM20 LOOKBACKSECONDS60
            __SOURCE__
            \(source)
            __EXTRA__
            {}

            """.write(toFile: "\(dir)/checkers/\(name).dwmon", atomically: true, encoding: .utf8)
        }
        let s = secrets
        let config = """
            gateway: {name: testhost, data_dir: $DIR/data}
            logging:
              level: trace
              file: {path: $DIR/gateway.log, level: trace}
            listeners:
              http: {type: http, listen: "127.0.0.1:0", token: "\(s["write"]!)", read_token: "\(s["read"]!)"}
            sinks:
              out: {type: stdout, format: line, batch_size: 1000, flush_interval: 100ms}
              influx:
                type: influx2
                url: "http://\(s["influxUser"]!):\(s["influxPassword"]!)@127.0.0.1:\(closed)/base?auth=\(s["influxQuery"]!)"
                org: o
                bucket: b
                token: "\(s["influxToken"]!)"
                flush_interval: 100ms
                retry: {max_retries: 0, initial_backoff: 100ms, max_wait: 1s}
            routes:
              - {to: [out, influx]}
            plugins:
              dwmon:
                type: dwmon
                checkers_dir: \(dir)/checkers
                timezone: UTC
                query_timeout: 2s         # the HTTP client retries a refused connection until its deadline
                sources:
                  warehouse: {type: sqlite, path: \(dir)/warehouse.db}
                  pg: {type: postgres, url: "postgres://\(s["pgUser"]!):\(s["pgPassword"]!)@127.0.0.1:\(closed)/warehouse?sslmode=disable&password=\(s["pgQueryPassword"]!)"}
                  api: {type: http, url: "http://\(s["apiUser"]!):\(s["apiPassword"]!)@127.0.0.1:\(closed)/rows?key=\(s["apiKey"]!)", headers: {Authorization: "Bearer \(s["apiHeader"]!)"}}
                webhook:
                  url: "http://\(s["hookUser"]!):\(s["hookPassword"]!)@127.0.0.1:\(closed)/hooks?token=\(s["hookQuery"]!)"
                  headers: {Authorization: "Bearer \(s["hookHeader"]!)"}
                  timeout: 500ms
                  backoff: 100ms
                  attempts: 2
            """
        let gateway = try GatewayProcess(config: config, arguments: ["--log-level", "trace"])
        try await gateway.start(listeners: ["http"])

        var answers: [String] = []
        func call(_ method: HTTPMethod, _ path: String, token: String? = nil, body: String = "") async throws -> Int {
            let headers = token.map { [("Authorization", "Token \($0)")] } ?? []
            let result = try await gateway.send(method, path, body: Array(body.utf8), headers: headers)
            answers.append(result.body)
            return result.status
        }
        let write = s["write"]!, read = s["read"]!
        #expect(try await call(.POST, "/api/v2/write", token: write, body: "secrets,case=ok v=1i") == 204)
        #expect(try await call(.POST, "/api/v2/write", body: "secrets,case=none v=1i") == 401)
        #expect(try await call(.POST, "/api/v2/write", token: read, body: "secrets,case=read v=1i") == 401)
        #expect(try await call(.POST, "/api/v2/write?p=wrong", body: "secrets,case=wrong v=1i") == 401)
        #expect(try await call(.GET, "/api/v1/status") == 401)
        #expect(try await call(.GET, "/metrics") == 401)
        #expect(try await call(.GET, "/api/v1/dwmon/checkers") == 401)
        #expect(try await call(.GET, "/health") == 200)
        #expect(try await call(.GET, "/ping") == 204)
        // Let the checkers run and fail, the alerts be tried and fail, and the Influx batch fail and spool.
        let readHeader = [("Authorization", "Token \(read)")]
        let deadline = ContinuousClock.now + .seconds(60)
        var settled = false
        while !settled, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(500))
            let metrics = try await gateway.send(.GET, "/metrics", body: [], headers: readHeader).body
            let checkers = try await gateway.send(.GET, "/api/v1/dwmon/checkers", body: [], headers: readHeader).body
            settled =
                metrics.contains(#"gateway_plugin_dwmon_webhook_total{plugin="dwmon",outcome="failed"} "#)
                && !metrics.contains(#"gateway_plugin_dwmon_webhook_total{plugin="dwmon",outcome="failed"} 0"#)
                && !metrics.contains(#"gateway_points_spooled_total{sink="influx"} 0"#)
                && checkers.components(separatedBy: #""error""#).count == 3  // pg_check and api_check failed
        }
        #expect(
            settled, "the sources, the webhook and the Influx sink did not all fail within 60 s: \(answers.suffix(2))")
        for checker in ["pg_check", "api_check"] {
            let status = try await call(.POST, "/api/v1/dwmon/checkers/\(checker)/run", token: write)
            #expect(status == 502 || status == 409, "\(checker): \(status) \(answers.last ?? "")")
        }
        for path in ["/api/v1/status", "/metrics", "/api/v1/spool", "/api/v1/dwmon/checkers", "/api/v1/dwmon/checks"] {
            #expect(try await call(.GET, path, token: read) == 200, "\(path)")
        }
        #expect(try await call(.GET, "/api/v1/status", token: write) == 200)
        _ = try await gateway.stop()

        let log = (try? String(contentsOfFile: "\(gateway.directory.path)/gateway.log", encoding: .utf8)) ?? ""
        let everything = [gateway.stderr, log, gateway.stdout] + answers
        for (name, value) in secrets.sorted(by: { $0.key < $1.key }) {
            let found = everything.filter { $0.contains(value) }
            #expect(found.isEmpty, "secret \(name) (\(value)) shown in: \(found.map { String($0.prefix(300)) })")
        }
        // The run did log what these secrets belong to, at trace level, redacted.
        #expect(log.contains(" debug ") && gateway.stderr.contains(" debug "))
        #expect(
            gateway.stderr.contains("postgres://127.0.0.1:\(closed)/warehouse"),
            "the postgres error names the redacted URL")
        #expect(answers.contains { $0.contains(#"postgres:\/\/127.0.0.1:\#(closed)\/warehouse"#) }, "\(answers)")
    }
}

/// A listener reachable from the network without a token: refused at start, or started with a
/// warning when the configuration says `insecure: true`.
@Suite(.serialized, .tags(.slow)) struct OpenListenerTests {
    @Test func nonLoopbackWithoutToken_refusesToStart_namingFileAndLine() async throws {
        let gateway = try GatewayProcess(
            config: testConfig().replacingOccurrences(
                of: #"http: {type: http, listen: "127.0.0.1:0""#, with: #"http: {type: http, listen: "0.0.0.0:0""#))
        try? await gateway.start()
        let status = try await gateway.stop()
        #expect(status != 0)
        #expect(
            gateway.stderr.contains(
                "gateway.yaml:7: listeners.http.listen: listens on 0.0.0.0:0 (not loopback) without a token"),
            "\(gateway.stderr)")
    }

    @Test func nonLoopbackWithoutToken_insecure_startsWithAWarning() async throws {
        let gateway = try GatewayProcess(
            config: testConfig(http: "insecure: true").replacingOccurrences(
                of: #"http: {type: http, listen: "127.0.0.1:0""#, with: #"http: {type: http, listen: "0.0.0.0:0""#))
        try await gateway.start()
        #expect(try await gateway.get("/health").status == 200)
        _ = try await gateway.stop()
        #expect(
            gateway.stderr.contains("warning gateway: http listener on a non-loopback address without a token"),
            "\(gateway.stderr)")
    }
}
