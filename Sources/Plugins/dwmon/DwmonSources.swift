import AsyncHTTPClient
import Foundation
import GRDB
import GatewayCore
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization

/// What one query returned: the rows that had a key and a timestamp, and the rows that did not
/// (counted, the first described).
public struct DwmonFetch: Sendable {
    public var rows: [DwmonRow] = []
    public var badRows = 0
    public var firstBadRow: String?

    mutating func bad(_ description: @autoclosure () -> String) {
        if badRows == 0 { firstBadRow = description() }
        badRows += 1
    }

    mutating func append(_ row: DwmonRow, maxRows: Int) throws(DwmonSourceError) {
        guard rows.count < maxRows else {
            throw .failed("the query returned more than \(maxRows) rows (max_rows); add a LIMIT or a time bound")
        }
        rows.append(row)
    }
}

public enum DwmonSourceError: Error, Sendable, CustomStringConvertible {
    case timeout(Duration)
    case failed(String)

    public var description: String {
        switch self {
        case .timeout(let limit): return "the query did not finish within \(limit) (query_timeout); stopped"
        case .failed(let message): return message
        }
    }
}

/// A data store a checker's query runs against.
public protocol DwmonSource: Sendable {
    func fetch(query: String, timeout: Duration, maxRows: Int) async throws -> DwmonFetch
}

/// Everything the sources share: the HTTP client (AsyncHTTPClient's shared one: it needs no
/// shutdown, so a plugin made and never run cannot leak or trap), a logger.
public final class DwmonSources: Sendable {
    let http: HTTPClient
    let logger: Logger

    public init(logger: Logger, http: HTTPClient = .shared) {
        self.http = http
        self.logger = logger
    }

    public func make(_ source: DwmonSettings.Source) -> any DwmonSource {
        switch source.kind {
        case .sqlite(let path): return SQLiteSource(path: path)
        case .postgres(let url): return PostgresSource(url: url, logger: logger)
        case .command(let argv): return CommandSource(argv: argv)
        case .http(let url, let headers): return HTTPSource(base: url, headers: headers, client: http)
        }
    }
}

// MARK: - Values

/// Keys and timestamps as the sources hand them over.
enum DwmonValue {
    /// Epoch seconds from a number, a numeric string, or an ISO 8601 / SQL date-time
    /// (`2026-11-21T10:00:00Z`, `2026-11-21 10:00:00.5+01:00`, `+01`, `+0100`; no zone means UTC).
    static func timestamp(_ text: String) -> Double? {
        let trimmed = text.trimmingWhitespace
        if let number = Double(trimmed) { return number.isFinite ? number : nil }
        return dateTime(trimmed)
    }

    /// `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH[[:]MM]]` in epoch seconds (the gateway's one
    /// ISO 8601 parser, ``ISO8601``: no formatter per row; this runs for every row of a query).
    static func dateTime(_ text: String) -> Double? {
        guard let parts = try? ISO8601.parseParts(text, missingZone: .utc) else { return nil }
        return Double(parts.seconds) + Double(parts.nanoseconds) / 1e9
    }

    static func key(_ value: DatabaseValue) -> String? {
        switch value.storage {
        case .null: return nil
        case .int64(let i): return String(i)
        case .double(let d): return d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .string(let s): return s
        case .blob(let data): return String(data: data, encoding: .utf8) ?? data.map { String(format: "%02x", $0) }.joined()
        }
    }

    static func timestamp(_ value: DatabaseValue) -> Double? {
        switch value.storage {
        case .null, .blob: return nil
        case .int64(let i): return Double(i)
        case .double(let d): return d.isFinite ? d : nil
        case .string(let s): return timestamp(s)
        }
    }

    static func key(_ value: JSONValue) -> String? {
        switch value {
        case .string(let s): return s
        case .number(let text): return text
        default: return nil
        }
    }

    static func timestamp(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let text): return Double(text).flatMap { $0.isFinite ? $0 : nil }
        case .string(let s): return timestamp(s)
        default: return nil
        }
    }
}

