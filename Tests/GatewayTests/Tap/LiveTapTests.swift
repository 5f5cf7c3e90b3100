import Foundation
import Synchronization
import Testing

/// The live tap (`GET /api/v1/tap`) against the real binary: a client sees exactly the points it asked
/// for while it reads; one that stops reading loses points, is told how many, and never slows the
/// pipeline (every point is still written).
@Suite(.serialized, .tags(.slow)) struct LiveTapTests {
    static let config = testConfig(
        sinks: "drop: {type: blackhole, queue_size: 2000000}", routes: "- {name: all, to: [drop]}",
        udp: "receive_buffer: 16MiB")

    /// 100 series (`host=h0` ... `h99`), 10 lines a datagram, `total` points paced at `rate` per second.
    static func sendLoad(port: Int, total: Int, rate: Int) async throws {
        let sender = try UDPSender(port: port)
        defer { sender.close() }
        let start = ContinuousClock.now
        var sent = 0
        while sent < total {
            var payload = ""
            for i in sent..<min(sent + 10, total) {
                payload += "load,host=h\(i % 100),region=r\(i % 5) value=\(i)i \(1_700_000_000_000_000_000 + i)\n"
            }
            try sender.send(Array(payload.utf8))
            sent = min(sent + 10, total)
            if sent % 1000 == 0 {
                let due = start + .seconds(Double(sent) / Double(rate))
                if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
            }
        }
    }

    /// The figure: 500,000 points/s of UDP over 100 series into the release binary, a tap on one
    /// series. What the tap must show is exactly what the gateway accepted of that series, which a route
    /// of its own prints on stdout: the two are compared, so a datagram the kernel dropped on a busy
    /// machine changes both sides alike and the comparison stays exact.
    @Test func tapOnOneSeries_under500kPointsPerSecondOver100Series_receivesExactlyThatSeries() async throws {
        let config = testConfig(
            sinks: """
                drop: {type: blackhole, queue_size: 4000000}
                  h7: {type: stdout, format: line, batch_size: 5000, flush_interval: 100ms}
                """,
            routes: "- {name: h7, match: {tags: {host: h7}}, to: [h7]}\n  - {name: all, to: [drop]}",
            udp: "receive_buffer: 64MiB")
        let gateway = try GatewayProcess(config: config, binary: GatewayProcess.releaseBinary)
        try await gateway.start()
        let tap = try TapStream(port: gateway.httpPort, query: "series=load&tag=host:h7&buffer=100000")
        tap.startReading()
        // 1,000,000 points in datagrams of 50 lines, built before the clock starts, sent at 500,000/s.
        let total = 1_000_000
        let datagrams = stride(from: 0, to: total, by: 50).map { first in
            Array(
                (first..<first + 50).map {
                    "load,host=h\($0 % 100),region=r\($0 % 5) value=\($0)i \(1_700_000_000_000_000_000 + $0)\n"
                }.joined().utf8)
        }
        let sender = try UDPSender(port: gateway.udpPort)
        defer { sender.close() }
        let start = ContinuousClock.now
        for (index, datagram) in datagrams.enumerated() {
            try sender.send(datagram)
            if index % 100 == 99 {
                let due = start + .microseconds((index + 1) * 100)  // 50 points per 100 us
                if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
            }
        }
        let sendTime = ContinuousClock.now - start
        let received = try await gateway.waitForMetric(
            "gateway_points_received_total", ["listener": "udp"], atLeast: Double(total), timeout: .seconds(10))
        let written = try await gateway.waitForMetric(
            "gateway_points_written_total", ["sink": "drop"], atLeast: received, timeout: .seconds(60))
        let routed = try await gateway.metric("gateway_points_routed_total", ["route": "h7"])
        let printed = try await gateway.waitForMetric(
            "gateway_points_written_total", ["sink": "h7"], atLeast: routed, timeout: .seconds(60))
        _ = await tap.waitForPoints(atLeast: Int(printed), timeout: .seconds(30))
        try await Task.sleep(for: .milliseconds(500))
        func stamp(_ line: String) -> Int {
            Int(line.components(separatedBy: " # ")[0].split(separator: " ").last ?? "") ?? -1
        }
        let tapped = tap.pointLines.map(stamp)
        let accepted = gateway.stdoutLines.filter { $0.hasPrefix("load,") }.map(stamp)
        let summary = "sent \(total) in \(sendTime); received \(received), written \(written), tapped \(tapped.count)"
        print(summary)
        #expect(written == received, "\(summary)")
        #expect(accepted.count == Int(printed) && printed == routed && accepted.count > total / 200, "\(summary)")
        #expect(!tap.text.contains("# dropped"), "the reading client lost points")
        #expect(tapped.count == Set(tapped).count, "a point was tapped twice")
        #expect(Set(tapped) == Set(accepted), "\(summary)")
        #expect(tapped.allSatisfy { ($0 - 1_700_000_000_000_000_000) % 100 == 7 })
        #expect(tap.pointLines.allSatisfy { $0.hasPrefix("load,host=h7,region=r2 value=") })
        #expect(try await gateway.stop() == 0)
    }

    @Test func clientThatStopsReadingFor10s_isToldWhatItMissed_andThePipelineKeepsItsPace() async throws {
        let gateway = try GatewayProcess(config: Self.config)
        try await gateway.start()
        let tap = try TapStream(port: gateway.httpPort, query: "series=load&buffer=1000", receiveBuffer: 16 << 10)
        let stalledAt = ContinuousClock.now
        let total = 300_000
        try await Self.sendLoad(port: gateway.udpPort, total: total, rate: 50_000)
        let accepted = try await gateway.waitForMetric(
            "gateway_points_accepted_total", ["listener": "udp"], atLeast: Double(total), timeout: .seconds(60))
        // The stalled client does not hold the pipeline back: everything is written while it sleeps.
        let written = try await gateway.waitForMetric(
            "gateway_points_written_total", ["sink": "drop"], atLeast: accepted, timeout: .seconds(60))
        #expect(written == accepted)
        #expect(ContinuousClock.now - stalledAt < .seconds(30))
        let stallEnd = stalledAt + .seconds(10)
        if stallEnd > ContinuousClock.now { try await Task.sleep(until: stallEnd, clock: .continuous) }
        tap.startReading()
        // Every accepted point is either delivered to the client or reported dropped to it.
        let deadline = ContinuousClock.now + .seconds(60)
        while tap.pointLines.count + tap.droppedReported < Int(accepted), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(tap.droppedReported > 0, "no drop reported")
        #expect(tap.pointLines.count + tap.droppedReported == Int(accepted))
        #expect(try await gateway.metric("gateway_tap_dropped_points_total") == Double(tap.droppedReported))
        #expect(try await gateway.metric("gateway_tap_clients") == 1)
        // A client that goes away is detached (found at the latest by the 10 s keepalive).
        tap.close()
        let detachDeadline = ContinuousClock.now + .seconds(30)
        while try await gateway.metric("gateway_tap_clients") > 0, ContinuousClock.now < detachDeadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(try await gateway.metric("gateway_tap_clients") == 0)
        #expect(try await gateway.stop() == 0)
    }

    @Test func badTapQueries_areRefusedWithWhatIsWrong() async throws {
        let gateway = try GatewayProcess(config: Self.config)
        try await gateway.start()
        for (query, message) in [
            ("format=xml", "format=xml: expected line or json"),
            ("tag=host", "tag=host: expected KEY:GLOB"),
            ("buffer=0", "buffer=0: expected a number of points from 1 to 1000000"),
            ("serie=cpu", "unknown parameter serie"),
        ] {
            let answer = try await gateway.get("/api/v1/tap?\(query)")
            #expect(answer.status == 400, "\(query)")
            #expect(answer.body.contains(message), "\(query): \(answer.body)")
        }
        #expect(try await gateway.stop() == 0)
    }
}

