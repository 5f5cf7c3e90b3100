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
    /// Counters as floats (Telegraf's `float_counters`); by default each sample adds
    /// `Int64(value / rate)` (truncated, as Telegraf) and `value` is an integer.
    public var floatCounters = false
    /// What replaces each `.` in a metric name (Telegraf's `metric_separator`, default `_`:
    /// `api.requests` becomes `api_requests`); `.` keeps the names as sent.
    public var metricSeparator = "_"

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
/// - counter: `value` = sum of Int64(value/rate) (an integer), or of value/rate with `floatCounters`;
/// - gauge: `value` = the last value, `+N`/`-N` added to the current one;
/// - set: `value` = distinct members (integer);
/// - timing, histogram, distribution: `count`, `lower`, `upper`, `mean`, `median`, `stddev`, `sum` and
///   each percentile (see ``StatsDTimingStats`` for the precision);
/// - each point tagged `metric_type` (counter, gauge, set, timing, histogram, distribution); events and
///   service checks pass through. Points carry the flush time, in the order their series first came.
///
/// Series live in numbered slots, so that a caller that knows a line's slot (``StatsDLineCache``)
/// adds to it without building or hashing its name and tags; ``generation`` changes whenever slots
/// are renumbered (a flush that forgets series).
public struct StatsDAggregator: Sendable {
    public let settings: StatsDAggregation

    struct Key: Hashable {
        var name: String
        var tags: [Tag]
        var kind: StatsDKind
    }

    struct Entry {
        var key: Key
        /// Counter (float) sum, gauge value.
        var value = 0.0
        /// Counter (integer) sum.
        var integer: Int64 = 0
        var members: Set<String>? = nil
        var stats: StatsDTimingStats? = nil
    }

    private var index: [Key: Int] = [:]
    private var entries: [Entry] = []
    private var events: [Point] = []
    /// Changes whenever slot numbers change meaning.
    public private(set) var generation: Int32 = 0
    /// Series refused because `maxSeries` were held, since the start.
    public private(set) var droppedSeries = 0
    /// Set members not counted because their set was full, since the start.
    public private(set) var droppedMembers = 0

    public init(settings: StatsDAggregation = StatsDAggregation()) {
        self.settings = settings
    }

    /// Series (and pending events) held now.
    public var seriesCount: Int { entries.count + events.count }

    /// Adds one sample; false when it was dropped because `maxSeries` series are held.
    @discardableResult
    public mutating func add(_ sample: StatsDSample) -> Bool {
        slotAdding(sample) != nil
    }

    /// Adds one sample and returns its series' slot; nil when it was dropped at `maxSeries`.
    mutating func slotAdding(_ sample: StatsDSample) -> Int? {
        var name = sample.name
        if settings.metricSeparator != ".", name.utf8.contains(UInt8(ascii: ".")) {
            name = name.replacingOccurrences(of: ".", with: settings.metricSeparator)
        }
        let key = Key(name: name, tags: sample.tags, kind: sample.kind)
        let slot: Int
        if let found = index[key] {
            slot = found
        } else {
            guard seriesCount < settings.maxSeries else {
                droppedSeries += 1
                return nil
            }
            slot = entries.count
            index[key] = slot
            entries.append(Entry(key: key))
        }
        if sample.kind == .set {
            add(member: sample.member, slot: slot)
        } else {
            add(sample.value, isDelta: sample.isDelta, rate: sample.rate, slot: slot)
        }
        return slot
    }

    /// Adds a number to the series in `slot` (a counter, gauge, timing, histogram or distribution).
    @inline(__always)
    mutating func add(_ value: Double, isDelta: Bool, rate: Double, slot: Int) {
        switch entries[slot].key.kind {
        case .counter:
            if settings.floatCounters {
                entries[slot].value += value / rate
            } else {
                let (sum, overflow) = entries[slot].integer.addingReportingOverflow(Self.truncated(value / rate))
                entries[slot].integer = overflow ? (value < 0 ? .min : .max) : sum
            }
        case .gauge:
            entries[slot].value = isDelta ? entries[slot].value + value : value
        case .timing, .histogram, .distribution:
            if entries[slot].stats == nil {
                entries[slot].stats = StatsDTimingStats(exactLimit: settings.timingSamples)
            }
            entries[slot].stats!.add(value, weight: 1 / rate)
        case .set:
            break
        }
    }

