import GatewayCore
import SwiftProtobuf
import Testing

@testable import Sinks

/// How points become remote-write series (the README's mapping table), and that the bytes the
/// transport sends decode, through snappy and the SwiftProtobuf types, to exactly that request.
@Suite struct RemoteWriteEncoderTests {
    /// `name{label=value,...}` per series, with its samples as `value@ms`.
    static func rendered(_ request: Prometheus_WriteRequest) -> [String] {
        request.timeseries.map { series in
            let labels = series.labels.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
            return "{\(labels)} " + series.samples.map { "\($0.value)@\($0.timestamp)" }.joined(separator: " ")
        }
    }

    static let t0: Int64 = 1_700_000_000_123_456_789

    @Test func fieldsBecomeSeriesNamedSeriesUnderscoreField_tagsLabels_sortedWithName() {
        let point = Point(
            series: "cpu", time: Self.t0, tags: [Tag("host", "a"), Tag("Zone", "z1"), Tag("dc", "eu")],
            fields: [Field("value", .float(1.5)), Field("idle", .int(7)), Field("big", .uint(1 << 63))])
        let request = RemoteWriteEncoder().encode([point]).request
        #expect(
            Self.rendered(request) == [
                "{Zone=z1,__name__=cpu_value,dc=eu,host=a} 1.5@1700000000123",
                "{Zone=z1,__name__=cpu_idle,dc=eu,host=a} 7.0@1700000000123",
                "{Zone=z1,__name__=cpu_big,dc=eu,host=a} 9.223372036854776e+18@1700000000123",
            ])
    }

    @Test func booleansAre0And1_stringFieldsDroppedAndCounted() {
        let point = Point(
            series: "svc", time: Self.t0,
            fields: [Field("up", .bool(true)), Field("down", .bool(false)), Field("note", .string("hi"))])
        let encoded = RemoteWriteEncoder().encode([point])
        #expect(
            Self.rendered(encoded.request) == [
                "{__name__=svc_up} 1.0@1700000000123", "{__name__=svc_down} 0.0@1700000000123",
            ])
        #expect(encoded.droppedStringFields == 1)
        #expect(encoded.samples == 2)
    }

    @Test func stringFieldsAsLabels_whenConfigured() {
        let point = Point(
            series: "job", time: Self.t0, tags: [Tag("host", "a")],
            fields: [Field("state", .string("running")), Field("took", .float(2))])
        let encoded = RemoteWriteEncoder(mapping: .init(stringFields: .label)).encode([point])
        #expect(Self.rendered(encoded.request) == ["{__name__=job_took,host=a,state=running} 2.0@1700000000123"])
        #expect(encoded.droppedStringFields == 0)
    }

    @Test func namesAreSanitisedToPrometheusRules() {
        #expect(PrometheusNames.metric("cpu_usage") == "cpu_usage")
        #expect(PrometheusNames.metric("http.requests-total") == "http_requests_total")
        #expect(PrometheusNames.metric("1m load") == "_1m_load")
        #expect(PrometheusNames.metric("a:b") == "a:b")
        #expect(PrometheusNames.metric("température") == "temp_rature")
        #expect(PrometheusNames.label("a:b") == "a_b")
        #expect(PrometheusNames.label("9x") == "_9x")
        #expect(PrometheusNames.label("__name__") == "___name__")
        #expect(PrometheusNames.label("x-y.z") == "x_y_z")
        let point = Point(
            series: "disk io", time: Self.t0, tags: [Tag("mount.point", "/var"), Tag("mount-point", "/x")],
            fields: [Field("read-bytes", .int(1))])
        // Two tags that sanitise to one name: the first in byte order of the keys stays.
        #expect(
            Self.rendered(RemoteWriteEncoder().encode([point]).request) == [
                "{__name__=disk_io_read_bytes,mount_point=/x} 1.0@1700000000123"
            ])
    }

    @Test func samplesOfOneSeriesInTimeOrder_laterPointWinsTheSameMillisecond() {
        let ms: Int64 = 1_000_000
        let points = [
            Point(series: "m", time: 3 * ms, fields: [Field("v", .int(3))]),
            Point(series: "m", time: 1 * ms, fields: [Field("v", .int(1))]),
            Point(series: "m", time: 2 * ms + 5, fields: [Field("v", .int(2))]),
            Point(series: "m", time: 2 * ms + 900, fields: [Field("v", .int(22))]),
            Point(series: "n", time: 9 * ms, fields: [Field("v", .int(9))]),
            Point(series: "m", time: -1, fields: [Field("v", .int(-1))]),
        ]
        #expect(
            Self.rendered(RemoteWriteEncoder().encode(points).request) == [
                "{__name__=m_v} -1.0@-1 1.0@1 22.0@2 3.0@3", "{__name__=n_v} 9.0@9",
            ])
    }

    /// Encode → snappy decode → SwiftProtobuf decode gives the request that was encoded; the points
    /// read back from the decoded request equal the input (values and millisecond times).
    @Test func roundTrip_bodyDecodesToTheSameRequest() throws {
        var generator = SystemRandomNumberGenerator()
        var points: [Point] = []
        for i in 0..<2000 {
            let value: FieldValue =
                switch i % 4 {
                case 0: .float(Double.random(in: -1e9...1e9, using: &generator))
                case 1: .int(Int64.random(in: .min ... .max, using: &generator))
                case 2: .bool(i % 8 == 2)
                default: .uint(UInt64.random(in: 0 ... .max, using: &generator))
                }
            points.append(
                Point(
                    series: "s\(i % 7)", time: Self.t0 + Int64(i) * 1_000_000,
                    tags: [Tag("host", "h\(i % 13)"), Tag("ünïcode", "välüe \(i % 3)")],
                    fields: [Field("f\(i % 3)", value)]))
        }
        var chunk = NetworkChunk(batch: PointBatch(points), precision: .milliseconds)
        let body = try RemoteWriteTransport.encode(&chunk, mapping: .init(), droppedStringFields: nil)
        let decoded = try Prometheus_WriteRequest(serializedBytes: try Snappy.uncompress(body))
        #expect(decoded == RemoteWriteEncoder().encode(points).request)
        var seen = 0
        for series in decoded.timeseries {
            let name = series.labels.first { $0.name == "__name__" }!.value
            for sample in series.samples {
                let i = Int((sample.timestamp - Self.t0 / 1_000_000))
                let point = points[i]
                #expect(name == "\(point.series)_\(point.fields[0].key)")
                let expected: Double =
                    switch point.fields[0].value {
                    case .float(let v): v
                    case .int(let v): Double(v)
                    case .uint(let v): Double(v)
                    case .bool(let v): v ? 1 : 0
                    case .string: .nan
                    }
                #expect(sample.value == expected)
                seen += 1
            }
        }
        #expect(seen == points.count)
        // The same body from the chunk's line protocol (the spool's form, read back on replay).
        var spooled = NetworkChunk(payload: try chunk.compressed())
        #expect(try RemoteWriteTransport.encode(&spooled, mapping: .init(), droppedStringFields: nil) == body)
    }

    /// The sink's own serializer writes exactly what SwiftProtobuf writes for the generated message,
    /// edge values included (zero, which proto3 leaves out, and negative zero, which it keeps; negative, huge and
    /// zero timestamps; NaN and infinities; empty and non-ASCII label values).
    @Test func wireSerializer_equalsSwiftProtobufs() throws {
        let values: [Double] = [0, -0.0, 1, -1.5, .infinity, -.infinity, .greatestFiniteMagnitude, 5e-324, .nan]
        let times: [Int64] = [0, 1, -1, 127, 128, 1_700_000_000_123, .max, .min]
        var series: [RemoteWriteSeries] = []
        for (i, value) in values.enumerated() {
            var one = RemoteWriteSeries(labels: [Tag("__name__", "m\(i)"), Tag("empty", ""), Tag("k", "välüe ✓")])
            for time in times { one.samples.append(RemoteWriteSample(value: value, timestamp: time)) }
            series.append(one)
        }
        series.append(RemoteWriteSeries(labels: []))
        series.append(RemoteWriteSeries(labels: [Tag("__name__", String(repeating: "x", count: 300))]))
        var encoded = RemoteWriteEncoder.Encoded()
        encoded.series = series
        let wire = RemoteWriteWire.bytes(series)
        #expect(wire == (try encoded.request.serializedBytes() as [UInt8]))
        let decoded = try Prometheus_WriteRequest(serializedBytes: wire)
        #expect(decoded.timeseries.count == series.count)
        #expect(decoded.timeseries[0].samples.map(\.timestamp) == times)
        #expect(decoded.timeseries[3].samples.allSatisfy { $0.value == -1.5 })
        #expect(decoded.timeseries[8].samples.allSatisfy { $0.value.isNaN })
        #expect(decoded.timeseries[2].labels.map(\.value) == ["m2", "", "välüe ✓"])
        // A real batch: both serializers, byte for byte.
        var batch: [Point] = []
        for i in 0..<500 {
            let fields = [
                Field("a", .float(Double(i) / 3)), Field("b", .int(Int64(i) - 250)), Field("c", .bool(i % 2 == 0)),
            ]
            let time = Self.t0 + Int64(i) * 1_000_000
            batch.append(Point(series: "s\(i % 5)", time: time, tags: [Tag("host", "h\(i % 7)")], fields: fields))
        }
        var one = NetworkChunk(batch: PointBatch(batch), precision: .milliseconds)
        var two = NetworkChunk(batch: PointBatch(batch), precision: .milliseconds)
        let wireBody = try RemoteWriteTransport.encode(
            &one, mapping: .init(), droppedStringFields: nil, serializer: .wire)
        let generatedBody = try RemoteWriteTransport.encode(
            &two, mapping: .init(), droppedStringFields: nil, serializer: .swiftProtobuf)
        #expect(wireBody == generatedBody)
    }

    @Test func snappyRefusesWhatIsNotABlock() throws {
        #expect(throws: Snappy.Failure.self) { try Snappy.uncompress([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) }
        #expect(try Snappy.uncompress(Snappy.compress([])) == [])
    }
}