/// Runs `body`; when it has not finished after `timeout`, or the task is cancelled (shutdown),
/// calls `stop` (which should make it end: interrupt a database, close a connection), cancels it and
/// throws ``DwmonSourceError/timeout(_:)`` (or `CancellationError`) at once, without waiting for
/// the body: a body that cannot be stopped (a read stuck on a dead file system) is left to finish
/// on its own, it never holds up the run or shutdown.
func withDeadline<T: Sendable>(
    _ timeout: Duration, stop: @escaping @Sendable () -> Void = {}, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let outcome = DeadlineOutcome<T>()
    let work = Task { outcome.finish(await Result.of { try await body() }) }
    let timer = Task {
        try? await Task.sleep(for: timeout)
        if !Task.isCancelled, outcome.finish(.failure(DwmonSourceError.timeout(timeout))) {
            stop()
            work.cancel()
        }
    }
    defer { timer.cancel() }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { outcome.wait($0) }
    } onCancel: {
        if outcome.finish(.failure(CancellationError())) {
            stop()
            work.cancel()
        }
    }
}

/// The first of a body's result, its deadline and its cancellation; resumes the waiter once.
final class DeadlineOutcome<T: Sendable>: Sendable {
    private struct State {
        var result: Result<T, any Error>?
        var waiter: CheckedContinuation<T, any Error>?
    }
    private let state = Mutex(State())

    /// Records `result` if nothing was recorded yet; true when it was first.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (first, waiter) = state.withLock { s -> (Bool, CheckedContinuation<T, any Error>?) in
            if case .some = s.result { return (false, nil) }
            s.result = result
            let waiter = s.waiter
            s.waiter = nil
            return (true, waiter)
        }
        waiter?.resume(with: result)
        return first
    }

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        let ready: Result<T, any Error>? = state.withLock { s in
            if let result = s.result { return result }
            s.waiter = continuation
            return nil
        }
        if let ready { continuation.resume(with: ready) }
    }
}

extension Result where Failure == any Error {
    static func of(_ body: () async throws -> Success) async -> Result {
        do { return .success(try await body()) } catch { return .failure(error) }
    }
}

// MARK: - sqlite

/// An SQLite database file, opened read-only for each run (so it may appear later or be replaced).
struct SQLiteSource: DwmonSource {
    let path: String

    func fetch(query: String, timeout: Duration, maxRows: Int) async throws -> DwmonFetch {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DwmonSourceError.failed("sqlite source: database file \(path) does not exist")
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        configuration.label = "dwmon-source"
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw DwmonSourceError.failed("sqlite source: cannot open \(path): \(error)")
        }
        defer { try? queue.close() }
        do {
            return try await withDeadline(timeout, stop: { queue.interrupt() }) {
                try await onThread { try queue.read { db in try Self.read(db, query: query, maxRows: maxRows) } }
            }
        } catch let error as DatabaseError {
            if error.resultCode == .SQLITE_INTERRUPT { throw DwmonSourceError.timeout(timeout) }
            throw DwmonSourceError.failed("sqlite source \(path): \(error.message ?? "\(error)")")
        }
    }

    static func read(_ db: Database, query: String, maxRows: Int) throws -> DwmonFetch {
        let statement = try db.makeStatement(sql: query)
        let columns = statement.columnNames
        guard let keyIndex = columns.firstIndex(of: "dwmon_unique_key"),
            let timeIndex = columns.firstIndex(of: "dwmon_timestamp")
        else {
            throw DwmonSourceError.failed(
                "the query's columns are \(columns); it must name them dwmon_unique_key and dwmon_timestamp (... AS dwmon_unique_key)")
        }
        var fetch = DwmonFetch()
        let cursor = try Row.fetchCursor(statement)
        while let row = try cursor.next() {
            let keyValue: DatabaseValue = row[keyIndex]
            let timeValue: DatabaseValue = row[timeIndex]
            guard let key = DwmonValue.key(keyValue), let timestamp = DwmonValue.timestamp(timeValue) else {
                fetch.bad("dwmon_unique_key \(keyValue), dwmon_timestamp \(timeValue)")
                continue
            }
            try fetch.append(DwmonRow(key: key, timestamp: timestamp), maxRows: maxRows)
        }
        return fetch
    }
}

