import Glibc

/// A target server started by the benchmark: its own process group, output to a log file, pinned to
/// the target CPU. Every live child is listed in ``ChildRegistry`` so that Ctrl-C or SIGTERM still
/// kills it; the normal path stops it with ``stop(timeout:)``.
final class ChildProcess {
    let pid: pid_t
    let name: String
    let logPath: String
    private var exitStatus: Int32?

    private init(pid: pid_t, name: String, logPath: String) {
        self.pid = pid
        self.name = name
        self.logPath = logPath
    }

    /// Starts `executable` with `arguments`, stdout and stderr appended to `logPath`. When `cpu` is
    /// given the child is pinned there: the calling thread moves to that CPU for the spawn (a child
    /// inherits its parent thread's mask) and then back to `returnToCPU`.
    static func spawn(
        name: String, executable: String, arguments: [String], logPath: String, cpu: Int?, returnToCPU: Int?
    ) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group: a terminal's Ctrl-C reaches the benchmark, which then stops the
        // children itself (and the gateway does not begin a graceful drain mid-measurement).
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        let argv = ([executable] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        if let cpu { CPUAffinity.pinCurrentThread(to: cpu) }
        let result = (argv + [nil]).withUnsafeBufferPointer { args in
            posix_spawn(&pid, executable, &actions, &attributes, args.baseAddress!, environ)
        }
        if cpu != nil, let returnToCPU { CPUAffinity.pinCurrentThread(to: returnToCPU) }
        guard result == 0 else {
            throw BenchError("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        ChildRegistry.add(pid)
        return ChildProcess(pid: pid, name: name, logPath: logPath)
    }

    /// Whether the process still runs; reaps it when it has exited.
    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            exitStatus = status
            ChildRegistry.remove(pid)
            return false
        }
        return result == 0
    }

    /// How it ended, for error messages.
    var exitDescription: String {
        guard let status = exitStatus else { return "still running" }
        let signal = status & 0x7F
        return signal == 0 ? "exited with status \((status >> 8) & 0xFF)" : "killed by signal \(signal)"
    }

    /// SIGTERM, then SIGKILL when it has not exited within `timeout` seconds.
    func stop(timeout: Double = 10) {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Monotonic.now() + timeout
        while isRunning, Monotonic.now() < deadline { Monotonic.sleep(0.02) }
        if isRunning {
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            exitStatus = status
            ChildRegistry.remove(pid)
        }
    }
}

/// The process groups of live children, in fixed storage a signal handler may read, and the
/// handler that kills them (and undoes a temporary sysctl) when the benchmark is interrupted.
enum ChildRegistry {
    private static let capacity = 16
    nonisolated(unsafe) private static let pids: UnsafeMutablePointer<pid_t> = {
        let p = UnsafeMutablePointer<pid_t>.allocate(capacity: capacity)
        p.initialize(repeating: 0, count: capacity)
        return p
    }()
    /// A sysctl file and the bytes to write back into it on interruption (see ``ReceiveBufferDefault``).
    nonisolated(unsafe) static var restorePath: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) static var restoreBytes: UnsafeMutablePointer<CChar>?

    static func add(_ pid: pid_t) {
        for i in 0..<capacity where pids[i] == 0 {
            pids[i] = pid
            return
        }
    }

    static func remove(_ pid: pid_t) {
        for i in 0..<capacity where pids[i] == pid { pids[i] = 0 }
    }

    /// SIGINT, SIGTERM and SIGHUP kill every live child group and exit 130.
    static func installSignalHandlers() {
        _ = pids  // allocate before any signal can arrive
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber) { received in
                // Only async-signal-safe calls here: kill, open, write, close, _exit.
                for i in 0..<ChildRegistry.capacity where ChildRegistry.pids[i] > 0 {
                    kill(-ChildRegistry.pids[i], SIGKILL)
                }
                if let path = ChildRegistry.restorePath, let bytes = ChildRegistry.restoreBytes {
                    let fd = open(path, O_WRONLY)
                    if fd >= 0 {
                        _ = write(fd, bytes, strlen(bytes))
                        close(fd)
                    }
                }
                _exit(128 + received)
            }
        }
        signal(SIGPIPE, SIG_IGN)  // a target that dies mid-request is reported, not fatal
    }
}
