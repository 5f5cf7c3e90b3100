import ArgumentParser
import AsyncHTTPClient
import ConfigReading
import Foundation
import GatewayCore
import NIOCore
import NIOPosix

/// `gateway send`: points from arguments or standard input, over UDP or HTTP, for shell scripts
/// and tests. Lines are checked locally first: bad ones are reported and not sent.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send points given as arguments or on standard input.",
        discussion: """
            Examples:
              gateway send 'cpu,host=a usage=0.5'
              echo '{"series":"cpu","fields":{"usage":0.5}}' | gateway send --format json
              gateway send --http http://127.0.0.1:8087 --token "$GATEWAY_TOKEN" < points.lp
              gateway send --http 'http://influx1:8086/write?db=metrics&rp=autogen' --username u --password "$PW" < points.lp
              gateway send --http 'http://influx2:8086/api/v2/write?org=acme&bucket=metrics' --token "$INFLUX_TOKEN" < points.lp
            A URL with a path is used as given (InfluxDB 1.x /write?db=..., 2.x /api/v2/write?org=...&bucket=...);
            --precision is added to a /write or /api/v2/write URL that does not name one.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case line, json
    }

    @Option(help: "Send over UDP to HOST:PORT (the default, at 127.0.0.1:8089).")
    var udp: String?

    @Option(
        help: """
            Send over HTTP to a gateway's base URL (line protocol to /api/v2/write, JSON to /api/v1/points), or to a \
            full URL: InfluxDB 1.x http://HOST:8086/write?db=DB, 2.x http://HOST:8086/api/v2/write?org=O&bucket=B.
            """)
    var http: String?

    @Option(help: "Payload format: line (InfluxDB line protocol) or json (JSON points).")
    var format: Format = .line

    @Option(help: "Timestamp precision of line protocol: ns, us, ms or s.")
    var precision: String = "ns"

    @Option(help: "Token for the gateway's HTTP listener or InfluxDB 2.x (Authorization: Token ...).")
    var token: String?

    @Option(help: "User name for InfluxDB 1.x (HTTP Basic authentication, with --password).")
    var username: String?

    @Option(help: "Password for InfluxDB 1.x (with --username).")
    var password: String?

    @Option(help: "Largest UDP datagram to send, in bytes; lines are never split.")
    var maxDatagram: Int = 1400

    @Option(help: "Lines per HTTP request.")
    var batchSize: Int = 5000

    @Argument(help: "Points; read from standard input when none are given.")
    var points: [String] = []

    func validate() throws {
        if udp != nil, http != nil { throw ValidationError("give --udp or --http, not both") }
        if (username == nil) != (password == nil) { throw ValidationError("give --username and --password together") }
        if username != nil, token != nil { throw ValidationError("give --token or --username/--password, not both") }
        if (username != nil || token != nil) && http == nil {
            throw ValidationError("--token, --username and --password are for --http")
        }
        guard Precision(influx: precision) != nil else { throw ValidationError("--precision must be ns, us, ms or s") }
        guard maxDatagram >= 64, maxDatagram <= 65_507 else {
            throw ValidationError("--max-datagram must be 64 to 65507")
        }
    }

    func run() async throws {
        let input = points.isEmpty ? Self.readStandardInput() : points.joined(separator: "\n")
        let lines = try checkedLines(input)
        if lines.good.isEmpty {
            FileHandle.standardError.write(Data("nothing to send\n".utf8))
            throw ExitCode(1)
        }
        if let http {
            try await sendHTTP(lines.good, to: http)
        } else {
            try await sendUDP(lines.good, to: udp ?? "127.0.0.1:8089")
        }
        if lines.bad > 0 { throw ExitCode(1) }
    }

    static func readStandardInput() -> String {
        String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    }

    /// Splits the input into sendable lines (one point each), reporting the ones that do not decode.
    func checkedLines(_ input: String) throws -> (good: [String], bad: Int) {
        var good: [String] = []
        var bad = 0
        switch format {
        case .line:
            let decoder = LineProtocolDecoder(precision: Precision(influx: precision)!)
            for (index, line) in input.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                let result = decoder.decode(String(line))
                if let error = result.errors.first {
                    bad += 1
                    FileHandle.standardError.write(
                        Data("line \(index + 1): \(error.message): \(line.prefix(120))\n".utf8))
                } else {
                    good.append(String(line))
                }
            }
        case .json:
            // Int64.min marks points without a time, so the gateway stamps its own receive time.
            let result = JSONPointDecoder().decode(input, receiveTime: Int64.min)
            for error in result.errors {
                bad += 1
                FileHandle.standardError.write(Data("\(error)\n".utf8))
            }
            // Re-encode each good point as one JSON line, so they can be packed into datagrams.
            let encoder = JSONPointEncoder()
            for point in result.points {
                var line = encoder.line(point)
                if point.time == Int64.min { line = Self.withoutTime(line) }
                good.append(line)
            }
        }
        return (good, bad)
    }

    /// Drops `"time":...` written for a point that had none, so the gateway stamps its receive time.
    static func withoutTime(_ line: String) -> String {
        guard let range = line.range(of: #","time":"#) else { return line }
        guard let end = line[range.upperBound...].firstIndex(of: ",") else { return line }
        return String(line[..<range.lowerBound] + line[end...])
    }

    func sendUDP(_ lines: [String], to target: String) async throws {
        guard let hostPort = HostPort(target) else { throw ValidationError("--udp expects HOST:PORT, got \(target)") }
        let remote = try SocketAddress.makeAddressResolvingHost(hostPort.host, port: hostPort.port)
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: remote.protocol == .inet6 ? "::" : "0.0.0.0", port: 0).get()
        defer { channel.close(promise: nil) }
        var datagrams = 0
        var payload: [UInt8] = []
        func flush() async throws {
            guard !payload.isEmpty else { return }
            try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: remote, data: ByteBuffer(bytes: payload)))
                .get()
            datagrams += 1
            payload.removeAll(keepingCapacity: true)
        }
        for line in lines {
            let bytes = Array(line.utf8)
            if bytes.count + 1 > maxDatagram {
                FileHandle.standardError.write(
                    Data("line longer than --max-datagram (\(maxDatagram)), sent alone\n".utf8))
            }
            if !payload.isEmpty, payload.count + bytes.count + 1 > maxDatagram { try await flush() }
            payload.append(contentsOf: bytes)
            payload.append(UInt8(ascii: "\n"))
        }
        try await flush()
        print("sent \(lines.count) points in \(datagrams) datagrams to udp \(hostPort)")
    }

    func sendHTTP(_ lines: [String], to base: String) async throws {
        let url = try Self.writeURL(base, format: format, precision: precision)
        var sent = 0
        var start = 0
        while start < lines.count {
            let end = min(start + batchSize, lines.count)
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(
                name: "Content-Type", value: format == .line ? "text/plain; charset=utf-8" : "application/json")
            if let token { request.headers.add(name: "Authorization", value: "Token \(token)") }
            if let username, let password {
                let credentials = Data("\(username):\(password)".utf8).base64EncodedString()
                request.headers.add(name: "Authorization", value: "Basic \(credentials)")
            }
            request.body = .bytes(ByteBuffer(string: lines[start..<end].joined(separator: "\n") + "\n"))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status.code / 100 == 2 else {
                FileHandle.standardError.write(
                    Data("HTTP \(response.status.code): \(String(buffer: body))\n".utf8))
                throw ExitCode(1)
            }
            sent += end - start
            start = end
        }
        print("sent \(sent) points to \(Redact.url(url))")
    }

    /// The URL to POST to. A base URL (no path) is a gateway's: line protocol goes to `/api/v2/write`,
    /// JSON to `/api/v1/points`. A URL with a path is used as given; an InfluxDB write path
    /// (`/write`, 1.x; `/api/v2/write`, 2.x and the gateway) gets `precision` unless it names one. 1.x
    /// spells microseconds `u` (InfluxDB 1.6 reads `us` as nanoseconds).
    static func writeURL(_ base: String, format: Format, precision: String) throws -> String {
        guard var components = URLComponents(string: base), let scheme = components.scheme,
            scheme == "http" || scheme == "https", components.host?.isEmpty == false
        else {
            throw ValidationError(
                "--http expects a URL such as http://127.0.0.1:8087 or http://influx:8086/write?db=metrics, got \(Redact.url(base))"
            )
        }
        if components.path.isEmpty || components.path == "/" {
            components.path = format == .line ? "/api/v2/write" : "/api/v1/points"
        }
        let path = components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path
        let isV1 = path.hasSuffix("/write") && !path.hasSuffix("/api/v2/write")
        if format == .json, path.hasSuffix("/write") {
            throw ValidationError(
                "\(path) takes line protocol: send JSON points to a gateway (its base URL or /api/v1/points), or use --format line"
            )
        }
        if path.hasSuffix("/write"), format == .line,
            !(components.queryItems ?? []).contains(where: { $0.name == "precision" })
        {
            let spelt = isV1 && precision == "us" ? "u" : precision
            components.queryItems = (components.queryItems ?? []) + [URLQueryItem(name: "precision", value: spelt)]
        }
        guard let url = components.string else { throw ValidationError("invalid URL \(Redact.url(base))") }
        return url
    }
}