// MARK: - postgres

/// A PostgreSQL server, reached with a connection URL; one connection per run, closed after it.
struct PostgresSource: DwmonSource {
    let url: String
    let logger: Logger

    /// What a `postgres://` URL says.
    struct Target: Sendable, Equatable {
        var host: String?
        var socket: String?
        var port = 5432
        var user: String
        var password: String?
        var database: String?
        var sslMode = "prefer"
    }

    static let sslModes = ["disable", "prefer", "require", "verify-full"]

    /// `postgres://user:password@host:port/database?sslmode=...`, or a Unix socket with
    /// `postgres://user@/database?host=/var/run/postgresql`.
    static func parse(_ text: String) -> Result<Target, DwmonSourceError> {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
            scheme == "postgres" || scheme == "postgresql"
        else {
            return .failure(.failed("expected a URL such as postgres://user:password@host:5432/database, got \"\(Self.redacted(text))\""))
        }
        guard let user = components.user?.removingPercentEncoding, !user.isEmpty else {
            return .failure(.failed("the URL names no user (postgres://USER@host/database)"))
        }
        var target = Target(user: user)
        target.password = components.password?.removingPercentEncoding
        target.host = components.host.flatMap { $0.isEmpty ? nil : $0 }
        if let port = components.port { target.port = port }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        target.database = path.isEmpty ? nil : path.removingPercentEncoding
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value, sslModes.contains(mode) else {
                    return .failure(.failed("sslmode must be one of \(sslModes.joined(separator: ", ")), got \"\(item.value ?? "")\""))
                }
                target.sslMode = mode
            case "password":
                // As libpq: the password may come in the query string instead of the user part.
                target.password = item.value
            case "host":
                guard let socket = item.value, socket.hasPrefix("/") else {
                    return .failure(.failed("host= in the query string must be a socket directory such as /var/run/postgresql"))
                }
                target.socket = socket
            default:
                return .failure(.failed("unknown URL parameter \"\(item.name)\" (known: sslmode, host, password)"))
            }
        }
        if target.host == nil, target.socket == nil {
            return .failure(.failed("the URL names no host (postgres://user@HOST/database, or ?host=/socket/dir)"))
        }
        return .success(target)
    }

    /// The URL without user, password or query string, for messages (`Redact.url`).
    static func redacted(_ text: String) -> String { Redact.url(text) }

    func configuration(_ target: Target) throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let socket = target.socket {
            let path = "\(socket)/.s.PGSQL.\(target.port)"
            configuration = .init(unixSocketPath: path, username: target.user, password: target.password, database: target.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch target.sslMode {
            case "disable":
                tls = .disable
            case "verify-full":
                tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            default:
                // As libpq: prefer and require encrypt without verifying the certificate.
                var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
                tlsConfiguration.certificateVerification = .none
                let context = try NIOSSLContext(configuration: tlsConfiguration)
                tls = target.sslMode == "require" ? .require(context) : .prefer(context)
            }
            configuration = .init(
                host: target.host ?? "localhost", port: target.port, username: target.user, password: target.password,
                database: target.database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }

    /// The checker's query, wrapped so both columns come back as text whatever their types: the
    /// key as PostgreSQL prints it, the timestamp as JSON (a number, or an ISO 8601 string for
    /// `timestamp`/`timestamptz` columns).
    static func wrap(_ query: String) -> String {
        var inner = query.trimmingWhitespace
        while inner.hasSuffix(";") { inner = String(inner.dropLast()).trimmingWhitespace }
        return """
            SELECT (q.dwmon_unique_key)::text, to_json(q.dwmon_timestamp)::text FROM (
            \(inner)
            ) AS q
            """
    }

    func fetch(query: String, timeout: Duration, maxRows: Int) async throws -> DwmonFetch {
        let target: Target
        switch Self.parse(url) {
        case .success(let t): target = t
        case .failure(let error): throw error
        }
        let configuration = try configuration(target)
        // PostgresNIO's debug and trace lines show the startup message (the user name, the
        // database) and backend messages: they stay out of the gateway's log.
        var quieter = self.logger
        quieter.logLevel = max(quieter.logLevel, .info)
        let logger = quieter
        let opened = OpenedConnection()
        let milliseconds = max(1, Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        do {
            return try await withDeadline(timeout, stop: { opened.close() }) {
                let connection = try await PostgresConnection.connect(
                    configuration: configuration, id: Int.random(in: 1...Int.max), logger: logger)
                opened.set(connection)
                do {
                    _ = try await connection.query(
                        PostgresQuery(unsafeSQL: "SET statement_timeout = \(milliseconds)"), logger: logger)
                    let rows = try await connection.query(PostgresQuery(unsafeSQL: Self.wrap(query)), logger: logger)
                    var fetch = DwmonFetch()
                    for try await (key, time) in rows.decode((String?, String?).self) {
                        guard let key, let time, let timestamp = DwmonValue.timestamp(Self.unquote(time)) else {
                            fetch.bad("dwmon_unique_key \(key ?? "NULL"), dwmon_timestamp \(time ?? "NULL")")
                            continue
                        }
                        try fetch.append(DwmonRow(key: key, timestamp: timestamp), maxRows: maxRows)
                    }
                    try? await connection.close()
                    return fetch
                } catch {
                    try? await connection.close()
                    throw error
                }
            }
        } catch let error as PSQLError {
            if error.code == .server, let message = error.serverInfo?[.message] {
                if error.serverInfo?[.sqlState] == "57014" { throw DwmonSourceError.timeout(timeout) }
                let hint =
                    error.serverInfo?[.sqlState] == "42703" && message.contains("dwmon_")
                    ? " (the query must name its columns dwmon_unique_key and dwmon_timestamp)" : ""
                // The server names the user in some messages ("password authentication failed for
                // user ..."): it stays out of logs, status and answers as the URL's user does.
                let shown = target.user.isEmpty ? message : message.replacingOccurrences(of: target.user, with: "<user>")
                throw DwmonSourceError.failed("postgres source: \(shown)\(hint)")
            }
            throw DwmonSourceError.failed("postgres source \(Self.redacted(url)): \(String(reflecting: error.code))")
        }
    }

    /// The connection of a run, for the deadline to close.
    final class OpenedConnection: Sendable {
        private let connection = Mutex<PostgresConnection?>(nil)
        func set(_ value: PostgresConnection) { connection.withLock { $0 = value } }
        func close() {
            guard let value = connection.withLock({ $0 }) else { return }
            let closing: EventLoopFuture<Void> = value.close()
            closing.whenComplete { _ in }
        }
    }

    static func unquote(_ json: String) -> String {
        json.hasPrefix("\"") && json.hasSuffix("\"") && json.count >= 2 ? String(json.dropFirst().dropLast()) : json
    }
}

// MARK: - command

/// A program that gets the query on standard input (and in `DWMON_QUERY`) and prints
/// `key,timestamp` lines (a `dwmon_unique_key,dwmon_timestamp` header, blank lines and `#` lines
/// are skipped; the key is everything before the last comma). Runs in a process group of its
/// own, killed whole on timeout.
struct CommandSource: DwmonSource {
    let argv: [String]
    static let maxOutput = 256 << 20

    func fetch(query: String, timeout: Duration, maxRows: Int) async throws -> DwmonFetch {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-dwmon-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = "\(directory)/query", output = "\(directory)/stdout", errors = "\(directory)/stderr"
        try Data(query.utf8).write(to: URL(fileURLWithPath: input))
        var environment = ProcessInfo.processInfo.environment
        environment["DWMON_QUERY"] = query
        let pid = try Self.spawn(argv, environment: environment, stdin: input, stdout: output, stderr: errors)
        let status = try await Self.wait(pid, timeout: timeout, outputs: [output, errors])
        kill(-pid, SIGKILL)  // what it left running in the background goes with it
        let errorText = (try? String(contentsOfFile: errors, encoding: .utf8))?.trimmingWhitespace ?? ""
        guard status == 0 else {
            let tail = errorText.isEmpty ? "" : ": \(errorText.suffix(500))"
            throw DwmonSourceError.failed("command source \(argv[0]) \(Self.describe(status))\(tail)")
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: output)
        if let size = attributes[.size] as? Int, size > Self.maxOutput {
            throw DwmonSourceError.failed("command source \(argv[0]) printed \(size) bytes (limit \(Self.maxOutput))")
        }
        let text = try String(contentsOfFile: output, encoding: .utf8)
        return try Self.parse(text, maxRows: maxRows)
    }

    static func parse(_ text: String, maxRows: Int) throws -> DwmonFetch {
        var fetch = DwmonFetch()
        var lineNumber = 0
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            let line = raw.trimmingWhitespace
            if line.isEmpty || line.hasPrefix("#") || line == "dwmon_unique_key,dwmon_timestamp" { continue }
            guard let comma = line.lastIndex(of: ","),
                case let key = line[..<comma].trimmingWhitespace, !key.isEmpty,
                let timestamp = DwmonValue.timestamp(String(line[line.index(after: comma)...]))
            else {
                fetch.bad("output line \(lineNumber): \"\(line.prefix(200))\" (expected key,timestamp)")
                continue
            }
            try fetch.append(DwmonRow(key: key, timestamp: timestamp), maxRows: maxRows)
        }
        return fetch
    }

    static func size(of path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    static func describe(_ status: Int32) -> String {
        status >= 128 ? "was killed by signal \(status - 128)" : "exited with status \(status)"
    }

    static func spawn(_ argv: [String], environment: [String: String], stdin: String, stdout: String, stderr: String) throws
        -> pid_t
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // Nothing else of the gateway's (sockets, database files) leaks into the program.
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A group of its own, so a timeout kills the program and everything it started.
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let args = argv.map { strdup($0) } + [nil]
        let env = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            args.forEach { free($0) }
            env.forEach { free($0) }
        }
        var pid: pid_t = 0
        var result = posix_spawnp(&pid, argv[0], &actions, &attributes, args, env)
        // ETXTBSY: the program file is still open for writing somewhere, often only in a child
        // another thread is forking at this moment; it passes within milliseconds.
        for _ in 0..<20 where result == ETXTBSY {
            usleep(10_000)
            result = posix_spawnp(&pid, argv[0], &actions, &attributes, args, env)
        }
        guard result == 0 else {
            throw DwmonSourceError.failed("command source: cannot start \(argv[0]): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module does
    /// not import; nil where the C library lacks it.
    nonisolated(unsafe) static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(
            symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Waits for `pid`; on timeout, on cancellation, or when its output files grow past
    /// ``maxOutput``, kills its whole process group.
    static func wait(_ pid: pid_t, timeout: Duration, outputs: [String] = []) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        var polls = 0
        while true {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid { break }
            if done < 0, errno != EINTR { throw DwmonSourceError.failed("command source: waitpid: \(String(cString: strerror(errno)))") }
            polls += 1
            let tooMuch = polls % 10 == 0 && outputs.contains { Self.size(of: $0) > Self.maxOutput }
            if ContinuousClock.now >= deadline || Task.isCancelled || tooMuch {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0, errno == EINTR {}
                if Task.isCancelled { throw CancellationError() }
                if tooMuch { throw DwmonSourceError.failed("command source: the program printed more than \(Self.maxOutput) bytes; stopped") }
                throw DwmonSourceError.timeout(timeout)
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG by hand (macros do not import).
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

// MARK: - http

/// GETs `base` + the checker's query (a path and query string), or the query when it is a whole
/// URL. The answer is JSON rows: an array of `{"dwmon_unique_key": ..., "dwmon_timestamp": ...}`
/// objects or `[key, timestamp]` pairs, bare or under `rows` or `data`.
struct HTTPSource: DwmonSource {
    let base: String
    let headers: [String: String]
    let client: HTTPClient
    static let maxBody = 256 << 20

    static func url(base: String, query: String) -> String {
        let path = query.trimmingWhitespace
        if path.hasPrefix("http://") || path.hasPrefix("https://") { return path }
        if path.isEmpty { return base }
        let trimmedBase = base.hasSuffix("/") ? String(base.dropLast()) : base
        return path.hasPrefix("/") || path.hasPrefix("?") ? trimmedBase + path : trimmedBase + "/" + path
    }

    func fetch(query: String, timeout: Duration, maxRows: Int) async throws -> DwmonFetch {
        let target = Self.url(base: base, query: query)
        var request = HTTPClientRequest(url: target)
        request.method = .GET
        request.headers.add(name: "Accept", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let shown = DwmonRedact.url(target)
        let status: UInt
        let bytes: [UInt8]
        do {
            let client = self.client
            let request = request
            // The whole exchange, body included, under the timeout (the client's own deadline ends
            // once the headers are in).
            (status, bytes) = try await withDeadline(timeout) {
                let response = try await client.execute(request, timeout: .nanoseconds(Units.nanoseconds(timeout)))
                let body = try await response.body.collect(upTo: Self.maxBody)
                return (response.status.code, Array(body.readableBytesView))
            }
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw DwmonSourceError.timeout(timeout)
        } catch let error as DwmonSourceError {
            throw error
        } catch {
            throw DwmonSourceError.failed("http source: GET \(shown): \(error)")
        }
        guard (200..<300).contains(status) else {
            let text = String(decoding: bytes.prefix(300), as: UTF8.self)
            throw DwmonSourceError.failed("http source: GET \(shown) answered \(status): \(text)")
        }
        return try Self.parse(bytes, maxRows: maxRows)
    }

    static func parse(_ bytes: [UInt8], maxRows: Int) throws -> DwmonFetch {
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            throw DwmonSourceError.failed("http source: the answer is not JSON: \(error)")
        }
        var items: [JSONValue]
        switch document {
        case .array(let array): items = array
        case .object:
            guard case .array(let array)? = document["rows"] ?? document["data"] else {
                throw DwmonSourceError.failed("http source: expected a JSON array of rows (bare, or under \"rows\" or \"data\")")
            }
            items = array
        default:
            throw DwmonSourceError.failed("http source: expected a JSON array of rows, got \(document.kindName)")
        }
        var fetch = DwmonFetch()
        for (index, item) in items.enumerated() {
            var key: String?
            var timestamp: Double?
            switch item {
            case .object:
                key = item["dwmon_unique_key"].flatMap(DwmonValue.key)
                timestamp = item["dwmon_timestamp"].flatMap(DwmonValue.timestamp)
            case .array(let pair) where pair.count == 2:
                key = DwmonValue.key(pair[0])
                timestamp = DwmonValue.timestamp(pair[1])
            default: break
            }
            guard let key, let timestamp else {
                fetch.bad("row \(index): expected {\"dwmon_unique_key\": ..., \"dwmon_timestamp\": ...} or [key, timestamp]")
                continue
            }
            try fetch.append(DwmonRow(key: key, timestamp: timestamp), maxRows: maxRows)
        }
        items.removeAll()
        return fetch
    }
}

/// Secrets out of URLs before they reach logs and answers.
enum DwmonRedact {
    /// `scheme://host[:port]/path`: no user, password or query string (tokens live there).
    static func url(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.host != nil else { return userInfo(text) }
        components.user = nil
        components.password = nil
        components.query = nil
        components.fragment = nil
        return components.string ?? userInfo(text)
    }

    /// Whatever sits between `://` and the last `@`, masked (a password may hold `/`, `#` or `?`, so
    /// the last `@` anywhere counts: masking too much is the safe side).
    static func userInfo(_ text: String) -> String {
        guard let scheme = text.range(of: "://") else { return text }
        let rest = text[scheme.upperBound...]
        guard let at = rest.lastIndex(of: "@") else { return text }
        return String(text[..<scheme.upperBound]) + "***" + String(rest[at...])
    }
}
