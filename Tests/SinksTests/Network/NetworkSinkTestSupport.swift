@testable import Sinks

extension NetworkSink {
    /// Runs the sink's direct path (not its replayer: these tests replay step by step) until
    /// `close()`.
    func startSending() -> Task<Void, Never> { Task { await self.run(replaying: false) } }
}
