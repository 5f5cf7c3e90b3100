import GatewayCore

extension FuzzTarget {
    /// Any bytes as a StatsD datagram: never a crash; each non-empty line yields samples or events, or
    /// exactly one error; parsing line by line agrees with parsing the whole; the listener's cached hot
    /// path aggregates as parsing does; aggregated points (and events) follow the point invariants, and
    /// percentiles lie between lower and upper.
    static func statsd(_ input: UnsafeRawBufferPointer) {
        let parser = StatsDParser()
        let whole = parser.parse(input)
        check(whole.errors.count <= whole.lines, "statsd: more errors than lines")
        var errorLines = Set<Int>()
        for error in whole.errors {
            check(errorLines.insert(error.line).inserted, "statsd: two errors for line \(error.line)")
        }
        // Line by line.
        var samples: [StatsDSample] = []
        var events = 0
        var errors = 0
        var start = 0
        let bytes = Array(input)
        while start <= bytes.count {
            let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            let one = bytes[start..<end].withUnsafeBytes { parser.parse($0) }
            samples += one.samples
            events += one.events.count
            errors += one.errors.count
            start = end + 1
        }
        check(samples == whole.samples, "statsd: samples differ when parsed line by line")
        check(events == whole.events.count && errors == whole.errors.count, "statsd: line by line disagrees")
        for sample in whole.samples {
            check(sample.rate > 0 && sample.rate <= 1 && sample.value.isFinite, "statsd: bad sample")
        }
        // The listener's hot path (a line cache from bytes to slots) aggregates exactly as parsing and
        // adding does, the second time round from the cache.
        var reference = StatsDAggregator()
        var hot = StatsDAggregator()
        let cache = StatsDLineCache(series: 64)
        var take = StatsDTake()
        for _ in 0..<2 {
            for sample in whole.samples { reference.add(sample) }
            for event in whole.events { reference.add(event: event) }
            hot.take(input, cache: cache, into: &take)
        }
        check(take.lines == 2 * whole.lines && take.errors == whole.errors + whole.errors, "statsd: hot path lines")
        // As text: a sum that overflows to infinity makes a NaN stddev, which == would call different.
        check("\(hot.flush(at: 7))" == "\(reference.flush(at: 7))", "statsd: hot path aggregates differ")

        var settings = StatsDAggregation()
        settings.maxSeries = 64
        settings.timingSamples = 4
        var aggregator = StatsDAggregator(settings: settings)
        for sample in whole.samples { aggregator.add(sample) }
        for event in whole.events { aggregator.add(event: event) }
        check(aggregator.seriesCount <= 64, "statsd: max_series exceeded")
        for point in aggregator.flush(at: 42) + whole.events {
            checkInvariants(point, "statsd")
            if let lower = point.field("lower"), let upper = point.field("upper"),
                case .float(let lo) = lower, case .float(let up) = upper
            {
                for field in point.fields where field.key.hasSuffix("percentile") || field.key == "median" {
                    guard case .float(let v) = field.value else { continue }
                    check(v >= lo && v <= up, "statsd: a percentile outside lower..upper")
                }
            }
        }
    }
}
