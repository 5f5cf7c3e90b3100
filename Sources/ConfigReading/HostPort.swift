/// `host:port` as written in `listen:` keys.
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(_ text: String) {
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

    /// 127.0.0.0/8, ::1 or localhost: reachable from this machine only. Anything else (0.0.0.0,
    /// ::, a name, another address) is treated as reachable from the network.
    public var isLoopback: Bool {
        let h = host.lowercased()
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
