import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import Plugins

/// The status page (`GET /`, `/ui`) and its stream (`GET /api/v1/events`): Server-Sent Events, one
/// `status` event a second carrying what `/api/v1/status` answers. The page computes rates from the
/// counters' differences and draws the last 5 minutes itself; it needs no token to read (as
/// `/api/v1/status`), and sends the listener's token for its actions (replay a spool, run a dwmon checker).
extension HTTPHandlers {
    func statusPage(_ request: Request) -> Response {
        if let denied = authorizeRead(request) { return denied }
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // The page loads nothing from elsewhere: its script and style are inline.
        headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: StatusPage.html)))
    }

    /// `interval` (milliseconds, 200 to 10000) sets the pace; one second by default.
    func statusEvents(_ request: Request) -> Response {
        if let denied = authorizeRead(request) { return denied }
        let milliseconds = request.uri.queryParameters.get("interval").flatMap { Int($0) }.map {
            min(max($0, 200), 10_000)
        }
        let interval = Duration.milliseconds(milliseconds ?? 1000)
        let status = self.status
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-store"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                var next = ContinuousClock.now
                while !status.isDraining, !Task.isCancelled {
                    var event = Array("event: status\ndata: ".utf8)
                    event += JSONBody.encode(status.status())
                    event += Array("\n\n".utf8)
                    try await writer.write(ByteBuffer(bytes: event))
                    next += interval
                    try await Task.sleep(until: next, clock: .continuous)
                }
                try await writer.finish(nil)
            })
    }
}
