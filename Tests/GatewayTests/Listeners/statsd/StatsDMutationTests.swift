import Foundation
import GatewayCore
import Testing

/// 100,000 mutated StatsD datagrams against the real binary: it stays up, every line is accounted
/// for (aggregated, or rejected with the reason the parser gives), and a well-formed marker line in
/// every datagram is aggregated, all of them.
@Suite(.serialized, .tags(.slow)) struct StatsDMutationTests {
    static let templates = [
        "api.requests:1|c", "api.requests:3|c|@0.5", "queue.depth,host=a:42|g", "queue.depth:+5|g", "temp:-3.5|g",
        "rt:12.5|ms|#env:prod,canary", "size:512|h|@0.25", "lat:1.5:2.5:3|d", "users:alice|s", "x:1|c:2|ms",
        "jobs:7|c|T1700000000", "_e{5,4}:title|text|#env:prod", "_sc|db.up|0|m:fine", "mem,region=eu:1e3|g",
    ]
    static let separators: [UInt8] = Array(":|#,@=\n\r{}".utf8)

    /// A well-formed datagram of 1 to 8 template lines, then 1 to 3 mutations.
    static func mutated(_ random: inout SeededRandom) -> [UInt8] {
        var bytes = Array(
            (0..<random.below(8) + 1).map { _ in templates[random.below(templates.count)] }.joined(separator: "\n")
                .utf8)
        for _ in 0..<random.below(3) + 1 {
            guard !bytes.isEmpty else { break }
            let at = random.below(bytes.count)
            switch random.below(6) {
            case 0: bytes[at] = UInt8(truncatingIfNeeded: random.next())  // any byte, UTF-8 or not
            case 1: bytes.removeSubrange(at...)  // truncated
            case 2: bytes.insert(separators[random.below(separators.count)], at: at)
            case 3:
                // A huge number where a value starts.
                if let colon = bytes[at...].firstIndex(of: UInt8(ascii: ":")) {
                    let huge = [
                        "1e400", String(repeating: "9", count: 400), "-1e309", "1" + String(repeating: "0", count: 30),
                    ]
                    bytes.insert(contentsOf: Array(huge[random.below(huge.count)].utf8), at: colon + 1)
                }
            case 4:
                // An empty part: the bytes between two separators removed.
                let isSeparator = { (b: UInt8) in separators.contains(b) }
                if let first = bytes[at...].firstIndex(where: isSeparator),
                    let second = bytes[(first + 1)...].firstIndex(where: isSeparator)
                {
                    bytes.removeSubrange((first + 1)..<second)
                }
            default: bytes.removeSubrange(at..<min(bytes.count, at + 1 + random.below(4)))
            }
        }
        return bytes
    }

    @Test func hundredThousandMutatedDatagrams_everyLineAccounted_everyMarkerAggregated() async throws {
        let config = testConfig().replacingOccurrences(
            of: "listeners:\n",
            with: "listeners:\n  sd: {type: statsd, listen: \"127.0.0.1:0\", flush_interval: 1h, max_series: 1000000}\n"
        )
        let gateway = try GatewayProcess(config: config)
        try await gateway.start(listeners: ["http"])
        let port = try #require(GatewayProcess.port(in: gateway.stderr, listener: "sd"))
        let udp = try UDPSender(port: port)
        var random = SeededRandom(seed: 100_000)
        let marker = Array("\nmutation.marker:1|c".utf8)
        var lines = 0
        var reasons: [String: Int] = [:]
        let total = 100_000
        for sent in 0..<total {
            let datagram = Self.mutated(&random) + marker
            // The expected outcome of each line, from the parser the gateway runs.
            let output = datagram.withUnsafeBytes { StatsDParser().parse($0) }
            lines += output.lines
            for error in output.errors { reasons[error.reason.rawValue, default: 0] += 1 }
            try udp.send(datagram)
            if (sent + 1) % 2_000 == 0 {
                // Paced: the gateway reads what was sent before more is sent, so the socket never overflows.
                let read = try await gateway.waitForMetric(
                    "gateway_statsd_lines_total", ["listener": "sd"], atLeast: Double(lines), timeout: .seconds(120))
                try #require(read == Double(lines), "lines read \(read), sent \(lines)")
            }
        }
        #expect(try await gateway.metric("gateway_udp_kernel_drops_total", ["listener": "sd"]) == 0)
        #expect(try await gateway.get("/health").status == 200)
        for (reason, count) in reasons {
            #expect(
                try await gateway.metric("gateway_points_rejected_total", ["listener": "sd", "reason": reason])
                    == Double(count), "\(reason)")
        }
        let rejected = try await gateway.metric("gateway_points_rejected_total", ["listener": "sd"])
        #expect(rejected == Double(reasons.values.reduce(0, +)))
        #expect(reasons.count >= 8, "the mutations reach most reasons: \(reasons)")
        #expect(rejected > 10_000 && rejected < Double(lines - total), "\(rejected) of \(lines)")
        #expect(try await gateway.stop() == 0)
        // The shutdown flush: one point for the marker series, every marker counted.
        let markers = gateway.stdoutLines.filter { $0.hasPrefix("mutation_marker,") }
        #expect(markers.count == 1 && markers.first?.contains(" value=\(total)i ") == true, "\(markers)")
    }
}

/// SplitMix64: the same datagrams on every run.
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
