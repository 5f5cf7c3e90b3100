/// `host:port` as written in `listen:` keys.
struct HostPort: Sendable, Equatable, CustomStringConvertible {
    var host: String
    var port: Int

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    init?(_ text: String) {
        var text = Substring(text)
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            // [::1]:8089
            host = String(text[text.index(after: text.startIndex)..<close])
            text = text[text.index(after: close)...]
            guard text.hasPrefix(":"), let port = Int(text.dropFirst()), (0...65535).contains(port) else { return nil }
            self.port = port
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        host = String(text[..<colon])
        if host.isEmpty { host = "0.0.0.0" }
        self.port = port
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
