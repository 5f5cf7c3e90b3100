import AsyncHTTPClient
import Foundation
import GatewayCore
import NIOCore

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
                throw DwmonSourceError.failed(
                    "http source: expected a JSON array of rows (bare, or under \"rows\" or \"data\")")
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
                fetch.bad(
                    "row \(index): expected {\"dwmon_unique_key\": ..., \"dwmon_timestamp\": ...} or [key, timestamp]")
                continue
            }
            try fetch.append(DwmonRow(key: key, timestamp: timestamp), maxRows: maxRows)
        }
        items.removeAll()
        return fetch
    }
}
