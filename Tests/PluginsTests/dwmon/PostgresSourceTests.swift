import Foundation
import TestDoubles
import Testing

@testable import Plugins

/// A throwaway PostgreSQL server (Debian's `postgresql` package) on a free loopback port with a
/// temporary data directory, trust authentication, stopped when released. As root, the server
/// runs as the `postgres` user (it refuses root). Missing binaries fail the test: CI installs them.
final class PostgresServer {
    let dir: String
    let port: Int
    let bin: String
    private let runAs: [String]

    struct Failure: Error, CustomStringConvertible { var description: String }

    init() throws {
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted()
        guard let version = versions.last,
            FileManager.default.fileExists(atPath: "/usr/lib/postgresql/\(version)/bin/initdb")
        else {
            throw Failure(
                description:
                    "PostgreSQL server binaries not found under /usr/lib/postgresql (scripts/install-deps.sh installs postgresql)"
            )
        }
        bin = "/usr/lib/postgresql/\(version)/bin"
        dir = "/tmp/gateway-pg-\(UUID().uuidString.prefix(8))"
        port = try freeTCPPort()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if getuid() == 0 {
            guard let user = getpwnam("postgres") else {
                throw Failure(description: "no postgres user to run the server as")
            }
            chown(dir, user.pointee.pw_uid, user.pointee.pw_gid)
            runAs = ["/usr/sbin/runuser", "-u", "postgres", "--"]
        } else {
            runAs = []
        }
        try run(["\(bin)/initdb", "-D", "\(dir)/data", "-A", "trust", "-U", "postgres", "--no-sync"])
        try run([
            "\(bin)/pg_ctl", "-D", "\(dir)/data", "-l", "\(dir)/log", "-w", "-t", "60",
            "-o", "-p \(port) -k \(dir) -c listen_addresses=127.0.0.1 -c fsync=off", "start",
        ])
    }

    deinit {
        _ = try? run(["\(bin)/pg_ctl", "-D", "\(dir)/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: dir)
    }

    var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable" }

    func sql(_ text: String) throws {
        try run([
            "\(bin)/psql", "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", "postgres", "-v",
            "ON_ERROR_STOP=1", "-q", "-c", text,
        ])
    }

    /// Runs a program to its end (posix_spawn and waitpid: Foundation's `Process.waitUntilExit`
    /// can hang when called from a Swift concurrency thread). Output goes to files, not pipes: the
    /// server pg_ctl starts would hold a pipe open forever.
    @discardableResult
    func run(_ argv: [String]) throws -> String {
        let output = "/tmp/gateway-pg-output-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: output)
            try? FileManager.default.removeItem(atPath: output + ".err")
        }
        let pid = try CommandSource.spawn(
            runAs + argv, environment: ProcessInfo.processInfo.environment, stdin: "/dev/null", stdout: output,
            stderr: output + ".err")
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let text =
            ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
            + ((try? String(contentsOfFile: output + ".err", encoding: .utf8)) ?? "")
        guard status == 0 else {
            throw Failure(description: "\(argv.joined(separator: " ")) failed (wait status \(status)): \(text)")
        }
        return text
    }
}

@Suite(.serialized, .tags(.slow)) struct PostgresSourceTests {
    @Test func aRealPostgreSQLServer_anyKeyType_numberOrTimestampTimes_theIssuesQueryShape() async throws {
        let server = try PostgresServer()
        try server.sql(
            """
            CREATE TABLE model_executions (execution_id integer, ts bigint);
            INSERT INTO model_executions VALUES (1, 1795003200), (2, 1795003260), (3, 1795003320);
            CREATE TABLE uploads (id uuid, at timestamptz, size numeric);
            INSERT INTO uploads VALUES ('6f1c7d6e-0000-4000-8000-000000000001', '2026-11-18 13:00:00+01', 1.5),
                ('6f1c7d6e-0000-4000-8000-000000000002', NULL, 2);
            """)
        let source = PostgresSource(url: server.url, logger: .init(label: "test"))
        let executions = try await source.fetch(
            query: """
                SELECT execution_id AS dwmon_unique_key, ts AS dwmon_timestamp FROM model_executions
                ORDER BY dwmon_timestamp DESC LIMIT 2;
                """, timeout: .seconds(10), maxRows: 100)
        #expect(
            executions.rows == [
                DwmonRow(key: "3", timestamp: 1_795_003_320), DwmonRow(key: "2", timestamp: 1_795_003_260),
            ])
        let uploads = try await source.fetch(
            query: "SELECT id AS dwmon_unique_key, at AS dwmon_timestamp FROM uploads ORDER BY id",
            timeout: .seconds(10), maxRows: 100)
        #expect(uploads.rows == [DwmonRow(key: "6f1c7d6e-0000-4000-8000-000000000001", timestamp: 1_795_003_200)])
        #expect(uploads.badRows == 1)
        let numeric = try await source.fetch(
            query: "SELECT 'n' AS dwmon_unique_key, size * 1000000000 AS dwmon_timestamp FROM uploads WHERE size = 1.5",
            timeout: .seconds(10), maxRows: 100)
        #expect(numeric.rows == [DwmonRow(key: "n", timestamp: 1_500_000_000)])

        // Through a checker: keys stored, checks counted.
        let f = try DwmonFixture()
        f.settings.sources = ["warehouse": .init(kind: .postgres(url: server.url))]
        try f.checker(
            "exec", [everyMinute(min: 2, max: 20, lookback: 180)],
            query: "SELECT execution_id AS dwmon_unique_key, ts AS dwmon_timestamp FROM model_executions")
        let plugin = try f.plugin()
        let report = await plugin.runner.runAll(now: 1_795_003_325)[0]
        #expect(report.error == nil)
        #expect(report.newKeys == 3)
        let last = try #require(report.checks.last)
        #expect(last.minute == 1_795_003_320 && last.count == 3 && last.status == .good)
    }

