import Foundation

/// A program that gets the query on standard input (and in `DWMON_QUERY`) and prints
/// `key,timestamp` lines (a `dwmon_unique_key,dwmon_timestamp` header, blank lines and `#` lines
/// are skipped; the key is everything before the last comma). Runs in a process group of its
/// own, killed whole on timeout.
struct CommandSource: DwmonSource {
    let argv: [String]
    static let maxOutput = 256 << 20

    func fetch(query: String, timeout: Duration, maxRows: Int) async throws -> DwmonFetch {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gateway-dwmon-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = "\(directory)/query", output = "\(directory)/stdout", errors = "\(directory)/stderr"
        try Data(query.utf8).write(to: URL(fileURLWithPath: input))
        var environment = ProcessInfo.processInfo.environment
        environment["DWMON_QUERY"] = query
        let pid = try Self.spawn(argv, environment: environment, stdin: input, stdout: output, stderr: errors)
        let status = try await Self.wait(pid, timeout: timeout, outputs: [output, errors])
        kill(-pid, SIGKILL)  // what it left running in the background goes with it
        let errorText = (try? String(contentsOfFile: errors, encoding: .utf8))?.trimmingWhitespace ?? ""
        guard status == 0 else {
            let tail = errorText.isEmpty ? "" : ": \(errorText.suffix(500))"
            throw DwmonSourceError.failed("command source \(argv[0]) \(Self.describe(status))\(tail)")
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: output)
        if let size = attributes[.size] as? Int, size > Self.maxOutput {
            throw DwmonSourceError.failed("command source \(argv[0]) printed \(size) bytes (limit \(Self.maxOutput))")
        }
        let text = try String(contentsOfFile: output, encoding: .utf8)
        return try Self.parse(text, maxRows: maxRows)
    }

    static func parse(_ text: String, maxRows: Int) throws -> DwmonFetch {
        var fetch = DwmonFetch()
        var lineNumber = 0
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            let line = raw.trimmingWhitespace
            if line.isEmpty || line.hasPrefix("#") || line == "dwmon_unique_key,dwmon_timestamp" { continue }
            guard let comma = line.lastIndex(of: ","),
                case let key = line[..<comma].trimmingWhitespace, !key.isEmpty,
                let timestamp = DwmonValue.timestamp(String(line[line.index(after: comma)...]))
            else {
                fetch.bad("output line \(lineNumber): \"\(line.prefix(200))\" (expected key,timestamp)")
                continue
            }
            try fetch.append(DwmonRow(key: key, timestamp: timestamp), maxRows: maxRows)
        }
        return fetch
    }

    static func size(of path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    static func describe(_ status: Int32) -> String {
        status >= 128 ? "was killed by signal \(status - 128)" : "exited with status \(status)"
    }

    static func spawn(_ argv: [String], environment: [String: String], stdin: String, stdout: String, stderr: String)
        throws
        -> pid_t
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // Nothing else of the gateway's (sockets, database files) leaks into the program.
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A group of its own, so a timeout kills the program and everything it started.
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let args = argv.map { strdup($0) } + [nil]
        let env = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            args.forEach { free($0) }
            env.forEach { free($0) }
        }
        var pid: pid_t = 0
        var result = posix_spawnp(&pid, argv[0], &actions, &attributes, args, env)
        // ETXTBSY: the program file is still open for writing somewhere, often only in a child
        // another thread is forking at this moment; it passes within milliseconds.
        for _ in 0..<20 where result == ETXTBSY {
            usleep(10_000)
            result = posix_spawnp(&pid, argv[0], &actions, &attributes, args, env)
        }
        guard result == 0 else {
            throw DwmonSourceError.failed(
                "command source: cannot start \(argv[0]): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module does
    /// not import; nil where the C library lacks it.
    nonisolated(unsafe) static let addCloseFrom:
        (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
            else { return nil }
            return unsafeBitCast(
                symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
        }()

    /// Waits for `pid`; on timeout, on cancellation, or when its output files grow past
    /// ``maxOutput``, kills its whole process group.
    static func wait(_ pid: pid_t, timeout: Duration, outputs: [String] = []) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        var polls = 0
        while true {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid { break }
            if done < 0, errno != EINTR {
                throw DwmonSourceError.failed("command source: waitpid: \(String(cString: strerror(errno)))")
            }
            polls += 1
            let tooMuch = polls % 10 == 0 && outputs.contains { Self.size(of: $0) > Self.maxOutput }
            if ContinuousClock.now >= deadline || Task.isCancelled || tooMuch {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0, errno == EINTR {}
                if Task.isCancelled { throw CancellationError() }
                if tooMuch {
                    throw DwmonSourceError.failed(
                        "command source: the program printed more than \(Self.maxOutput) bytes; stopped")
                }
                throw DwmonSourceError.timeout(timeout)
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG by hand (macros do not import).
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
