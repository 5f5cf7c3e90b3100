import AsyncHTTPClient
import Foundation
import NIOCore
import TestDoubles

/// A real Prometheus (Debian's `prometheus`) with its remote-write receiver on a free loopback
/// port, a temporary data directory and an empty scrape configuration, for the
/// `prometheus_remote_write` sink's tests: it takes `/api/v1/write` and answers `/api/v1/query`.
/// Missing binary is a failure, not a skip: `scripts/install-deps.sh` installs it.
final class PrometheusServer: @unchecked Sendable {
    let port: Int
    let directory: String
    private var process: Process?

    static let binaryPath = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    init() throws {
        port = try freeTCPPort()
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("prometheus-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        // No scrape jobs: it stores only what is written to it.
        try "global: {}\n".write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
    }

    var url: String { "http://127.0.0.1:\(port)" }
    var writeURL: String { url + "/api/v1/write" }

    func start() async throws {
        guard let binary = Self.binaryPath else {
            throw TestFailure("prometheus is not installed: run scripts/install-deps.sh (apt-get install prometheus)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
            "--web.listen-address=127.0.0.1:\(port)", "--web.enable-remote-write-receiver", "--log.level=error",
            // Samples of any age are taken: the tests write fixed timestamps from the recent past.
            "--storage.tsdb.retention.time=10y",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let answer = try? await get("/-/ready"), answer.status == 200 { return }
            if !process.isRunning { throw TestFailure("prometheus exited at start (\(process.terminationStatus))") }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("prometheus did not become ready on port \(port)")
    }

    func stop() async throws {
        guard let process else { return }
        try await process.signalAndWait()
        self.process = nil
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    func get(_ path: String) async throws -> (status: Int, body: String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url + path), timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 1 << 28)
        return (Int(response.status.code), String(buffer: body))
    }

    /// One stored sample: the series' labels (`__name__` among them), its time in ms and value.
    struct Sample: Hashable, CustomStringConvertible {
        var labels: [String: String]
        var time: Int64
        var value: Double

        var description: String {
            let text = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            return "{\(text)} \(value) @\(time)"
        }
    }

    /// Every sample of the series matching `selector` in the `range` before the time `at` (ms),
    /// through a range query (`selector[range]` evaluated at `at`): raw samples, not evaluated.
    func samples(_ selector: String, at: Int64, range: String = "1d") async throws -> [Sample] {
        let query = "\(selector)[\(range)]".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? selector
        let time = String(format: "%.3f", Double(at) / 1000)
        let answer = try await get("/api/v1/query?query=\(query)&time=\(time)")
        guard answer.status == 200 else { throw TestFailure("query answered \(answer.status): \(answer.body)") }
        guard let object = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any],
            let data = object["data"] as? [String: Any], let result = data["result"] as? [[String: Any]]
        else { throw TestFailure("unexpected query answer: \(answer.body.prefix(500))") }
        var out: [Sample] = []
        for series in result {
            let labels = series["metric"] as? [String: String] ?? [:]
            for pair in series["values"] as? [[Any]] ?? [] {
                guard pair.count == 2, let t = pair[0] as? Double, let v = (pair[1] as? String).flatMap(Double.init)
                else { continue }
                out.append(Sample(labels: labels, time: Int64((t * 1000).rounded()), value: v))
            }
        }
        return out.sorted { ($0.description) < ($1.description) }
    }

    /// Polls until the selector holds at least `count` samples; returns them.
    func waitForSamples(_ selector: String, at: Int64, count: Int, timeout: Duration = .seconds(60)) async throws
        -> [Sample]
    {
        let deadline = ContinuousClock.now + timeout
        var last: [Sample] = []
        while ContinuousClock.now < deadline {
            last = try await samples(selector, at: at)
            if last.count >= count { return last }
            try await Task.sleep(for: .milliseconds(300))
        }
        return last
    }
}
