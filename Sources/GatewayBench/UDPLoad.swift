import Glibc

/// What the UDP sender did.
struct UDPLoadResult: Sendable {
    var datagramsSent: Int
    var pointsSent: Int
    /// Datagrams the kernel refused (ECONNREFUSED: nothing listening any more). Counted as loss.
    var refused: Int
    /// From the first send to the last.
    var elapsed: Double
}

/// Sends a payload as UDP datagrams of `linesPerDatagram` lines with `sendmmsg`, paced to a point
/// rate. The message headers for every datagram are built before the clock starts, so one
/// `sendmmsg` per burst is all the sender does while it is timed. Not thread-safe (one sender at a
/// time), but may run on a thread other than the one that made it.
final class UDPLoad: @unchecked Sendable {
    let payload: Payload
    private let vectors: UnsafeMutablePointer<iovec>
    private let headers: UnsafeMutablePointer<MMsgHdr>

    init(payload: Payload) {
        self.payload = payload
        let count = payload.chunkCount
        vectors = .allocate(capacity: count)
        headers = .allocate(capacity: count)
        for i in 0..<count {
            let range = payload.chunkRange(i)
            vectors[i] = iovec(
                iov_base: UnsafeMutableRawPointer(payload.bytes + range.lowerBound), iov_len: range.count)
            var header = MMsgHdr()
            header.header.msg_iov = vectors + i
            header.header.msg_iovlen = 1
            headers[i] = header
        }
    }

    deinit {
        vectors.deallocate()
        headers.deallocate()
    }

    /// Sends every datagram to 127.0.0.1:`port` at `pointsPerSecond`, in bursts of at most half a
    /// millisecond's worth (real senders batch too, and it keeps the system-call count low). Gives up
    /// one second after `duration` if the sender cannot keep the pace; the result says what was sent.
    func run(port: Int, pointsPerSecond: Int, duration: Double) throws -> UDPLoadResult {
        let fd = try Sockets.connectUDP(port: port, sendBuffer: 32 << 20)
        defer { close(fd) }
        let total = payload.chunkCount
        let datagramsPerSecond = Double(pointsPerSecond) / Double(payload.linesPerChunk)
        let burst = max(1, min(64, Int(datagramsPerSecond / 2000)))
        var sent = 0
        var refused = 0
        let start = Monotonic.now()
        var now = start
        while sent < total {
            now = Monotonic.now()
            let elapsed = now - start
            if elapsed > duration + 1 { break }
            let due = min(total, Int(elapsed * datagramsPerSecond) + 1)
            if due - sent < burst, due < total {
                // Sleep until a whole burst is due.
                Monotonic.sleep(Double(sent + burst) / datagramsPerSecond - elapsed)
                continue
            }
            let n = min(due - sent, 256)
            let result = GNU.sendmmsg(fd, UnsafeMutableRawPointer(headers + sent), UInt32(n), 0)
            if result > 0 {
                sent += Int(result)
            } else if result < 0 {
                switch errno {
                case EINTR, EAGAIN, ENOBUFS:
                    continue
                case ECONNREFUSED:
                    // An earlier datagram met a closed port: that one is lost; the next is sent again.
                    refused += 1
                default:
                    throw BenchError.system("sendmmsg to 127.0.0.1:\(port)")
                }
            }
        }
        let end = Monotonic.now()
        let points = sent == total ? payload.lineCount : sent * payload.linesPerChunk
        return UDPLoadResult(datagramsSent: sent, pointsSent: points, refused: refused, elapsed: end - start)
    }
}

/// The few datagrams sent before a measurement to see the target take UDP at all (and to warm it up).
enum UDPProbe {
    static func send(_ payload: Payload, port: Int) throws {
        let fd = try Sockets.connectUDP(port: port, sendBuffer: 1 << 20)
        defer { close(fd) }
        for i in 0..<payload.chunkCount {
            let chunk = payload.chunk(i)
            _ = Glibc.send(fd, chunk.baseAddress, chunk.count, 0)
        }
    }
}
