import AsyncHTTPClient
import Logging

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
