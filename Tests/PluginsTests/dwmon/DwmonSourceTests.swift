import Foundation
import GRDB
import GatewayCore
import Synchronization
import TestDoubles
import Testing

@testable import Plugins

@Suite struct DwmonValueTests {
    @Test func timestamps_fromNumbers_numericText_andISOOrSQLDateTimes() {
        #expect(DwmonValue.timestamp("1795003200") == 1_795_003_200)
        #expect(DwmonValue.timestamp(" 1795003200.25 ") == 1_795_003_200.25)
        #expect(DwmonValue.timestamp("2026-11-18T12:00:00Z") == 1_795_003_200)
        #expect(DwmonValue.timestamp("2026-11-18 12:00:00") == 1_795_003_200)  // no zone: UTC
        #expect(DwmonValue.timestamp("2026-11-18T13:00:00+01:00") == 1_795_003_200)
        #expect(DwmonValue.timestamp("2026-11-18 13:00:00+01") == 1_795_003_200)  // PostgreSQL's text form
        #expect(DwmonValue.timestamp("2026-11-18T12:00:00.5Z") == 1_795_003_200.5)
        #expect(DwmonValue.timestamp("2026-11-18T12:00:00+0100") == 1_794_999_600)
        #expect(DwmonValue.timestamp("1969-12-31T23:59:59Z") == -1)
        #expect(DwmonValue.timestamp("2000-02-29 00:00:00") == 951_782_400)
        #expect(DwmonValue.timestamp("yesterday") == nil)
        #expect(DwmonValue.timestamp("éééééééééé") == nil)  // 10 characters, 20 bytes
        #expect(DwmonValue.timestamp("2026-11-18T12:00:00éé") == nil)
        #expect(DwmonValue.timestamp("2026-13-18T12:00:00Z") == nil)
        #expect(DwmonValue.timestamp("nan") == nil)
    }
}

@Suite struct DwmonDeadlineAndRedactionTests {
    /// The body blocks its thread until the test lets it go, after the call returned: a call that
    /// waited for it would only return when the 60 s safety wait ends, with the body finished.
    @Test func blockingWorkPastItsDeadline_isLeftToItsThread_theCallerGetsTheTimeoutWithoutIt() async throws {
        let release = DispatchSemaphore(value: 0)
        let finished = Flag()
        await #expect {
            try await withDeadline(.milliseconds(200)) {
                try await onThreadUntilCancelled {
                    _ = release.wait(timeout: .now() + 60)
                    finished.set()
                }
            }
        } throws: { error in
            guard case DwmonSourceError.timeout = error else { return false }
            return true
        }
        #expect(!finished.isSet, "the caller waited for the blocked body")
        release.signal()
        #expect(try await withDeadline(.seconds(5)) { 42 } == 42)
        await #expect(throws: DwmonSourceError.self) {
            try await withDeadline(.seconds(5)) { () async throws -> Int in throw DwmonSourceError.failed("x") }
        }
    }

    @Test func theDeadline_comesOnTheGivenClock_notBefore_andStopsTheBody() async throws {
        let clock = ManualClock()
        let stopped = Flag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await #expect {
                    try await withDeadline(.seconds(30), clock: clock, stop: { stopped.set() }) {
                        try await Task.sleep(for: .seconds(3600))  // ends only when cancelled
                    }
                } throws: { error in
                    guard case DwmonSourceError.timeout(.seconds(30)) = error else { return false }
                    return true
                }
            }
            while clock.pendingSleeps.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
            clock.advance(by: .seconds(29))
            try await Task.sleep(for: .milliseconds(50))
            #expect(!stopped.isSet, "stopped before its deadline")
            clock.advance(by: .seconds(1))
            try await group.waitForAll()
            #expect(stopped.isSet)
        }
    }

    @Test func secretsInURLs_stayOutOfMessages() {
        #expect(DwmonRedact.url("https://u:tok@hooks.example:8443/x/y?key=abc#f") == "https://hooks.example:8443/x/y")
        #expect(DwmonRedact.userInfo("postgres://app:pa#ss@db/x") == "postgres://***@db/x")
        #expect(PostgresSource.redacted("postgres://app:pa#ss@db/x").contains("pa#ss") == false)
        #expect(PostgresSource.redacted("postgres://app:secret@db:5432/x?sslmode=require") == "postgres://db:5432/x")
    }
}

