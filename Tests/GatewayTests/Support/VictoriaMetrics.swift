import AsyncHTTPClient
import Foundation
import NIOCore
import TestDoubles

/// A real VictoriaMetrics (Debian's `victoria-metrics`) on a free loopback port with its own
/// data directory, for the Influx sink's tests: it accepts `/api/v2/write` and exports what it
/// stored. Missing binary is a failure, not a skip: `scripts/install-deps.sh` installs it.
final class VictoriaMetrics: @unchecked Sendable {
    let port: Int
    let dataDirectory: String
    private var process: Process?

    static let binaryPath = ["/usr/bin/victoria-metrics", "/usr/local/bin/victoria-metrics"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// Extra command-line flags for the server.
    let extraArguments: [String]

    init(arguments: [String] = []) throws {
        extraArguments = arguments
        port = try freeTCPPort()
        dataDirectory =
            FileManager.default.temporaryDirectory.appendingPathComponent("vm-test-\(UUID().uuidString)").path
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func start() async throws {
        guard let binary = Self.binaryPath else {
            throw TestFailure(
                "victoria-metrics is not installed: run scripts/install-deps.sh (apt-get install victoria-metrics)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments =
            [
                "-storageDataPath", dataDirectory, "-httpListenAddr", "127.0.0.1:\(port)", "-retentionPeriod", "100y",
                "-loggerLevel", "ERROR",
            ] + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let answer = try? await get("/health"), answer.status == 200 { return }
            if !process.isRunning {
                throw TestFailure("victoria-metrics exited at start (\(process.terminationStatus))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("victoria-metrics did not become healthy on port \(port)")
    }

    /// Stops it; the data directory stays for a restart. SIGTERM lets it flush what it
    /// acknowledged (SIGKILL would lose its last second of acknowledged writes, its loss, not ours).
    func stop(signal: Int32 = SIGTERM) async throws {
        guard let process else { return }
        try await process.signalAndWait(signal)
        self.process = nil
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }

    func get(_ path: String) async throws -> (status: Int, body: String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url + path), timeout: .seconds(120))
        let body = try await response.body.collect(upTo: 1 << 30)
        return (Int(response.status.code), String(buffer: body))
    }

    /// The timestamps (ms) VictoriaMetrics holds for `metric`, after a forced flush.
    func timestamps(_ metric: String) async throws -> [Int64] {
        _ = try await get("/internal/force_flush")
        let answer = try await get("/api/v1/export/csv?format=__timestamp__:unix_ms&match[]=\(metric)")
        guard answer.status == 200 else { throw TestFailure("export answered \(answer.status): \(answer.body)") }
        return answer.body.split(separator: "\n").compactMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// Polls until `metric` holds at least `count` samples (VictoriaMetrics answers 204 a moment
    /// before new series are searchable); returns the timestamps.
    func waitForSamples(_ metric: String, count: Int, timeout: Duration = .seconds(60)) async throws -> [Int64] {
        let deadline = ContinuousClock.now + timeout
        var last: [Int64] = []
        while ContinuousClock.now < deadline {
            last = try await timestamps(metric)
            if last.count >= count { return last }
            try await Task.sleep(for: .milliseconds(500))
        }
        return last
    }
}

/// Runs the gateway binary with arguments; returns exit status, stdout and stderr.
func runGateway(_ arguments: [String], binary: URL = GatewayProcess.binary) throws -> (
    status: Int32, out: String, err: String
) {
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let errReader = Thread.detachNewThreadWithResult { err.fileHandleForReading.readDataToEndOfFile() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (
        process.terminationStatus, String(decoding: outData, as: UTF8.self),
        String(decoding: errReader.wait(), as: UTF8.self)
    )
}

extension Thread {
    final class ResultBox<T>: @unchecked Sendable {
        var value: T?
        let done = DispatchSemaphore(value: 0)
        func wait() -> T {
            done.wait()
            return value!
        }
    }

    static func detachNewThreadWithResult<T>(_ body: @escaping @Sendable () -> T) -> ResultBox<T> {
        let box = ResultBox<T>()
        Thread.detachNewThread {
            box.value = body()
            box.done.signal()
        }
        return box
    }
}
