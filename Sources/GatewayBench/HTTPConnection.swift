import Foundation
import Glibc

/// One HTTP/1.1 response, as far as the benchmark needs it.
struct HTTPResponse {
    var status: Int
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking HTTP/1.1 client connection over a plain socket: keep-alive, Content-Length and chunked
/// bodies. Just enough to drive the targets' write endpoints and read their `/metrics`, and cheap
/// enough that the load generator's own CPU stays small next to the server's.
///
/// Not thread-safe: each load thread owns its connection.
final class HTTPConnection {
    let port: Int
    private let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var start = 0
    private var end = 0
    /// The server said `Connection: close` or closed: the connection cannot carry another request.
    private(set) var isClosed = false

    init(port: Int, timeout: Double = 60) throws {
        self.port = port
        fd = try Sockets.connectTCP(port: port, timeout: timeout)
    }

    deinit {
        close(fd)
    }

    /// Sends one request and reads its whole response.
    func request(
        _ method: String, _ path: String, contentType: String? = nil, contentEncoding: String? = nil,
        body: UnsafeRawBufferPointer? = nil
    ) throws -> HTTPResponse {
        guard !isClosed else { throw BenchError("HTTP connection to port \(port) was closed by the server") }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUser-Agent: gateway-bench\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        if let contentEncoding { head += "Content-Encoding: \(contentEncoding)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        var headBytes = Array(head.utf8)
        try headBytes.withUnsafeMutableBytes { headBuffer in
            try send(
                head: UnsafeRawBufferPointer(headBuffer), body: body ?? UnsafeRawBufferPointer(start: nil, count: 0))
        }
        return try readResponse(method: method)
    }

    /// Writes the head and body with `writev`: one system call, usually one segment train.
    private func send(head: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer) throws {
        var sent = 0
        let total = head.count + body.count
        while sent < total {
            var vectors = [iovec]()
            if sent < head.count {
                vectors.append(
                    iovec(
                        iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress! + sent),
                        iov_len: head.count - sent))
                if body.count > 0 {
                    vectors.append(
                        iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress!), iov_len: body.count))
                }
            } else {
                let offset = sent - head.count
                vectors.append(
                    iovec(
                        iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress! + offset),
                        iov_len: body.count - offset))
            }
            let n = writev(fd, vectors, Int32(vectors.count))
            if n < 0 {
                if errno == EINTR { continue }
                isClosed = true
                throw BenchError.system("HTTP write to port \(port)")
            }
            sent += n
        }
    }

    private func readResponse(method: String) throws -> HTTPResponse {
        let headEnd = try readUntilHeadEnd()
        let head = String(decoding: buffer[start..<headEnd], as: UTF8.self)
        start = headEnd + 4
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty else { throw BenchError("empty HTTP response from port \(port)") }
        let statusParts = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw BenchError("malformed HTTP status line from port \(port): \(head.prefix(80))")
        }
        var contentLength: Int?
        var chunked = false
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch name {
            case "content-length": contentLength = Int(value)
            case "transfer-encoding": chunked = value.lowercased().contains("chunked")
            case "connection": if value.lowercased() == "close" { isClosed = true }
            default: break
            }
        }
        var body: [UInt8] = []
        if method == "HEAD" || status == 204 || status == 304 || status < 200 {
            // No body by definition.
        } else if chunked {
            body = try readChunked()
        } else if let contentLength {
            body = try readExactly(contentLength)
        } else {
            body = try readToEnd()
            isClosed = true
        }
        return HTTPResponse(status: status, body: body)
    }

    // MARK: Buffered reading

    /// Reads more bytes after `end`, compacting or growing the buffer as needed; false at end of stream.
    private func fill() throws -> Bool {
        if start == end {
            start = 0
            end = 0
        } else if end == buffer.count {
            if start > 0 {
                buffer.withUnsafeMutableBytes { raw in
                    _ = memmove(raw.baseAddress!, raw.baseAddress! + start, end - start)
                }
                end -= start
                start = 0
            } else {
                buffer.append(contentsOf: [UInt8](repeating: 0, count: buffer.count))
            }
        }
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + end, $0.count - end, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                isClosed = true
                if errno == EAGAIN || errno == EWOULDBLOCK { throw BenchError("HTTP read from port \(port) timed out") }
                throw BenchError.system("HTTP read from port \(port)")
            }
            if n == 0 {
                isClosed = true
                return false
            }
            end += n
            return true
        }
    }

    private func readUntilHeadEnd() throws -> Int {
        var searchFrom = start
        while true {
            if end - searchFrom >= 4 {
                for i in searchFrom...(end - 4)
                where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
                    return i
                }
                searchFrom = end - 3
            }
            let offsetFromStart = searchFrom - start
            guard try fill() else { throw BenchError("HTTP connection to port \(port) closed before a response") }
            searchFrom = start + offsetFromStart
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while end - start < count {
            guard try fill() else { throw BenchError("HTTP body from port \(port) cut short") }
        }
        let out = Array(buffer[start..<(start + count)])
        start += count
        return out
    }

    private func readLine() throws -> String {
        while true {
            if let newline = buffer[start..<end].firstIndex(of: 10) {
                let line = String(decoding: buffer[start..<newline], as: UTF8.self)
                start = newline + 1
                return line.hasSuffix("\r") ? String(line.dropLast()) : line
            }
            guard try fill() else { throw BenchError("HTTP chunked body from port \(port) cut short") }
        }
    }

    private func readChunked() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let sizeLine = try readLine()
            let hex = sizeLine.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard let size = Int(hex, radix: 16) else {
                throw BenchError("bad chunk size from port \(port): \(sizeLine)")
            }
            if size == 0 {
                while try !readLine().isEmpty {}  // trailers, then the blank line
                return body
            }
            body += try readExactly(size)
            _ = try readLine()
        }
    }

    private func readToEnd() throws -> [UInt8] {
        while try fill() {}
        let out = Array(buffer[start..<end])
        start = end
        return out
    }
}

extension HTTPConnection {
    /// One GET on a fresh connection: for `/health` and `/metrics`, which are read rarely.
    static func get(port: Int, _ path: String, timeout: Double = 10) throws -> HTTPResponse {
        try HTTPConnection(port: port, timeout: timeout).request("GET", path)
    }
}
