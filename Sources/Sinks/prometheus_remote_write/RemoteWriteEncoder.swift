import GatewayCore

/// Points to a remote-write `WriteRequest`, as Telegraf's `prometheusremotewrite` serializer and
/// VictoriaMetrics' Influx ingestion map them:
///
/// - each numeric or boolean field is a sample of the series `<series>_<field>` (a field named
///   `value` too: `cpu value=1` is `cpu_value`), the name sanitised to `[a-zA-Z_:][a-zA-Z0-9_:]*`
///   (``PrometheusNames``);
/// - tags are labels (names sanitised to `[a-zA-Z_][a-zA-Z0-9_]*`, values verbatim), sorted by name
///   with `__name__` among them;
/// - booleans are 0 and 1, integers and floats float64; timestamps nanoseconds → milliseconds;
/// - string fields are left out and counted, or with `string_fields: label` added as labels to the
///   point's samples;
/// - the samples of one series are in time order; two with the same millisecond keep the later
///   point's value (a later write of a series at a time replaces the earlier, as in InfluxDB).
public struct RemoteWriteEncoder: Sendable {
    public var mapping: RemoteWriteMapping

    public init(mapping: RemoteWriteMapping = RemoteWriteMapping()) {
        self.mapping = mapping
    }

    /// A batch as remote write carries it: series of labels and samples, in the order their first
    /// points came.
    public struct Encoded {
        public var series: [RemoteWriteSeries] = []
        /// String fields left out (`string_fields: drop`).
        public var droppedStringFields = 0
        public var samples = 0

        /// The request as SwiftProtobuf's generated message.
        public var request: Prometheus_WriteRequest {
            var request = Prometheus_WriteRequest()
            request.timeseries = series.map { one in
                var made = Prometheus_TimeSeries()
                made.labels = one.labels.map { label in
                    var out = Prometheus_Label()
                    out.name = label.key
                    out.value = label.value
                    return out
                }
                made.samples = one.samples.map { sample in
                    var out = Prometheus_Sample()
                    out.value = sample.value
                    out.timestamp = sample.timestamp
                    return out
                }
                return made
            }
            return request
        }
    }

    /// One point's series and tags, the key its samples are grouped by.
    private struct PointKey: Hashable {
        var series: String
        var tags: [Tag]
        /// String fields as labels (`string_fields: label`), else empty.
        var extra: [Tag]
    }

    /// The series made from one point key: its labels without `__name__`, and its series by field.
    private struct Group {
        var labels: [Tag]
        var fields: [(key: String, index: Int)] = []
    }

    public func encode(_ points: some Sequence<Point>) -> Encoded {
        var result = Encoded()
        var series: [RemoteWriteSeries] = []
        var groups: [PointKey: Int] = [:]
        var groupList: [Group] = []
        var extra: [Tag] = []
        for point in points {
            extra.removeAll(keepingCapacity: true)
            for field in point.fields {
                if case .string(let text) = field.value {
                    if mapping.stringFields == .label {
                        extra.append(Tag(field.key, text))
                    } else {
                        result.droppedStringFields += 1
                    }
                }
            }
            let key = PointKey(series: point.series, tags: point.tags, extra: extra)
            let groupIndex: Int
            if let known = groups[key] {
                groupIndex = known
            } else {
                groupIndex = groupList.count
                groups[key] = groupIndex
                groupList.append(Group(labels: Self.labels(tags: point.tags, extra: extra)))
            }
            let timestamp = Self.milliseconds(point.time)
            for field in point.fields {
                let value: Double
                switch field.value {
                case .float(let v): value = v
                case .int(let v): value = Double(v)
                case .uint(let v): value = Double(v)
                case .bool(let v): value = v ? 1 : 0
                case .string: continue
                }
                var index = -1
                for entry in groupList[groupIndex].fields where NameRules.same(entry.key, field.key) {
                    index = entry.index
                    break
                }
                if index < 0 {
                    index = series.count
                    let name = PrometheusNames.metric(point.series + "_" + field.key)
                    series.append(RemoteWriteSeries(labels: Self.withName(name, groupList[groupIndex].labels)))
                    groupList[groupIndex].fields.append((field.key, index))
                }
                series[index].samples.append(RemoteWriteSample(value: value, timestamp: timestamp))
                result.samples += 1
            }
        }
        for i in series.indices { Self.order(&series[i].samples) }
        result.series = series
        return result
    }