@Suite struct SQLiteSourceTests {
    @Test func keysOfAnyType_timestampsAsNumbersOrText_rowsWithoutEitherCounted() async throws {
        let f = try DwmonFixture()
        try f.sql(
            """
            CREATE TABLE mixed (k, t);
            INSERT INTO mixed VALUES (42, 1795003200), ('abc', 1795003200.5), (1.5, '2026-11-18 12:00:00'),
                (NULL, 1), ('no-time', NULL), ('bad-time', 'soon')
            """)
        let source = SQLiteSource(path: f.warehousePath)
        let fetch = try await source.fetch(
            query: "SELECT k AS dwmon_unique_key, t AS dwmon_timestamp FROM mixed", timeout: .seconds(5), maxRows: 100)
        #expect(
            fetch.rows == [
                DwmonRow(key: "42", timestamp: 1_795_003_200), DwmonRow(key: "abc", timestamp: 1_795_003_200.5),
                DwmonRow(key: "1.5", timestamp: 1_795_003_200),
            ])
        #expect(fetch.badRows == 3)
        #expect(fetch.firstBadRow?.contains("NULL") == true)
    }

    @Test func wrongColumnNames_tooManyRows_andABadQuery_areClearErrors() async throws {
        let f = try DwmonFixture()
        try f.events([("a", 1), ("b", 2), ("c", 3)])
        let source = SQLiteSource(path: f.warehousePath)
        await #expect {
            try await source.fetch(query: "SELECT id, ts FROM events", timeout: .seconds(5), maxRows: 100)
        } throws: { "\($0)".contains("must name them dwmon_unique_key and dwmon_timestamp") }
        await #expect {
            try await source.fetch(query: DwmonFixture.query, timeout: .seconds(5), maxRows: 2)
        } throws: { "\($0)".contains("more than 2 rows (max_rows)") }
        await #expect {
            try await source.fetch(query: "SELECT FROM nowhere", timeout: .seconds(5), maxRows: 2)
        } throws: { "\($0)".contains("syntax error") }
    }

    @Test func aQueryOverItsTimeout_isInterrupted() async throws {
        let f = try DwmonFixture()
        let source = SQLiteSource(path: f.warehousePath)
        let started = ContinuousClock.now
        await #expect {
            // Counts forever and returns nothing.
            try await source.fetch(
                query: """
                    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
                    SELECT x AS dwmon_unique_key, x AS dwmon_timestamp FROM c WHERE x < 0
                    """, timeout: .milliseconds(300), maxRows: 10)
        } throws: { error in
            guard case DwmonSourceError.timeout = error else { return false }
            return true
        }
        // The query never ends by itself: returning at all means it was interrupted (the bound only
        // keeps a regression from hanging the suite, and holds on the busiest machine).
        #expect(ContinuousClock.now - started < .seconds(60))
    }
}

