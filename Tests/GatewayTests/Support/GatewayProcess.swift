import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The real `gateway` binary, started on a configuration written for one test, with its listeners
/// on free ports (port 0) read back from its log. stdout (the stdout sink) and stderr (logs) go to
/// files the test can read.
final class GatewayProcess: @unchecked Sendable {
    let directory: URL
    let process = Process()
    let stdoutFile: URL
    let stderrFile: URL
    let binaryURL: URL
    private(set) var udpPort = 0
    private(set) var httpPort = 0

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The debug binary `swift build` makes, for functional tests.
    static var binary: URL { packageRoot.appendingPathComponent(".build/debug/gateway") }

    /// The release binary (`swift build -c release --product gateway`), for tests that judge speed.
    static var releaseBinary: URL { packageRoot.appendingPathComponent(".build/release/gateway") }

    /// `config` is YAML; `$DIR` in it is replaced by the test's temporary directory. `arguments`
    /// follow `run --config FILE`; `fileLimit` runs the binary under that open-file limit (soft and
    /// hard, through prlimit, which execs it: the process is the gateway itself).
    init(
        config: String, environment: [String: String] = [:], binary: URL = GatewayProcess.binary,
        arguments: [String] = [], fileLimit: Int? = nil
    ) throws {
        self.binaryURL = binary
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let configFile = directory.appendingPathComponent("gateway.yaml")
        try config.replacingOccurrences(of: "$DIR", with: directory.path).write(
            to: configFile, atomically: true, encoding: .utf8)
        stdoutFile = directory.appendingPathComponent("stdout")
        stderrFile = directory.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: stdoutFile.path, contents: nil)
        FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        if let fileLimit {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
            process.arguments =
                ["--nofile=\(fileLimit):\(fileLimit)", "--", binary.path, "run", "--config", configFile.path]
                + arguments
        } else {
            process.executableURL = binary
            process.arguments = ["run", "--config", configFile.path] + arguments
        }
        process.standardOutput = try FileHandle(forWritingTo: stdoutFile)
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
    }

    /// Starts the binary and waits until every listener named in `listeners` logged its address.
    func start(listeners: [String] = ["udp", "http"]) async throws {
        guard FileManager.default.isExecutableFile(atPath: binaryURL.path) else {
            throw TestFailure("gateway binary missing at \(binaryURL.path): run scripts/test.sh, which builds it")
        }
        try process.run()
        // Starting is not a speed claim: a debug binary among many others on a busy machine may take
        // long to log its addresses. The bound only keeps a gateway that never gets ready from hanging.
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let log = stderr
            for name in listeners {
                if let port = Self.port(in: log, listener: name) {
                    if name == "udp" { udpPort = port }
                    if name == "http" { httpPort = port }
                }
            }
            let ready = listeners.allSatisfy { ($0 == "udp" ? udpPort : httpPort) != 0 }
            if ready { return }
            if !process.isRunning { throw TestFailure("gateway exited early (\(process.terminationStatus)):\n\(log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("gateway did not become ready:\n\(stderr)")
    }

    static func port(in log: String, listener: String) -> Int? {
        for line in log.split(separator: "\n")
        where line.contains("listener=\(listener)") && line.contains("listener ready") {
            guard let range = line.range(of: "address=") else { continue }
            let address = line[range.upperBound...].prefix { $0 != " " }
            if let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) {
                return port
            }
        }
        return nil
    }

    var stdout: String { (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }
    var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }

    /// SIGTERM, then waits for the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) async throws -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            throw TestFailure("gateway did not stop within 30 s:\n\(stderr)")
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: Talking to it

    var baseURL: String { "http://127.0.0.1:\(httpPort)" }

    func sendUDP(_ payload: String) throws {
        try UDPSender(port: udpPort).send(Array(payload.utf8))
    }

    struct HTTPResult {
        var status: Int
        var body: String
    }

    func post(_ path: String, body: [UInt8], headers: [(String, String)] = []) async throws -> HTTPResult {
        try await send(.POST, path, body: body, headers: headers)
    }

    /// An answer's latency is not what these tests judge (the benchmark does): the bound only keeps a
    /// gateway that never answers from hanging the suite, and holds on the busiest machine (a 10,000-job
    /// cleanup took 42 s at load 12).
    static let requestTimeout = TimeAmount.seconds(300)

    func send(_ method: HTTPMethod, _ path: String, body: [UInt8], headers: [(String, String)] = []) async throws
        -> HTTPResult
    {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: Self.requestTimeout)
        let data = try await response.body.collect(upTo: 16 << 20)
        return HTTPResult(status: Int(response.status.code), body: String(buffer: data))
    }

    func post(_ path: String, _ body: String, headers: [(String, String)] = []) async throws -> HTTPResult {
        try await post(path, body: Array(body.utf8), headers: headers)
    }

    func get(_ path: String) async throws -> HTTPResult {
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: baseURL + path), timeout: Self.requestTimeout)
        let data = try await response.body.collect(upTo: 16 << 20)
        return HTTPResult(status: Int(response.status.code), body: String(buffer: data))
    }

    /// One metric from `/metrics`: the sum over samples whose labels include `labels`.
    func metric(_ name: String, _ labels: [String: String] = [:]) async throws -> Double {
        let text = try await get("/metrics").body
        var total = 0.0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard line.hasPrefix(name + "{") || line.hasPrefix(name + " ") else { continue }
            if labels.allSatisfy({ line.contains("\($0.key)=\"\($0.value)\"") }),
                let value = Double(line.split(separator: " ").last ?? "")
            {
                total += value
            }
        }
        return total
    }

    /// Polls `/metrics` until `name` reaches `value` (or the timeout passes); returns the last value.
    func waitForMetric(
        _ name: String, _ labels: [String: String] = [:], atLeast value: Double, timeout: Duration = .seconds(120)
    )
        async throws -> Double
    {
        let deadline = ContinuousClock.now + timeout
        var last = 0.0
        while ContinuousClock.now < deadline {
            last = try await metric(name, labels)
            if last >= value { return last }
            try await Task.sleep(for: .milliseconds(50))
        }
        return last
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A plain UDP socket for tests.
struct UDPSender {
    let fd: Int32
    var address = sockaddr_in()

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        var size: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
    }

    func send(_ bytes: [UInt8]) throws {
        var address = self.address
        let n = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard n == bytes.count else { throw TestFailure("sendto failed: \(String(cString: strerror(errno)))") }
    }

    func close() { Glibc.close(fd) }
}

/// A configuration with a UDP and an HTTP listener on free ports and the given sinks and routes.
func testConfig(
    sinks: String = "out: {type: stdout, format: line, batch_size: 1000, flush_interval: 100ms}",
    routes: String = "- {to: [out]}",
    extra: String = "",
    udp: String = "",
    http: String = ""
) -> String {
    """
    gateway:
      name: testhost
      data_dir: $DIR/data
      log_level: info
    listeners:
      udp: {type: udp, listen: "127.0.0.1:0"\(udp.isEmpty ? "" : ", " + udp)}
      http: {type: http, listen: "127.0.0.1:0"\(http.isEmpty ? "" : ", " + http)}
    sinks:
      \(sinks)
    routes:
      \(routes)
    \(extra)
    """
}
