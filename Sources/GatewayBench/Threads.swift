import Glibc

/// Runs blocking work on plain threads: the load generators block in system calls by design, which
/// Swift concurrency's small cooperative pool is not meant for.
enum Threads {
    /// One thread's work and, once joined, its result.
    private final class Job<T>: @unchecked Sendable {
        let body: () -> T
        var result: T?

        init(_ body: @escaping () -> T) {
            self.body = body
        }
    }

    /// What a thread's entry point receives: the job with its result type erased.
    private final class Entry {
        let run: () -> Void

        init(_ run: @escaping () -> Void) {
            self.run = run
        }
    }

    /// Runs `body(i)` for `i` in `0..<count`, each on its own thread, and returns the results in order.
    /// The threads inherit the caller's CPU affinity.
    static func run<T>(count: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
        let jobs = (0..<count).map { i in Job { body(i) } }
        var threads: [pthread_t] = []
        for job in jobs {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(Entry { job.result = job.body() }).toOpaque()
            let created = pthread_create(
                &thread, nil,
                { raw in
                    Unmanaged<Entry>.fromOpaque(raw!).takeRetainedValue().run()
                    return nil
                }, context)
            precondition(created == 0, "pthread_create failed: \(created)")
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
        return jobs.map { $0.result! }
    }
}
