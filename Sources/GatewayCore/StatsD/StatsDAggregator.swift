/// What ``StatsDAggregator`` keeps and reports.
public struct StatsDAggregation: Sendable, Hashable {
    /// Percentiles reported for timings, histograms and distributions, as `<p>_percentile` fields.
    public var percentiles: [Double] = [50, 90, 99]
    /// Distinct series (name, tags, type) held at once; a new one past it is dropped and counted.
    public var maxSeries = 100_000
    /// Samples per timing series kept exactly in an interval; past it a 1 % sketch takes over.
    public var timingSamples = 1_024
    /// Distinct members per set series; members past it are not counted (and are reported dropped).
    public var setMembers = 10_000
    /// Whether a series is forgotten after each flush (Telegraf's `delete_*`): when false it goes on
    /// being reported, counters and sets accumulating across intervals.
    public var deleteCounters = true
    public var deleteGauges = true
    public var deleteSets = true
    public var deleteTimings = true

    public init() {}

    /// The field name of percentile `p`, as Telegraf's statsd input writes it: `90_percentile`,
    /// `99.9_percentile`.
    public static func fieldName(_ p: Double) -> String {
        let text = p == p.rounded() ? String(Int(p)) : String(p)
        return "\(text)_percentile"
    }
}

/// Aggregates StatsD samples per interval into points (pure: the caller passes each flush instant).
///
/// - counter: `value` = sum of value/rate (float);
/// - gauge: `value` = the last value, `+N`/`-N` added to the current one;
/// - set: `value` = distinct members (integer);
/// - timing, histogram, distribution: `count`, `lower`, `upper`, `mean`, `median`, `stddev`, `sum` and
///   each percentile (see ``StatsDTimingStats`` for the precision);
/// - each point tagged `metric_type` (counter, gauge, set, timing, histogram, distribution); events and
///   service checks pass through. Points carry the flush time.
public struct StatsDAggregator: Sendable {
    public let settings: StatsDAggregation

    struct Key: Hashable {
        var name: String
        var tags: [Tag]
        var kind: StatsDKind
    }

    enum State {
        case counter(Double)
        case gauge(Double)
        case set(Set<String>)
        case timing(StatsDTimingStats)
    }

    struct Entry {
        var state: State
    }

    private var series: [Key: Entry] = [:]
    private var events: [Point] = []
    /// Series refused because `maxSeries` were held, since the start.
    public private(set) var droppedSeries = 0
    /// Set members not counted because their set was full, since the start.
    public private(set) var droppedMembers = 0

    public init(settings: StatsDAggregation = StatsDAggregation()) {
        self.settings = settings
    }

    /// Series (and pending events) held now.
    public var seriesCount: Int { series.count + events.count }

    /// Adds one sample; false when it was dropped because `maxSeries` series are held.
    @discardableResult
    public mutating func add(_ sample: StatsDSample) -> Bool {
        let key = Key(name: sample.name, tags: sample.tags, kind: sample.kind)
        // One hash of the key for a series already held (the usual case).
        var index = series.index(forKey: key)
        if index == nil {
            guard seriesCount < settings.maxSeries else {
                droppedSeries += 1
                return false
            }
            series[key] = Entry(state: initial(sample.kind))
            index = series.index(forKey: key)
        }
        let settings = self.settings
        var dropped = false
        modify(index!) { entry in
            switch entry.state {
            case .counter(let total):
                entry.state = .counter(total + sample.value / sample.rate)
            case .gauge(let current):
                entry.state = .gauge(sample.isDelta ? current + sample.value : sample.value)
            case .set(var members):
                entry.state = .counter(0)  // release the set's storage while it is changed
                if members.count < settings.setMembers || members.contains(sample.member) {
                    members.insert(sample.member)
                } else {
                    dropped = true
                }
                entry.state = .set(members)
            case .timing(var stats):
                entry.state = .counter(0)
                stats.add(sample.value, weight: 1 / sample.rate)
                entry.state = .timing(stats)
            }
        }
        if dropped { droppedMembers += 1 }
        return true
    }

    /// Adds an event or service check point; false when dropped at `maxSeries`.
    @discardableResult
    public mutating func add(event: Point) -> Bool {
        guard seriesCount < settings.maxSeries else {
            droppedSeries += 1
            return false
        }
        events.append(event)
        return true
    }

    private mutating func modify(_ index: Dictionary<Key, Entry>.Index, _ body: (inout Entry) -> Void) {
        body(&series.values[index])
    }

    private func initial(_ kind: StatsDKind) -> State {
        switch kind {
        case .counter: return .counter(0)
        case .gauge: return .gauge(0)
        case .set: return .set([])
        case .timing, .histogram, .distribution: return .timing(StatsDTimingStats(exactLimit: settings.timingSamples))
        }
    }

    /// The points of the interval ending at `time` (nanoseconds since the epoch); forgets what the
    /// `delete_*` settings say to forget.
    public mutating func flush(at time: Int64) -> [Point] {
        var points: [Point] = []
        points.reserveCapacity(series.count + events.count)
        for event in events {
            var point = event
            if point.time == 0 { point.time = time }
            points.append(point)
        }
        events = []
        var kept: [Key: Entry] = [:]
        for (key, entry) in series {
            let delete: Bool
            switch entry.state {
            case .counter: delete = settings.deleteCounters
            case .gauge: delete = settings.deleteGauges
            case .set: delete = settings.deleteSets
            case .timing: delete = settings.deleteTimings
            }
            var tags = key.tags
            tags.addIfAbsent(Tag("metric_type", key.kind.metricType))
            points.append(Point(series: key.name, time: time, tags: tags, fields: fields(entry.state)))
            if !delete { kept[key] = entry }
        }
        series = kept
        return points
    }

    func fields(_ state: State) -> [Field] {
        switch state {
        case .counter(let total): return [Field("value", .float(total))]
        case .gauge(let value): return [Field("value", .float(value))]
        case .set(let members): return [Field("value", .int(Int64(members.count)))]
        case .timing(let stats):
            // One sort for the median and every percentile.
            let values = stats.percentiles([50] + settings.percentiles)
            var fields = [
                Field("count", .float(stats.count)), Field("lower", .float(stats.count > 0 ? stats.lower : 0)),
                Field("upper", .float(stats.count > 0 ? stats.upper : 0)), Field("mean", .float(stats.mean)),
                Field("median", .float(values[0])), Field("stddev", .float(stats.stddev)),
                Field("sum", .float(stats.sum)),
            ]
            for (p, value) in zip(settings.percentiles, values.dropFirst()) {
                fields.append(Field(StatsDAggregation.fieldName(p), .float(value)))
            }
            return fields
        }
    }
}
