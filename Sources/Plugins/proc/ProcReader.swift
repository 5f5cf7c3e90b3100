import GatewayCore

#if canImport(Glibc)
    import Glibc
#endif

/// One process as `/proc/<pid>/stat` describes it: the only file a pass reads per process (it
/// carries the name, CPU ticks, threads, start time and resident pages).
struct ProcStat: Equatable {
    var pid: Int32
    /// `comm`: the executable's name, at most 15 bytes (the kernel truncates it).
    var name: String
    /// utime + stime, in clock ticks.
    var ticks: UInt64
    /// Start time in clock ticks after boot; tells a reused pid from the process it had before.
    var startTicks: UInt64
    var rssPages: Int64
    var threads: Int32
}

/// Reads every process's `stat` with one open/read/close each, relative to an open `/proc`
/// directory, into a reused buffer: no allocation per process beyond the (inline) name. Processes
/// that vanish between listing and reading are skipped.
final class ProcReader {
    let root: String
    private var buffer = [UInt8](repeating: 0, count: 2048)

    init(root: String = "/proc") {
        self.root = root
    }

    /// Every process's stat; `vanished` counts the ones listed but gone before they could be read.
    func readAll(into out: inout [ProcStat]) throws(ProcError) -> (listed: Int, vanished: Int) {
        guard let dir = opendir(root) else { throw ProcError(path: root, errno: errno) }
        defer { closedir(dir) }
        let dirFD = dirfd(dir)
        var listed = 0
        var vanished = 0
        var path = [CChar](repeating: 0, count: 32)
        while let entry = readdir(dir) {
            // Numeric names only: "1234". d_name is a fixed C array; read it through a pointer.
            let pid: Int32? = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                var value: Int32 = 0
                var count = 0
                for byte in raw {
                    if byte == 0 { break }
                    guard byte >= 48, byte <= 57, count < 10 else { return nil }
                    value = value &* 10 &+ Int32(byte - 48)
                    count += 1
                }
                return count > 0 ? value : nil
            }
            guard let pid else { continue }
            listed += 1
            if let stat = read(pid: pid, dirFD: dirFD, path: &path) {
                out.append(stat)
            } else {
                vanished += 1
            }
        }
        return (listed, vanished)
    }

    /// `/proc/<pid>/stat` of one process, or nil when it is gone (or unreadable).
    private func read(pid: Int32, dirFD: Int32, path: inout [CChar]) -> ProcStat? {
        // "<pid>/stat\0" without String formatting or allocation.
        let length = path.withUnsafeMutableBufferPointer { chars in
            chars.withMemoryRebound(to: UInt8.self) { DecimalText.write(UInt64(max(pid, 0)), to: $0.baseAddress!) }
        }
        var i = length
        for c in "/stat".utf8 {
            path[i] = CChar(c)
            i += 1
        }
        path[i] = 0
        let fd = openat(dirFD, path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return buffer.withUnsafeBytes { Self.parse(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }

    /// Parses the text of a stat file. The name sits between the first `(` and the last `)` (it
    /// may itself hold spaces and parentheses); the numbered fields follow.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> ProcStat? {
        guard let open = bytes.firstIndex(of: UInt8(ascii: "(")),
            let close = bytes.lastIndex(of: UInt8(ascii: ")")), close > open
        else { return nil }
        var pid: Int32 = 0
        for i in 0..<open where bytes[i] >= 48 && bytes[i] <= 57 { pid = pid &* 10 &+ Int32(bytes[i] - 48) }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(open + 1)..<close]), as: UTF8.self)
        // Fields after ") ": index 0 is field 3 (state). utime 14, stime 15, num_threads 20,
        // starttime 22, rss 24 (proc(5)).
        var field = 0
        var index = close + 2
        var utime: UInt64 = 0
        var stime: UInt64 = 0
        var threads: Int64 = 0
        var start: UInt64 = 0
        var rss: Int64 = 0
        while index < bytes.count, field <= 21 {
            var value: UInt64 = 0
            var negative = false
            while index < bytes.count, bytes[index] != UInt8(ascii: " "), bytes[index] != UInt8(ascii: "\n") {
                let b = bytes[index]
                if b == UInt8(ascii: "-") {
                    negative = true
                } else if b >= 48, b <= 57 {
                    value = value &* 10 &+ UInt64(b - 48)
                }
                index += 1
            }
            switch field {
            case 11: utime = value
            case 12: stime = value
            case 17: threads = Int64(value)
            case 19: start = value
            case 21: rss = negative ? 0 : Int64(value)
            default: break
            }
            field += 1
            index += 1
        }
        guard field > 21 else { return nil }
        return ProcStat(
            pid: pid, name: name, ticks: utime &+ stime, startTicks: start, rssPages: rss,
            threads: Int32(clamping: threads))
    }

    /// `MemTotal` from `/proc/meminfo`, in bytes.
    static func memTotal(root: String = "/proc") throws(ProcError) -> Int64 {
        let path = root + "/meminfo"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ProcError(path: path, errno: errno) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { throw ProcError(path: path, errno: errno) }
        let text = String(decoding: buffer[0..<count], as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let number = line.dropFirst("MemTotal:".count).split(separator: " ").first.flatMap { Int64($0) }
            if let kib = number, kib > 0 { return kib * 1024 }
        }
        throw ProcError(path: path, errno: 0, message: "no MemTotal line")
    }
}

struct ProcError: Error, CustomStringConvertible {
    var path: String
    var errno: Int32
    var message: String?

    var description: String {
        if let message { return "\(path): \(message)" }
        return "\(path): \(String(cString: strerror(errno)))"
    }
}
