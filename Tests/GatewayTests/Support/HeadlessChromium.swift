import Foundation

/// Debian's Chromium, headless, on one page, driven over the DevTools protocol (a WebSocket): the test
/// reads the page's DOM as time passes (`evaluate`) and takes screenshots. Missing binary is a failure:
/// `scripts/install-deps.sh` installs it.
final class HeadlessChromium: @unchecked Sendable {
    let process = Process()
    let profile: URL
    private var socket: Int32 = -1
    private var nextID = 1

    init(url: String, width: Int = 1400, height: Int = 1000) throws {
        guard
            let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else {
            throw TestFailure("chromium is not installed: run scripts/install-deps.sh")
        }
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
            "--remote-debugging-port=0", "--user-data-dir=\(profile.path)", "--window-size=\(width),\(height)", url,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if socket >= 0 { close(socket) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: profile)
    }

    /// Waits for the DevTools port, finds the page and opens its WebSocket.
    func connect() async throws {
        let portFile = profile.appendingPathComponent("DevToolsActivePort")
        let deadline = ContinuousClock.now + .seconds(60)
        var webSocketPath: String?
        while webSocketPath == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            guard let text = try? String(contentsOf: portFile, encoding: .utf8),
                let port = Int(text.split(separator: "\n").first ?? "")
            else { continue }
            guard let data = Self.httpGet(port: port, path: "/json/list"),
                let targets = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]],
                let page = targets.first(where: { $0["type"] as? String == "page" }),
                let address = page["webSocketDebuggerUrl"] as? String,
                let range = address.range(of: ":\(port)")
            else { continue }
            webSocketPath = String(address[range.upperBound...])
            socket = try Self.openWebSocket(port: port, path: webSocketPath!)
        }
        guard webSocketPath != nil else { throw TestFailure("chromium's DevTools did not answer") }
    }

    /// A JavaScript expression's value in the page (strings, numbers, booleans, as text; nil for undefined).
    func evaluate(_ expression: String) throws -> String? {
        let result = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        guard let value = (result["result"] as? [String: Any])?["value"] else { return nil }
        if let string = value as? String { return string }
        return "\(value)"
    }

    /// A PNG of the page as it is now.
    func screenshot(to url: URL) throws {
        let result = try call("Page.captureScreenshot", ["format": "png"])
        guard let text = result["data"] as? String, let data = Data(base64Encoded: text) else {
            throw TestFailure("no screenshot data")
        }
        try data.write(to: url)
    }

    private func call(_ method: String, _ parameters: [String: Any]) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        let message = try JSONSerialization.data(withJSONObject: ["id": id, "method": method, "params": parameters])
        try sendFrame(Array(message))
        while true {
            let frame = try readFrame()
            guard let object = try JSONSerialization.jsonObject(with: Data(frame)) as? [String: Any],
                object["id"] as? Int == id
            else { continue }
            if let error = object["error"] { throw TestFailure("\(method): \(error)") }
            return object["result"] as? [String: Any] ?? [:]
        }
    }

    /// A plain HTTP GET's body (Connection: close), or nil.
    private static func httpGet(port: Int, path: String) -> Data? {
        guard let fd = try? connect(port: port) else { return nil }
        defer { close(fd) }
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n"
        _ = request.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        guard let end = answer.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
        return Data(answer[end.upperBound...])
    }

    private static func connect(port: Int) throws -> Int32 {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw TestFailure("cannot connect to DevTools on port \(port)")
        }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    // MARK: WebSocket (RFC 6455), just enough: masked text frames out, unmasked frames in.

    private static func openWebSocket(port: Int, path: String) throws -> Int32 {
        let fd = try connect(port: port)
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let request =
            "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
        _ = request.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var head: [UInt8] = []
        var byte: UInt8 = 0
        while !head.ends(with: Array("\r\n\r\n".utf8)) {
            guard recv(fd, &byte, 1, 0) == 1 else { throw TestFailure("DevTools closed the WebSocket handshake") }
            head.append(byte)
        }
        guard String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 101") else {
            throw TestFailure("DevTools refused the WebSocket: \(String(decoding: head, as: UTF8.self))")
        }
        return fd
    }

    private func sendFrame(_ payload: [UInt8]) throws {
        var frame: [UInt8] = [0x81]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65536 {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            frame.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { frame.append(UInt8((payload.count >> shift) & 0xFF)) }
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        let sent = frame.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == frame.count else { throw TestFailure("DevTools WebSocket send failed") }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = out.withUnsafeMutableBytes { recv(socket, $0.baseAddress! + filled, count - filled, 0) }
            guard n > 0 else { throw TestFailure("DevTools WebSocket closed or timed out") }
            filled += n
        }
        return out
    }

    /// One message (continuation frames joined).
    private func readFrame() throws -> [UInt8] {
        var message: [UInt8] = []
        while true {
            let head = try readExactly(2)
            var length = Int(head[1] & 0x7F)
            if length == 126 {
                let extended = try readExactly(2)
                length = Int(extended[0]) << 8 | Int(extended[1])
            } else if length == 127 {
                length = try readExactly(8).reduce(0) { $0 << 8 | Int($1) }
            }
            message += try readExactly(length)
            if head[0] & 0x80 != 0 { return message }
        }
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
