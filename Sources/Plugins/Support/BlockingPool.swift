import NIOPosix

/// Where plugins run blocking work (SQLite reads and writes, directory scans): a fixed pool of
/// threads shared by every plugin, so a burst of API requests queues instead of taking an OS
/// thread each (2,000 concurrent jobdir requests once made 2,007 threads). Eight threads: GRDB's
/// pools read with up to five connections and write with one, so more threads would only wait on
/// SQLite, while fewer would let one slow scan or query hold up the API.
public enum BlockingPool {
    public static let threads = 8

    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        return pool
    }()
}

/// Runs blocking work on ``BlockingPool``, not on the concurrency pool (whose threads must not block).
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await BlockingPool.pool.runIfActive(work)
}
