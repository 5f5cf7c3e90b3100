import GatewayCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes points to standard output, one per line, as line protocol or JSON. The gateway's logs
/// go to stderr, so stdout carries nothing but points.
public struct StdoutSink: Sink {
    public enum Format: String, Sendable, CaseIterable {
        case line, json
    }

    public let format: Format
    /// Standard output, unless a test gives another descriptor.
    let fileDescriptor: Int32

    public init(format: Format, fileDescriptor: Int32 = STDOUT_FILENO) {
        self.format = format
        self.fileDescriptor = fileDescriptor
    }

    public func write(_ batch: PointBatch) async throws {
        var out: [UInt8] = []
        out.reserveCapacity(batch.count * 128)
        switch format {
        case .line:
            let encoder = LineProtocolEncoder()
            for point in batch { encoder.encode(point, into: &out) }
        case .json:
            let encoder = JSONPointEncoder()
            for point in batch { encoder.encode(point, into: &out) }
        }
        try Self.writeAll(out, to: fileDescriptor)
    }

    /// Writes every byte, retrying short writes and EINTR.
    static func writeAll(_ bytes: [UInt8], to fd: Int32) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw StdoutError(errno: errno)
                }
                offset += n
            }
        }
    }
}

public struct StdoutError: Error, CustomStringConvertible {
    public var errno: Int32
    public var description: String { "writing to stdout failed: \(String(cString: strerror(errno)))" }
}
