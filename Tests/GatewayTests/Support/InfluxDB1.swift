import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TestDoubles

/// A real InfluxDB 1.x (Debian's `influxdb`, unpacked by `scripts/install-deps.sh --test` into
/// `.deps/influxdb`, or installed) on free loopback ports with its own folders and reporting off:
/// `/write?db=` and `/query`. A missing binary is a failure, not a skip.
final class InfluxDB1: @unchecked Sendable {
    let port: Int
    let folder: String
    private var process: Process?
    private var logPath: String { "\(folder)/influxd.log" }

    static let binaryPath = [
        GatewayProcess.packageRoot.appendingPathComponent(".deps/influxdb/usr/bin/influxd").path, "/usr/bin/influxd",
    ].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// With `admin` (user, password), authentication is on and that admin is created at start; the
    /// harness's own requests then carry it.
    let admin: (user: String, password: String)?

    init(admin: (user: String, password: String)? = nil) throws {
        self.admin = admin
        port = try freeTCPPort()
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("influxdb1-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func start() async throws {
        guard let binary = Self.binaryPath else {
            throw TestFailure("influxd is not there: run scripts/install-deps.sh --test (it unpacks Debian's influxdb)")
        }
        let config = """
            reporting-disabled = true
            bind-address = "127.0.0.1:\(try freeTCPPort())"
            [meta]
              dir = "\(folder)/meta"
            [data]
              dir = "\(folder)/data"
              wal-dir = "\(folder)/wal"
              query-log-enabled = false
            [http]
              bind-address = "127.0.0.1:\(port)"
              log-enabled = false
              auth-enabled = \(admin != nil)
            [monitor]
              store-enabled = false
            [continuous_queries]
              enabled = false
            """
        try config.write(toFile: "\(folder)/influxdb.conf", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-config", "\(folder)/influxdb.conf"]
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let answer = try? await request("GET", "/ping"), answer.status == 204 {
                if let admin {
                    // Allowed without credentials while there is no user yet.
                    try await query(
                        "CREATE USER \"\(admin.user)\" WITH PASSWORD '\(admin.password)' WITH ALL PRIVILEGES")
                }
                return
            }
            if !process.isRunning {
                let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                throw TestFailure("influxd exited at start (\(process.terminationStatus)):\n\(text.suffix(2000))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("influxd did not answer /ping on port \(port)")
    }

    func stop() async throws {
        guard let process else { return }
        try await process.signalAndWait()
        self.process = nil
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: folder)
    }

    func request(_ method: String, _ path: String, body: String? = nil) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url + path)
        request.method = HTTPMethod(rawValue: method)
        if let admin {
            let credentials = Data("\(admin.user):\(admin.password)".utf8).base64EncodedString()
            request.headers.add(name: "Authorization", value: "Basic \(credentials)")
        }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let answer = try await response.body.collect(upTo: 1 << 28)
        return (Int(response.status.code), String(buffer: answer))
    }

    /// Runs InfluxQL (`CREATE DATABASE`, `SELECT ...`) and returns the JSON answer.
    @discardableResult
    func query(_ q: String, db: String? = nil) async throws -> String {
        var items = [URLQueryItem(name: "q", value: q), URLQueryItem(name: "epoch", value: "ns")]
        if let db { items.append(URLQueryItem(name: "db", value: db)) }
        var components = URLComponents()
        components.queryItems = items
        let answer = try await request("POST", "/query?" + (components.percentEncodedQuery ?? ""))
        guard answer.status == 200 else { throw TestFailure("/query answered \(answer.status): \(answer.body)") }
        return answer.body
    }

    /// Every row of every series in `db`, as `measurement|tags fields time` text, sorted: what it stores.
    /// Measurement by measurement: one query over all of them leaves out rows whose field has another
    /// type in another measurement.
    func rows(db: String) async throws -> [String] {
        var out: [String] = []
        for measurement in try await measurements(db: db) {
            let quoted =
                "\""
                + measurement.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "\"", with: "\\\"") + "\""
            out += try await rows(db: db, query: "SELECT * FROM \(quoted) GROUP BY *")
        }
        return out.sorted()
    }

    func measurements(db: String) async throws -> [String] {
        let answer = try await query("SHOW MEASUREMENTS", db: db)
        guard let json = try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any],
            let results = json["results"] as? [[String: Any]]
        else { throw TestFailure("unexpected /query answer: \(answer)") }
        return results.flatMap { result in
            (result["series"] as? [[String: Any]] ?? []).flatMap { series in
                (series["values"] as? [[Any]] ?? []).compactMap { $0.first as? String }
            }
        }
    }

    func rows(db: String, query q: String) async throws -> [String] {
        let answer = try await query(q, db: db)
        guard let json = try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any],
            let results = json["results"] as? [[String: Any]]
        else { throw TestFailure("unexpected /query answer: \(answer)") }
        var out: [String] = []
        for result in results {
            for series in result["series"] as? [[String: Any]] ?? [] {
                let name = series["name"] as? String ?? "?"
                let tags = (series["tags"] as? [String: String] ?? [:]).filter { !$0.value.isEmpty }
                    .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                let columns = series["columns"] as? [String] ?? []
                for value in series["values"] as? [[Any]] ?? [] {
                    var fields: [String] = []
                    var time = ""
                    for (column, cell) in zip(columns, value) {
                        if column == "time" { time = "\(cell)"; continue }
                        if cell is NSNull { continue }
                        fields.append("\(column)=\(Self.describe(cell))")
                    }
                    out.append(
                        "\(([name] + tags).joined(separator: "|")) \(fields.sorted().joined(separator: "|")) \(time)")
                }
            }
        }
        return out.sorted()
    }

    static func describe(_ cell: Any) -> String {
        if let s = cell as? String { return "\"\(s)\"" }
        if let b = cell as? Bool, type(of: cell) == Bool.self { return b ? "true" : "false" }
        if let n = cell as? NSNumber { return n.stringValue }
        return "\(cell)"
    }
}