    /// Nanoseconds to milliseconds, rounding down (also before 1970).
    static func milliseconds(_ nanoseconds: Int64) -> Int64 {
        let (q, r) = nanoseconds.quotientAndRemainder(dividingBy: 1_000_000)
        return r < 0 ? q - 1 : q
    }

    /// Samples in time order; of two at one millisecond the later one in the batch stays.
    static func order(_ samples: inout [RemoteWriteSample]) {
        var sorted = true
        for i in samples.indices.dropFirst() where samples[i - 1].timestamp >= samples[i].timestamp {
            sorted = false
            break
        }
        if sorted { return }
        // A stable sort by time, so that of equal times the later sample comes last.
        let ordered = samples.enumerated().sorted {
            ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset)
        }
        var out: [RemoteWriteSample] = []
        out.reserveCapacity(ordered.count)
        for (_, sample) in ordered {
            if let last = out.last, last.timestamp == sample.timestamp {
                out[out.count - 1] = sample
            } else {
                out.append(sample)
            }
        }
        samples = out
    }

    /// The labels of a point's tags (and string fields as labels), sanitised and sorted by name;
    /// of two that sanitise to one name the first (in byte order of the original keys) stays, and
    /// tags come before string fields.
    static func labels(tags: [Tag], extra: [Tag]) -> [Tag] {
        var labels: [Tag] = []
        labels.reserveCapacity(tags.count + extra.count + 1)
        for tag in tags + extra {
            let name = PrometheusNames.label(tag.key)
            if labels.contains(where: { $0.key == name }) { continue }
            labels.append(Tag(name, tag.value))
        }
        labels.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        return labels
    }

    /// `labels` (sorted) with `__name__` in its sorted place.
    static func withName(_ name: String, _ labels: [Tag]) -> [Tag] {
        var out = labels
        let at = out.firstIndex { !$0.key.utf8.lexicographicallyPrecedes("__name__".utf8) } ?? out.count
        out.insert(Tag("__name__", name), at: at)
        return out
    }
}

/// One remote-write series: its labels (sorted by name, `__name__` among them) and samples.
public struct RemoteWriteSeries: Sendable, Equatable {
    public var labels: [Tag]
    public var samples: [RemoteWriteSample] = []
}

/// One sample: a value at a time in milliseconds.
public struct RemoteWriteSample: Sendable, Equatable {
    public var value: Double
    public var timestamp: Int64
}

/// Prometheus' name rules, and how other names are made to follow them.
public enum PrometheusNames {
    /// A metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`. Each other character becomes `_`, and a name
    /// starting with a digit gets a leading `_` (`1m-load` → `_1m_load`).
    public static func metric(_ name: String) -> String {
        sanitise(name, colon: true)
    }

    /// A label name: `[a-zA-Z_][a-zA-Z0-9_]*`, made so as metric names are (`:` becomes `_` too). A
    /// name that comes out as `__name__` gets one more leading `_`, so that it cannot replace the
    /// metric name.
    public static func label(_ name: String) -> String {
        let out = sanitise(name, colon: false)
        return out == "__name__" ? "_" + out : out
    }

    static func sanitise(_ name: String, colon: Bool) -> String {
        if isValid(name, colon: colon) { return name }
        var out = ""
        out.reserveCapacity(name.utf8.count + 1)
        for scalar in name.unicodeScalars {
            if out.isEmpty, ("0"..."9").contains(scalar) { out.append("_") }
            out.unicodeScalars.append(isAllowed(scalar, colon: colon) ? scalar : "_")
        }
        return out.isEmpty ? "_" : out
    }

    @inline(__always)
    static func isAllowed(_ scalar: Unicode.Scalar, colon: Bool) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "_": return true
        case ":": return colon
        default: return false
        }
    }

    /// Whether `name` follows the rules already (the usual case, checked without copying).
    static func isValid(_ name: String, colon: Bool) -> Bool {
        var first = true
        for b in name.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"): break
            case UInt8(ascii: "0")...UInt8(ascii: "9"): if first { return false }
            case UInt8(ascii: ":"): if !colon { return false }
            default: return false
            }
            first = false
        }
        return !first
    }
}