    mutating func add(member: String, slot: Int) {
        if entries[slot].members == nil { entries[slot].members = [] }
        if entries[slot].members!.count < settings.setMembers || entries[slot].members!.contains(member) {
            entries[slot].members!.insert(member)
        } else {
            droppedMembers += 1
        }
    }

    /// `value` truncated towards zero into an Int64, saturated at its bounds (Telegraf's `int64(v)`).
    static func truncated(_ value: Double) -> Int64 {
        if value >= 9.223_372_036_854_775_807e18 { return .max }
        if value <= -9.223_372_036_854_775_808e18 { return .min }
        return Int64(value)
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

    /// The points of the interval ending at `time` (nanoseconds since the epoch); forgets what the
    /// `delete_*` settings say to forget; what it keeps goes on as it is (counters and sets accumulate
    /// across intervals, gauges keep their value).
    public mutating func flush(at time: Int64) -> [Point] {
        takeInterval(at: time).points()
    }

    /// The interval ending at `time`, taken out of the aggregator in time proportional to its series
    /// (arrays change hands; nothing is sorted or built), so that a caller holding a lock while it
    /// takes it makes the points (percentiles, names, tags) after letting go: ``StatsDInterval/points()``.
    public mutating func takeInterval(at time: Int64) -> StatsDInterval {
        var taken = StatsDInterval(time: time, events: events, entries: entries, settings: settings)
        events = []
        var kept: [Entry] = []
        for entry in entries {
            let delete: Bool
            switch entry.key.kind {
            case .counter: delete = settings.deleteCounters
            case .gauge: delete = settings.deleteGauges
            case .set: delete = settings.deleteSets
            case .timing, .histogram, .distribution: delete = settings.deleteTimings
            }
            if !delete { kept.append(entry) }
        }
        if kept.count != entries.count {
            // The old index goes with the interval, to be freed outside the caller's lock.
            var retired: [Key: Int] = [:]
            swap(&retired, &index)
            taken.retired = retired
            entries = kept
            for (slot, entry) in entries.enumerated() { index[entry.key] = slot }
            generation &+= 1
        }
        return taken
    }

    static func fields(_ entry: Entry, settings: StatsDAggregation) -> [Field] {
        switch entry.key.kind {
        case .counter:
            return [Field("value", settings.floatCounters ? .float(entry.value) : .int(entry.integer))]
        case .gauge: return [Field("value", .float(entry.value))]
        case .set: return [Field("value", .int(Int64(entry.members?.count ?? 0)))]
        case .timing, .histogram, .distribution:
            let stats = entry.stats ?? StatsDTimingStats(exactLimit: 1)
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

/// One interval of a ``StatsDAggregator``, taken out of it: ``points()`` makes its points.
public struct StatsDInterval: Sendable {
    public let time: Int64
    let events: [Point]
    let entries: [StatsDAggregator.Entry]
    let settings: StatsDAggregation
    /// What the aggregator let go of (its series index when series were forgotten): freed with this.
    var retired: [StatsDAggregator.Key: Int] = [:]

    init(time: Int64, events: [Point], entries: [StatsDAggregator.Entry], settings: StatsDAggregation) {
        self.time = time
        self.events = events
        self.entries = entries
        self.settings = settings
    }

    /// Events and service checks first (stamped `time` when they had none), then one point per series
    /// in the order the series first came, each tagged `metric_type`.
    public func points() -> [Point] {
        var points: [Point] = []
        points.reserveCapacity(entries.count + events.count)
        for event in events {
            var point = event
            if point.time == 0 { point.time = time }
            points.append(point)
        }
        for entry in entries {
            var tags = entry.key.tags
            tags.addIfAbsent(Tag("metric_type", entry.key.kind.metricType))
            points.append(
                Point(
                    series: entry.key.name, time: time, tags: tags,
                    fields: StatsDAggregator.fields(entry, settings: settings)))
        }
        return points
    }
}
