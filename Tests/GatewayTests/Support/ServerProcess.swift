import Foundation
import Glibc

extension Process {
    /// Sends `signal` and waits until the process has exited (the real servers the tests start).
    func signalAndWait(_ signal: Int32 = SIGTERM) async throws {
        guard isRunning else { return }
        kill(processIdentifier, signal)
        while isRunning { try await Task.sleep(for: .milliseconds(20)) }
    }
}
