import Foundation
import GatewayCore
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization

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
            return .failure(
                .failed(
                    "expected a URL such as postgres://user:password@host:5432/database, got \"\(Self.redacted(text))\""
                ))
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
                    return .failure(
                        .failed(
                            "sslmode must be one of \(sslModes.joined(separator: ", ")), got \"\(item.value ?? "")\""))
                }
                target.sslMode = mode
            case "password":
                // As libpq: the password may come in the query string instead of the user part.
                target.password = item.value
            case "host":
                guard let socket = item.value, socket.hasPrefix("/") else {
                    return .failure(
                        .failed("host= in the query string must be a socket directory such as /var/run/postgresql"))
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
            configuration = .init(
                unixSocketPath: path, username: target.user, password: target.password, database: target.database)
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
        let milliseconds = max(
            1, Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
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
                let shown =
                    target.user.isEmpty ? message : message.replacingOccurrences(of: target.user, with: "<user>")
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
