import GatewayCore
import Hummingbird
import HummingbirdCore
import NIOCore

/// `GET /api/v1/tap?series=GLOB&tag=KEY:GLOB&source=NAME&sink=NAME&format=line|json&buffer=N`: a chunked
/// stream of the points passing the router that match, one per line, each with the routes it matched
/// and the sinks it went to. `series` and `tag` may repeat (any series glob; every tag). The first line
/// says the tap is attached; points a slow client missed are reported as `# dropped N ...` (line) or
/// `{"dropped":N}` (json) before the next points; a quiet stream says `# keepalive` every 10 s.
extension HTTPHandlers {
    static let tapDefaultBuffer = 10_000
    static let tapMaxBuffer = 1_000_000

    func tap(_ request: Request) -> Response {
        if let denied = authorizeRead(request) { return denied }
        let parsed: TapRequest
        switch TapRequest.parse(request.uri.queryParameters) {
        case .failure(let message):
            return Self.influxError(.badRequest, code: "invalid", message: message)
        case .success(let value): parsed = value
        }
        let liveTap = status.liveTap
        let status = self.status
        var headers = HTTPFields()
        headers[.contentType] = parsed.json ? "application/x-ndjson" : "text/plain; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                let client = liveTap.attach(parsed.filter, capacity: parsed.buffer)
                defer { liveTap.detach(client) }
                try await writer.write(ByteBuffer(bytes: parsed.attachedLine))
                var quietSince = ContinuousClock.now
                while !status.isDraining, !Task.isCancelled {
                    let (events, dropped) = client.take()
                    var out: [UInt8] = []
                    if dropped > 0 { out += TapRequest.droppedLine(dropped, buffer: parsed.buffer, json: parsed.json) }
                    for event in events { TapRequest.encode(event, json: parsed.json, into: &out) }
                    if out.isEmpty, ContinuousClock.now - quietSince >= .seconds(10) {
                        out = Array((parsed.json ? "{\"keepalive\":true}\n" : "# keepalive\n").utf8)
                    }
                    if out.isEmpty {
                        try await Task.sleep(for: .milliseconds(50))
                        continue
                    }
                    liveTap.sent.increment(by: Int64(events.count))
                    try await writer.write(ByteBuffer(bytes: out))
                    quietSince = ContinuousClock.now
                }
                try await writer.finish(nil)
            })
    }
}

/// A tap request's query, read and checked.
struct TapRequest: Sendable {
    var filter = TapFilter()
    var json = false
    var buffer = HTTPHandlers.tapDefaultBuffer

    enum Parsed {
        case success(TapRequest)
        case failure(String)
    }

    static func parse(_ query: FlatDictionary<Substring, Substring>) -> Parsed {
        var request = TapRequest()
        for (key, value) in query {
            let value = String(value)
            switch String(key) {
            case "series": request.filter.series.append(Glob(value))
            case "tag":
                guard let colon = value.firstIndex(of: ":"), colon != value.startIndex else {
                    return .failure("tap: tag=\(value): expected KEY:GLOB (a tag key, a colon, a glob of its value)")
                }
                request.filter.tags.append(
                    (String(value[..<colon]), Glob(String(value[value.index(after: colon)...]))))
            case "source": request.filter.source = Glob(value)
            case "sink": request.filter.sink = value
            case "format":
                guard value == "line" || value == "json" else {
                    return .failure("tap: format=\(value): expected line or json")
                }
                request.json = value == "json"
            case "buffer":
                guard let size = Int(value), (1...HTTPHandlers.tapMaxBuffer).contains(size) else {
                    return .failure("tap: buffer=\(value): expected a number of points from 1 to 1000000")
                }
                request.buffer = size
            case "p": continue  // the credential, read by authorizeRead
            default:
                return .failure(
                    "tap: unknown parameter \(key) (known: series, tag, source, sink, format, buffer)")
            }
        }
        return .success(request)
    }

    /// The first line of the stream: the tap is attached and points from now on will follow.
    var attachedLine: [UInt8] {
        if json { return Array("{\"attached\":true,\"buffer\":\(buffer)}\n".utf8) }
        return Array("# tap attached (buffer \(buffer) points)\n".utf8)
    }

    static func droppedLine(_ count: Int, buffer: Int, json: Bool) -> [UInt8] {
        if json { return Array("{\"dropped\":\(count)}\n".utf8) }
        return Array("# dropped \(count) points: this client read too slowly (buffer \(buffer) points)\n".utf8)
    }

    /// `LINE # source=S routes=A,B sinks=X` or `{"source":..,"routes":[..],"sinks":[..],"point":{..}}`.
    static func encode(_ event: TapEvent, json: Bool, into out: inout [UInt8]) {
        if json {
            out += #"{"source":"#.utf8
            JSONPointEncoder.appendJSONString(event.source, to: &out)
            out += #","routes":["#.utf8
            for (index, route) in event.routes.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONPointEncoder.appendJSONString(route, to: &out)
            }
            out += #"],"sinks":["#.utf8
            for (index, sink) in event.sinks.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONPointEncoder.appendJSONString(sink, to: &out)
            }
            out += #"],"point":"#.utf8
            JSONPointEncoder().encode(event.point, into: &out)
            out.removeLast()
            out += "}\n".utf8
        } else {
            LineProtocolEncoder().encode(event.point, into: &out)
            out.removeLast()
            out += " # source=\(event.source) routes=\(event.routes.joined(separator: ",")) ".utf8
            out += "sinks=\(event.sinks.joined(separator: ","))\n".utf8
        }
    }
}
