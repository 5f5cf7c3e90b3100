import Glibc

/// Loopback sockets for the load generators and the port search. Everything here talks to
/// 127.0.0.1 only: the benchmark never sends anywhere else.
enum Sockets {
    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        return address
    }

    static func withAddress<R>(port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// A loopback port free right now for the given protocols, found by binding port 0 and asking the
    /// kernel which port it chose. The socket is closed again, so another process could take the port
    /// before the target binds it; on loopback in a benchmark that race is harmless enough.
    static func freePort(tcp: Bool, udp: Bool) throws -> Int {
        for _ in 0..<100 {
            let first = tcp ? SOCK_STREAM : SOCK_DGRAM
            let fd = socket(AF_INET, Int32(first.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw BenchError.system("socket") }
            defer { close(fd) }
            guard withAddress(port: 0, { bind(fd, $0, $1) }) == 0 else { throw BenchError.system("bind 127.0.0.1:0") }
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard named == 0 else { throw BenchError.system("getsockname") }
            let port = Int(UInt16(bigEndian: address.sin_port))
            guard tcp && udp else { return port }
            // Both protocols on one port (VictoriaMetrics' influx listener): the other must be free too.
            let other = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard other >= 0 else { throw BenchError.system("socket") }
            defer { close(other) }
            if withAddress(port: port, { bind(other, $0, $1) }) == 0 { return port }
        }
        throw BenchError("no free loopback port found")
    }

    /// A TCP connection to 127.0.0.1:`port` without Nagle's delay (requests are written whole), with
    /// a receive timeout so that a hung target fails the run instead of hanging the benchmark.
    static func connectTCP(port: Int, timeout: Double) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BenchError.system("socket") }
        guard withAddress(port: port, { connect(fd, $0, $1) }) == 0 else {
            let error = BenchError.system("connect 127.0.0.1:\(port)")
            close(fd)
            throw error
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var limit = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// A UDP socket connected to 127.0.0.1:`port` (no route lookup per datagram), with a large send
    /// buffer so bursts do not block the pacer.
    static func connectUDP(port: Int, sendBuffer: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BenchError.system("socket") }
        var size = Int32(sendBuffer)
        // SO_SNDBUFFORCE (32) passes wmem_max when root; SO_SNDBUF is the fallback.
        if setsockopt(fd, SOL_SOCKET, 32, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        guard withAddress(port: port, { connect(fd, $0, $1) }) == 0 else {
            let error = BenchError.system("connect udp 127.0.0.1:\(port)")
            close(fd)
            throw error
        }
        return fd
    }

    /// The kernel's view of the UDP socket bound to 127.0.0.1:`port`, from `/proc/net/udp`: whether it
    /// exists, the bytes waiting in its receive queue (what the target has not read yet), and how many
    /// datagrams it dropped because that queue was full.
    static func udpSocketState(port: Int) -> (bound: Bool, queued: Int, drops: Int) {
        guard let text = Files.readText("/proc/net/udp") else { return (false, 0, 0) }
        let wanted = "0100007F:" + String(port, radix: 16, uppercase: true).leftPadded(to: 4)
        var bound = false
        var queued = 0
        var drops = 0
        for line in text.split(separator: "\n").dropFirst() {
            let columns = line.split(separator: " ", omittingEmptySubsequences: true)
            guard columns.count >= 13, columns[1] == wanted else { continue }
            bound = true
            // Column 4 is tx_queue:rx_queue in hexadecimal bytes.
            if let colon = columns[4].firstIndex(of: ":") {
                queued += Int(columns[4][columns[4].index(after: colon)...], radix: 16) ?? 0
            }
            drops += Int(columns[columns.count - 1]) ?? 0
        }
        return (bound, queued, drops)
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