    @Test func postgresErrors_areClear_aSlowQueryIsStoppedAtItsTimeout() async throws {
        let server = try PostgresServer()
        let source = PostgresSource(url: server.url, logger: .init(label: "test"))
        await #expect {
            try await source.fetch(
                query: "SELECT 1 AS dwmon_unique_key, 2 AS dwmon_timestamp FROM missing_table", timeout: .seconds(10),
                maxRows: 10)
        } throws: { "\($0)".contains("relation \"missing_table\" does not exist") }
        await #expect {
            try await source.fetch(query: "SELECT 1 AS a, 2 AS b", timeout: .seconds(10), maxRows: 10)
        } throws: { "\($0)".contains("dwmon_unique_key") }
        let started = ContinuousClock.now
        await #expect {
            try await source.fetch(
                query: "SELECT 1 AS dwmon_unique_key, 2 AS dwmon_timestamp FROM pg_sleep(30)", timeout: .seconds(1),
                maxRows: 10)
        } throws: { error in
            guard case DwmonSourceError.timeout = error else { return false }
            return true
        }
        // pg_sleep(30) would take 30 s: the answer came before the query could have ended by itself.
        #expect(ContinuousClock.now - started < .seconds(25))
        let unreachable = PostgresSource(
            url: "postgres://postgres@127.0.0.1:\(try freeTCPPort())/postgres?sslmode=disable",
            logger: .init(label: "test"))
        await #expect {
            try await unreachable.fetch(query: "SELECT 1", timeout: .seconds(5), maxRows: 10)
        } throws: { "\($0)".contains("postgres source") }
    }

    @Test func connectionURLs_areCheckedAsTheConfigLoaderDoes() throws {
        #expect(throws: Never.self) {
            try PostgresSource.parse("postgres://u:p%40ss@db.example:6432/wh?sslmode=require").get()
        }
        let target = try? PostgresSource.parse("postgres://u:p%40ss@db.example:6432/wh?sslmode=require").get()
        #expect(
            target
                == .init(
                    host: "db.example", port: 6432, user: "u", password: "p@ss", database: "wh", sslMode: "require"))
        #expect(
            try PostgresSource.parse("postgresql://u@/wh?host=/var/run/postgresql").get().socket
                == "/var/run/postgresql")
        for (url, fragment) in [
            ("mysql://u@h/db", "expected a URL such as postgres://"), ("postgres://h/db", "names no user"),
            ("postgres://u@h/db?sslmode=maybe", "sslmode must be one of"),
            ("postgres://u@h/db?pool=3", "unknown URL parameter"),
        ] {
            #expect(throws: DwmonSourceError.self, "\(url)") { try PostgresSource.parse(url).get() }
            if case .failure(let error) = PostgresSource.parse(url) {
                #expect("\(error)".contains(fragment), "\(url): \(error)")
            }
        }
        #expect(PostgresSource.redacted("postgres://u:secret@h/db") == "postgres://h/db")
    }
}
