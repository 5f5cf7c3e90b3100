import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore

/// `gateway tap`: prints the live tap of a running gateway (`GET /api/v1/tap`): the points passing its
/// router that match, with the routes they matched and the sinks they went to.
struct TapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tap",
        abstract: "Print the points passing a running gateway's router, with their routes and sinks.",
        discussion: """
            Points go to standard output, one a line; a note on standard error says how many this client \
            missed when it read too slowly (the gateway never waits for a tap). Examples:
              gateway tap --series 'cpu*' --tag host=web-1
              gateway tap --url http://127.0.0.1:8087 --format json --limit 10
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case line, json
    }

    @Option(help: "The gateway's HTTP listener.")
    var url = "http://127.0.0.1:8087"

    @Option(help: "Only series matching this glob; repeat for any of several.")
    var series: [String] = []

    @Option(help: "Only points whose tag KEY matches the glob: KEY=GLOB; repeat for all of several.")
    var tag: [String] = []

    @Option(help: "Only points from this listener or plugin source (a glob: udp, http, plugin:*).")
    var source: String?

    @Option(help: "Only points that went to this sink.")
    var sink: String?

    @Option(help: "Output: line (line protocol with a # source= routes= sinks= note) or json (one object a line).")
    var format: Format = .line

    @Option(help: "Stop after this many points.")
    var limit: Int?

    @Option(help: "Points the gateway buffers for this client before it drops (1 to 1000000).")
    var buffer: Int?

    @Option(help: "Read token of the HTTP listener, if it has one (or GATEWAY_TOKEN).")
    var token: String?

    func validate() throws {
        for item in tag where !item.contains("=") {
            throw ValidationError("--tag \(item): expected KEY=GLOB")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    /// The tap URL with the query this command's options make.
    var tapURL: String {
        guard var components = URLComponents(string: url.hasSuffix("/") ? String(url.dropLast()) : url) else {
            return url
        }
        components.path += "/api/v1/tap"
        var items = series.map { URLQueryItem(name: "series", value: $0) }
        for item in tag {
            let equals = item.firstIndex(of: "=")!
            items.append(
                URLQueryItem(name: "tag", value: "\(item[..<equals]):\(item[item.index(after: equals)...])"))
        }
        if let source { items.append(URLQueryItem(name: "source", value: source)) }
        if let sink { items.append(URLQueryItem(name: "sink", value: sink)) }
        items.append(URLQueryItem(name: "format", value: format.rawValue))
        if let buffer { items.append(URLQueryItem(name: "buffer", value: String(buffer))) }
        components.queryItems = items
        return components.string ?? url
    }

    func run() async throws {
        var request = HTTPClientRequest(url: tapURL)
        if let token = token ?? ProcessInfo.processInfo.environment["GATEWAY_TOKEN"] {
            request.headers.add(name: "Authorization", value: "Token \(token)")
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .hours(24 * 365))
        } catch {
            FileHandle.standardError.write(Data("gateway tap: cannot reach \(url): \(error)\n".utf8))
            throw ExitCode(1)
        }
        guard response.status == .ok else {
            let body = try await response.body.collect(upTo: 64 << 10)
            FileHandle.standardError.write(
                Data("gateway tap: \(response.status.code): \(String(buffer: body))\n".utf8))
            throw ExitCode(1)
        }
        var printed = 0
        var pending: [UInt8] = []
        for try await chunk in response.body {
            pending += chunk.readableBytesView
            var out: [UInt8] = []
            var start = 0
            while let newline = pending[start...].firstIndex(of: 10) {
                let line = pending[start...newline]
                start = newline + 1
                switch Self.kind(line) {
                case .point:
                    out += line
                    printed += 1
                case .dropped: FileHandle.standardError.write(Data(line))
                case .note: continue
                }
                if let limit, printed >= limit { break }
            }
            pending.removeFirst(start)
            if !out.isEmpty { FileHandle.standardOutput.write(Data(out)) }
            if let limit, printed >= limit { break }
        }
    }

    enum LineKind { case point, dropped, note }

    /// `#` lines and `{"attached"`/`{"keepalive"` records are notes; `dropped` ones are said on stderr.
    static func kind(_ line: ArraySlice<UInt8>) -> LineKind {
        let text = String(decoding: line.prefix(16), as: UTF8.self)
        if text.hasPrefix("# dropped") || text.hasPrefix("{\"dropped\"") { return .dropped }
        if text.hasPrefix("#") || text.hasPrefix("{\"attached\"") || text.hasPrefix("{\"keepalive\"") { return .note }
        return .point
    }
}