@Suite struct CommandSourceTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dwmon-cmd-\(UUID().uuidString)").path

    func script(_ body: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = "\(dir)/rows.sh"
        try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    @Test func printsKeyTimestampLines_getsTheQueryOnStdinAndInTheEnvironment() async throws {
        let path = try script(
            """
            read -r first
            echo "dwmon_unique_key,dwmon_timestamp"
            echo "# a comment"
            echo "a,1795003200"
            echo "with,comma,1795003201.5"
            echo "stdin:$first,1795003202"
            echo "env:$DWMON_QUERY,1795003203"
            echo "broken line"
            printf 'crlf,1795003204\r\n'
            """)
        let fetch = try await CommandSource(argv: [path]).fetch(query: "q1", timeout: .seconds(10), maxRows: 100)
        #expect(fetch.rows.map(\.key) == ["a", "with,comma", "stdin:q1", "env:q1", "crlf"])
        #expect(
            fetch.rows.map(\.timestamp) == [
                1_795_003_200, 1_795_003_201.5, 1_795_003_202, 1_795_003_203, 1_795_003_204,
            ])
        #expect(fetch.badRows == 1)
        #expect(fetch.firstBadRow?.contains("output line 7: \"broken line\"") == true)
    }

    @Test func theProgramInheritsNoneOfTheGatewaysFiles() async throws {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)  // held open while the program runs
        defer { close(socketFD) }
        let path = try script("echo \"sockets,$(ls -l /proc/$$/fd | grep -c 'socket:')\"")
        let fetch = try await CommandSource(argv: [path]).fetch(query: "", timeout: .seconds(10), maxRows: 10)
        #expect(socketFD >= 0)
        #expect(fetch.rows == [DwmonRow(key: "sockets", timestamp: 0)])
    }

    @Test func aFailingProgram_isAnErrorWithItsStatusAndStderr_aMissingOneToo() async throws {
        let path = try script("echo 'relation \"x\" does not exist' >&2\nexit 3")
        await #expect {
            try await CommandSource(argv: [path]).fetch(query: "", timeout: .seconds(10), maxRows: 10)
        } throws: { "\($0)".contains("exited with status 3: relation \"x\" does not exist") }
        await #expect {
            try await CommandSource(argv: ["/nonexistent/rows"]).fetch(query: "", timeout: .seconds(10), maxRows: 10)
        } throws: { "\($0)".contains("cannot start /nonexistent/rows") }
    }

    @Test func aProgramOverItsTimeout_isKilledWithEverythingItStarted() async throws {
        let pidFile = "\(dir)/child.pid"
        let path = try script("sleep 30 &\necho $! > \(pidFile)\nwait")
        let started = ContinuousClock.now
        await #expect {
            try await CommandSource(argv: [path]).fetch(query: "", timeout: .milliseconds(500), maxRows: 10)
        } throws: { error in
            guard case DwmonSourceError.timeout = error else { return false }
            return true
        }
        // The program would run 30 s: the answer came before it could have ended by itself.
        #expect(ContinuousClock.now - started < .seconds(25))
        let child = try #require(Int32((try String(contentsOfFile: pidFile, encoding: .utf8)).trimmingWhitespace))
        // The background `sleep` is gone (or a zombie waiting for init to reap it).
        try await Task.sleep(for: .milliseconds(200))
        let stat = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8)) ?? ""
        let state = stat.split(separator: ")").last?.split(separator: " ").first
        #expect(stat.isEmpty || state == "Z")
    }
}

@Suite struct HTTPSourceTests {
    @Test func objectsOrPairs_bareOrUnderRows_andErrorsNameTheURLAndStatus() async throws {
        let server = InfluxContractDouble()
        server.script { request in
            switch request.path {
            case "/api/objects":
                return .init(
                    status: 200, headers: [("Content-Type", "application/json")],
                    body:
                        #"[{"dwmon_unique_key": "a", "dwmon_timestamp": 1795003200}, {"dwmon_unique_key": 7, "dwmon_timestamp": "2026-11-18T12:00:01Z"}, {"other": 1}]"#
                )
            case "/api/pairs":
                return .init(status: 200, body: #"{"rows": [["x", 1795003200.5]]}"#)
            default:
                return .init(status: 500, body: "database is down")
            }
        }
        try await server.start()
        defer { Task { try? await server.stop() } }
        let source = HTTPSource(base: server.url + "/api", headers: ["X-Token": "t"], client: .shared)
        let objects = try await source.fetch(query: "/objects", timeout: .seconds(5), maxRows: 10)
        #expect(
            objects.rows == [
                DwmonRow(key: "a", timestamp: 1_795_003_200), DwmonRow(key: "7", timestamp: 1_795_003_201),
            ])
        #expect(objects.badRows == 1)
        #expect(server.requests.first?.headers.contains { $0.0.lowercased() == "x-token" && $0.1 == "t" } == true)
        let pairs = try await source.fetch(query: "pairs", timeout: .seconds(5), maxRows: 10)
        #expect(pairs.rows == [DwmonRow(key: "x", timestamp: 1_795_003_200.5)])
        await #expect {
            try await source.fetch(query: "/down", timeout: .seconds(5), maxRows: 10)
        } throws: { "\($0)".contains("GET \(server.url)/api/down answered 500: database is down") }
    }

    @Test func theQueryIsAPathUnderTheBase_orAWholeURL() {
        #expect(HTTPSource.url(base: "http://h/api/", query: "/rows?since=1h") == "http://h/api/rows?since=1h")
        #expect(HTTPSource.url(base: "http://h/api", query: "rows") == "http://h/api/rows")
        #expect(HTTPSource.url(base: "http://h/api", query: "https://other/x") == "https://other/x")
    }
}

/// A flag set from any task.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