/// A raw tap client: `GET /api/v1/tap?...` over a plain socket, read (or not) on a thread of its own.
final class TapStream: @unchecked Sendable {
    let fd: Int32
    private let received = Mutex<[UInt8]>([])
    private let closed = Atomic<Bool>(false)

    init(port: Int, query: String, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else { throw TestFailure("connect failed") }
        let request = Array("GET /api/v1/tap?\(query) HTTP/1.1\r\nHost: gateway\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        // Attached before any load is sent: the first line says so.
        let deadline = ContinuousClock.now + .seconds(30)
        while !text.contains("tap attached"), ContinuousClock.now < deadline { readOnce(timeoutMilliseconds: 100) }
        guard text.contains("HTTP/1.1 200"), text.contains("tap attached") else {
            throw TestFailure("tap not attached: \(text)")
        }
    }

    deinit { close() }

    func close() {
        if !closed.exchange(true, ordering: .relaxed) { Glibc.close(fd) }
    }

    @discardableResult
    private func readOnce(timeoutMilliseconds: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMilliseconds) > 0 else { return true }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { return false }
        received.withLock { $0 += buffer[0..<n] }
        return true
    }

    /// Reads until the socket closes, on a thread of its own.
    func startReading() {
        Thread.detachNewThread { [self] in
            while !closed.load(ordering: .relaxed), readOnce(timeoutMilliseconds: 50) {}
        }
    }

    var text: String { String(decoding: received.withLock { $0 }, as: UTF8.self) }

    /// The stream's lines, split on LF bytes with CR bytes trimmed (as Characters, "\r\n" is one
    /// grapheme, so a String split on "\n" would glue the chunk framing to the lines after it).
    var lines: [String] {
        received.withLock { $0 }.split(separator: 10).map {
            String(decoding: $0.filter { $0 != 13 }, as: UTF8.self)
        }
    }

    /// The point lines (chunk framing and notes left out).
    var pointLines: [String] { lines.filter { $0.hasPrefix("load,") && $0.contains(" # source=") } }

    /// The sum of every `# dropped N points` note.
    var droppedReported: Int {
        lines.filter { $0.hasPrefix("# dropped ") }
            .compactMap { Int($0.dropFirst("# dropped ".count).prefix { $0.isNumber }) }.reduce(0, +)
    }

    func waitForPoints(atLeast count: Int, timeout: Duration) async -> Int {
        let deadline = ContinuousClock.now + timeout
        while pointLines.count < count, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(100))
        }
        return pointLines.count
    }
}
