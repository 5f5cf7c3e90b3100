import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore

/// `gateway top`: the status page's numbers in a terminal (listeners, routes, sinks with their spool and
/// health, plugins, recent warnings), from `/api/v1/status` every second; `q` quits.
struct TopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Watch a running gateway: rates, queues, spools, health and plugins, refreshed every second.",
        discussion: """
            Reads GET /api/v1/status of the gateway's HTTP listener; rates are the counters' differences \
            between two reads. Press q (or Ctrl-C) to quit; the terminal is restored. With --once, prints one \
            screen (counters, no rates) and exits.
            """)

    @Option(help: "The gateway's HTTP listener.")
    var url = "http://127.0.0.1:8087"

    @Option(help: "Seconds between refreshes.")
    var interval = 1.0

    @Option(help: "Read token of the HTTP listener, if it has one (or GATEWAY_TOKEN).")
    var token: String?

    @Flag(help: "Print one screen and exit (no terminal control).")
    var once = false

    func validate() throws {
        guard interval >= 0.2 else { throw ValidationError("--interval must be at least 0.2 seconds") }
    }

    func run() async throws {
        let statusURL = (url.hasSuffix("/") ? String(url.dropLast()) : url) + "/api/v1/status"
        if once {
            let status = try await fetch(statusURL)
            print(TopScreen(status: status, previous: nil, seconds: 0, width: 160).lines.joined(separator: "\n"))
            return
        }
        let terminal = RawTerminal()
        defer { terminal.restore() }
        var previous: (status: [String: Any], at: ContinuousClock.Instant)?
        var message = ""
        while true {
            let started = ContinuousClock.now
            var lines: [String]
            do {
                let status = try await fetch(statusURL)
                let seconds = previous.map { (started - $0.at).seconds } ?? 0
                lines =
                    TopScreen(status: status, previous: previous?.status, seconds: seconds, width: terminal.width)
                    .lines
                previous = (status, started)
                message = ""
            } catch {
                message = "cannot read \(statusURL): \(error)"
                lines = []
            }
            if !message.isEmpty { lines.append(message) }
            terminal.draw(lines)
            let next = started + .milliseconds(Int(interval * 1000))
            while ContinuousClock.now < next {
                if terminal.readKey(timeoutMilliseconds: 100) == UInt8(ascii: "q") { return }
            }
        }
    }

    func fetch(_ statusURL: String) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: statusURL)
        if let token = token ?? ProcessInfo.processInfo.environment["GATEWAY_TOKEN"] {
            request.headers.add(name: "Authorization", value: "Token \(token)")
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 16 << 20)
        guard response.status == .ok else {
            throw TopError("HTTP \(response.status.code): \(String(buffer: body).prefix(200))")
        }
        guard let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw TopError("the answer is not a JSON object")
        }
        return object
    }
}

struct TopError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// The terminal in raw mode (no echo, keys one at a time), restored on exit and on SIGINT/SIGTERM.
final class RawTerminal: @unchecked Sendable {  // set in init, read after
    private var saved = termios()
    private let isTerminal: Bool
    private var signals: [any DispatchSourceSignal] = []

    init() {
        isTerminal = isatty(0) == 1
        if isTerminal {
            tcgetattr(0, &saved)
            var raw = saved
            raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
            raw.c_cc.6 = 0  // VMIN
            raw.c_cc.5 = 0  // VTIME
            tcsetattr(0, TCSANOW, &raw)
        }
        // Alternate screen, cursor hidden.
        write("\u{1B}[?1049h\u{1B}[?25l")
        let original = saved
        let restoreTerminal = isTerminal
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                var copy = original
                if restoreTerminal { tcsetattr(0, TCSANOW, &copy) }
                let text = "\u{1B}[?25h\u{1B}[?1049l"
                _ = text.withCString { Glibc.write(1, $0, strlen($0)) }
                exit(0)
            }
            source.resume()
            signals.append(source)
        }
    }

    var width: Int {
        var size = winsize()
        let answer = withUnsafeMutablePointer(to: &size) { ioctl(1, UInt(TIOCGWINSZ), $0) }
        if answer == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 120
    }

    func write(_ text: String) {
        _ = text.withCString { Glibc.write(1, $0, strlen($0)) }
    }

    func draw(_ lines: [String]) {
        let width = self.width
        let body = lines.map { $0.count > width ? String($0.prefix(width)) : $0 }.joined(separator: "\u{1B}[K\r\n")
        write("\u{1B}[H" + body + "\u{1B}[K\r\n\u{1B}[J")
    }

    /// A key pressed within the timeout, or nil.
    func readKey(timeoutMilliseconds: Int32) -> UInt8? {
        var poller = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMilliseconds) > 0 else { return nil }
        var byte: UInt8 = 0
        return Glibc.read(0, &byte, 1) == 1 ? byte : nil
    }

    func restore() {
        for source in signals { source.cancel() }
        if isTerminal { tcsetattr(0, TCSANOW, &saved) }
        write("\u{1B}[?25h\u{1B}[?1049l")
    }
}
