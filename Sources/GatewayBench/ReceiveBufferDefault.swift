import Foundation
import Glibc

/// `net.core.rmem_default`, raised for the moment a process creates its UDP socket and put back at
/// once (also by the signal handler if the benchmark is interrupted in between). A socket keeps the
/// size it was created with, so the change affects only the sockets made in that window.
enum ReceiveBufferDefault {
    static let path = "/proc/sys/net/core/rmem_default"

    /// Raises the default to `bytes` when it is lower and the file is writable (root); returns the old
    /// value to restore, or nil when nothing was changed.
    static func raise(to bytes: Int) throws -> String? {
        guard let old = Files.readText(path)?.trimmingCharacters(in: .whitespacesAndNewlines), let current = Int(old),
            current < bytes
        else {
            return nil
        }
        guard access(path, W_OK) == 0 else { return nil }
        ChildRegistry.restorePath = strdup(path)
        ChildRegistry.restoreBytes = strdup(old + "\n")
        try Files.write(path, "\(bytes)\n")
        return old
    }

    static func restore(_ old: String?) {
        guard let old else { return }
        try? Files.write(path, old + "\n")
        ChildRegistry.restorePath = nil
        ChildRegistry.restoreBytes = nil
    }

    /// Whether VictoriaMetrics can be given the gateway's buffer at all (else the report says so).
    static var isWritable: Bool { access(path, W_OK) == 0 }
}
