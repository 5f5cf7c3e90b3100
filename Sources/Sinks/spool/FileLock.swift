import Foundation
import Synchronization

/// An advisory lock (flock) held for the life of the process, so two gateways never replay
/// the same spool. The lock file holds the owner's pid for the error message.
public final class FileLock: Sendable {
    let fd: Int32

    public init(path: String) throws {
        fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 {
            throw SpoolError.unavailable("\(path): cannot open lock file: \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, 32, 0)
            let owner =
                n > 0
                ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(
                    in: CharacterSet.whitespacesAndNewlines.union(CharacterSet(charactersIn: "\0"))) : "?"
            Glibc.close(fd)
            throw SpoolError.unavailable(
                "\((path as NSString).deletingPathExtension) is in use by another gateway process (pid \(owner))")
        }
        record(adminURL: nil)
    }

    /// Writes the owner's pid and, once known, the URL of its admin API (the HTTP listener),
    /// so `gateway spool` can reach the running gateway whatever port it got.
    func record(adminURL: String?) {
        let text = Array("\(getpid())\n\(adminURL ?? "")\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, text, text.count, 0)
    }

    /// The admin URL a running owner recorded in the lock file at `path`, if any.
    public static func ownerAdminURL(path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > 1, !lines[1].isEmpty else { return nil }
        return String(lines[1])
    }

    private let released = Atomic<Bool>(false)

    public func release() {
        if !released.exchange(true, ordering: .relaxed) { Glibc.close(fd) }
    }

    deinit {
        release()
    }

    /// Whether another process holds the lock on `path` right now.
    public static func isHeld(path: String) -> Bool {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 { return false }
        defer { Glibc.close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 { return true }
        flock(fd, LOCK_UN)
        return false
    }
}
