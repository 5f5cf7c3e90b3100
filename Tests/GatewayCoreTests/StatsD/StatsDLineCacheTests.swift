import Foundation
import Testing

@testable import GatewayCore

/// The statsd hot path (``StatsDAggregator/take(_:cache:into:)`` with its ``StatsDLineCache``) gives
/// exactly what parsing every line with ``StatsDParser`` and adding its samples gives.
@Suite struct StatsDLineCacheTests {
    /// Parse everything, then add: the reference.
    static func reference(_ datagrams: [String], settings: StatsDAggregation, flushEvery: Int) -> (
        [[Point]], [PointError], Int
    ) {
        var aggregator = StatsDAggregator(settings: settings)
        var flushes: [[Point]] = []
        var errors: [PointError] = []
        var lines = 0
        for (i, datagram) in datagrams.enumerated() {
            let output = StatsDParser().parse(datagram)
            lines += output.lines
            errors += output.errors
            // Line by line, as the hot path adds them.
            var byLine: [(line: Int, sample: StatsDSample?, event: Point?)] = []
            var perLine = StatsDParser.Output()
            var copy = datagram
            copy.withUTF8 { bytes in
                var number = 0
                for piece in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
                    number += 1
                    var slice = piece
                    if slice.last == 0x0D { slice = slice.dropLast() }
                    guard !slice.isEmpty else { continue }
                    perLine = StatsDParser.Output()
                    StatsDParser().parse(line: UnsafeBufferPointer(rebasing: slice), number: number, into: &perLine)
                    byLine += perLine.samples.map { (number, $0, nil) } + perLine.events.map { (number, nil, $0) }
                }
            }
            for item in byLine {
                if let sample = item.sample { aggregator.add(sample) }
                if let event = item.event { aggregator.add(event: event) }
            }
            if (i + 1) % flushEvery == 0 { flushes.append(aggregator.flush(at: Int64(i))) }
        }
        flushes.append(aggregator.flush(at: -1))
        return (flushes, errors, lines)
    }

    static func hotPath(_ datagrams: [String], settings: StatsDAggregation, flushEvery: Int) -> (
        [[Point]], [PointError], Int, StatsDLineCache
    ) {
        var aggregator = StatsDAggregator(settings: settings)
        let cache = StatsDLineCache(series: settings.maxSeries)
        var flushes: [[Point]] = []
        var take = StatsDTake()
        for (i, datagram) in datagrams.enumerated() {
            var copy = datagram
            copy.withUTF8 { aggregator.take(UnsafeRawBufferPointer($0), cache: cache, into: &take) }
            if (i + 1) % flushEvery == 0 { flushes.append(aggregator.flush(at: Int64(i))) }
        }
        flushes.append(aggregator.flush(at: -1))
        return (flushes, take.errors, take.lines, cache)
    }

    /// Lines of every kind over a few series, and mutations of them: repeated, so most hit the cache.
    static func datagrams(count: Int, seed: UInt64) -> [String] {
        var random = SeededGenerator(seed: seed)
        let templates = [
            "api.hits:V|c", "api.hits:V|c|@0.5", "load,host=a:V|g", "load,host=a:+V|g", "load,host=a:-V|g",
            "rt:V|ms|#env:prod,zone", "rt:V|ms", "size:V|h|@0.25", "lat:V|d", "u:V|s", "x:V|c:V|ms", "p:V:V:V|d",
            "t:V|c|T1700000000", "_sc|db|0", "bad", "n:V", "n:V|zz", "n:V|c|@2", "n:V|c|#:v", "api.hits:V|c\r",
        ]
        let values = ["1", "2.5", "-3", "+4", "0.001", "1e3", "12345678901234567", "007", "1.", ".5", "", "abc", "-0"]
        var out: [String] = []
        for _ in 0..<count {
            var lines: [String] = []
            for _ in 0..<Int.random(in: 1...10, using: &random) {
                var line = templates.randomElement(using: &random)!
                while let range = line.range(of: "V") {
                    line.replaceSubrange(range, with: values.randomElement(using: &random)!)
                }
                if Int.random(in: 0..<20, using: &random) == 0, !line.isEmpty {
                    // A byte flipped.
                    var bytes = Array(line.utf8)
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...127, using: &random)
                    line = String(decoding: bytes, as: UTF8.self)
                }
                lines.append(line)
            }
            out.append(lines.joined(separator: "\n"))
        }
        return out
    }

    @Test(arguments: [true, false])
    func hotPath_equalsParsingEveryLine(delete: Bool) {
        var settings = StatsDAggregation()
        settings.deleteCounters = delete
        settings.deleteGauges = delete
        settings.deleteSets = delete
        settings.deleteTimings = delete
        settings.maxSeries = 40
        settings.timingSamples = 8
        let datagrams = Self.datagrams(count: 3_000, seed: 21)
        let (expected, expectedErrors, expectedLines) = Self.reference(datagrams, settings: settings, flushEvery: 500)
        let (got, errors, lines, cache) = Self.hotPath(datagrams, settings: settings, flushEvery: 500)
        #expect(lines == expectedLines)
        #expect(errors == expectedErrors)
        #expect(got.count == expected.count)
        for (a, b) in zip(got, expected) { #expect(a == b) }
        #expect(cache.hits > lines / 2, "hits \(cache.hits), misses \(cache.misses)")
    }

    @Test func plainNumbers_areReadAsDoubleReadsThem() {
        var random = SeededGenerator(seed: 5)
        var texts = ["0", "-0", "+0", "1", "+7", "-7", "007", "0.1", "0.3", "123.456", "999999999999999", "1.5"]
        for _ in 0..<20_000 {
            let digits = Int.random(in: 1...15, using: &random)
            var text = (0..<digits).map { _ in String(Int.random(in: 0...9, using: &random)) }.joined()
            if digits > 1, Bool.random(using: &random) {
                text.insert(".", at: text.index(text.startIndex, offsetBy: Int.random(in: 1..<digits, using: &random)))
            }
            texts.append((Bool.random(using: &random) ? "-" : "") + text)
        }
        for text in texts {
            let parsed = Array(text.utf8).withUnsafeBufferPointer {
                StatsDParser.plainNumber($0.baseAddress!, count: $0.count)
            }
            #expect(parsed?.bitPattern == Double(text)?.bitPattern, "\(text)")
        }
        for text in ["", "-", "+", ".", "1.", ".5", "1e3", "1.2.3", "1234567890123456", "0x1", "1 ", "--1"] {
            let parsed = Array(text.utf8).withUnsafeBufferPointer {
                $0.isEmpty ? nil : StatsDParser.plainNumber($0.baseAddress!, count: $0.count)
            }
            #expect(parsed == nil, "\(text)")
        }
    }

    @Test func tableStaysBounded_whenSeriesComeAndGo() {
        let cache = StatsDLineCache(series: 10)
        var aggregator = StatsDAggregator()
        var take = StatsDTake()
        for i in 0..<50_000 {
            var line = "s\(i):1|c"
            line.withUTF8 { aggregator.take(UnsafeRawBufferPointer($0), cache: cache, into: &take) }
        }
        #expect(cache.capacity == 1024 && take.lines == 50_000 && take.errors.isEmpty)
        let grown = StatsDLineCache(series: 3_000)
        for i in 0..<50_000 {
            var line = "g\(i % 3_000):1|c"
            line.withUTF8 { aggregator.take(UnsafeRawBufferPointer($0), cache: grown, into: &take) }
        }
        // 3,000 series fit in 8,192 slots (at most half full): every line after the first round is a hit.
        #expect(grown.capacity == 8192 && grown.misses == 3_000, "misses \(grown.misses)")
        #expect(aggregator.seriesCount == 53_000)  // 50,000 s-series and 3,000 g-series
    }
}
