import Foundation
import GatewayCore
import Sinks

/// `encode`: what each network sink spends on a batch before it goes on the wire, in this process:
/// influx2's line protocol + gzip (libdeflate level 1) against prometheus_remote_write's mapping +
/// protobuf + snappy (the sink's own serializer, and SwiftProtobuf's for comparison), over the same decoded batches of 5,000 points (three fields
/// each: three samples per point in remote write). Rounds alternate; medians are printed. Beside
/// them, what a backlogged sink queue spends packing a batch (``PackedPoints``) and unpacking it,
/// and the memory a point takes as an object and packed.
struct EncodeBench {
    let runs: Int
    let batchSize: Int
    let timestamps: TimestampAllocator

    func run() throws {
        let pool = try SpoolBench.batches(lines: 40 * batchSize, batchSize: batchSize, timestamps: timestamps)
        let points = pool.reduce(0) { $0 + $1.count }
        var influx: [Double] = []
        var remote: [Double] = []
        var generated: [Double] = []
        var pack: [Double] = []
        var unpack: [Double] = []
        var packedBytes = 0
        var influxBytes = 0
        var remoteBytes = 0
        for _ in 0..<max(runs, 1) {
            var start = Monotonic.now()
            influxBytes = 0
            for batch in pool {
                var chunk = NetworkChunk(batch: PointBatch(batch), precision: .nanoseconds)
                influxBytes += try chunk.compressed().compressed.count
            }
            influx.append((Monotonic.now() - start) * 1e6 / Double(points))
            start = Monotonic.now()
            remoteBytes = 0
            for batch in pool {
                var chunk = NetworkChunk(batch: PointBatch(batch), precision: .milliseconds)
                remoteBytes += try RemoteWriteTransport.encode(&chunk, mapping: .init(), droppedStringFields: nil).count
            }
            remote.append((Monotonic.now() - start) * 1e6 / Double(points))
            start = Monotonic.now()
            for batch in pool {
                var chunk = NetworkChunk(batch: PointBatch(batch), precision: .milliseconds)
                _ = try RemoteWriteTransport.encode(
                    &chunk, mapping: .init(), droppedStringFields: nil, serializer: .swiftProtobuf)
            }
            generated.append((Monotonic.now() - start) * 1e6 / Double(points))
            start = Monotonic.now()
            var packed: [PackedPoints] = []
            for batch in pool { packed.append(PackedPoints(batch[...])!) }
            pack.append((Monotonic.now() - start) * 1e6 / Double(points))
            packedBytes = packed.reduce(0) { $0 + $1.memory }
            start = Monotonic.now()
            var unpacked = 0
            for chunk in packed { unpacked += chunk.unpack().count }
            unpack.append((Monotonic.now() - start) * 1e6 / Double(max(unpacked, 1)))
        }
        let objectBytes = pool.reduce(0) { $0 + PointMemory.bytes(of: $1[...]) }
        let influxMedian = TargetSummary.median(influx)
        let remoteMedian = TargetSummary.median(remote)
        let generatedMedian = TargetSummary.median(generated)
        print(
            "encode: \(Report.grouped(points)) points in batches of \(batchSize), median of \(influx.count): "
                + "influx2 line protocol + gzip \(Report.fixed(influxMedian, 3)) us/point "
                + "(\(Report.fixed(Double(influxBytes) / Double(points), 1)) B/point); "
                + "remote write protobuf + snappy \(Report.fixed(remoteMedian, 3)) us/point "
                + "(\(Report.fixed(Double(remoteBytes) / Double(points), 1)) B/point), the same with SwiftProtobuf's "
                + "serialization \(Report.fixed(generatedMedian, 3)) us/point")
        print(
            "queue packing: pack \(Report.fixed(TargetSummary.median(pack), 3)) us/point, unpack "
                + "\(Report.fixed(TargetSummary.median(unpack), 3)) us/point; a queued point takes "
                + "\(Report.fixed(Double(objectBytes) / Double(points), 1)) B as an object, "
                + "\(Report.fixed(Double(packedBytes) / Double(points), 1)) B packed")
        print(
            "RESULT scenario=encode influx2_us_per_point=\(Report.fixed(influxMedian, 4)) "
                + "rw_us_per_point=\(Report.fixed(remoteMedian, 4)) "
                + "rw_swiftprotobuf_us_per_point=\(Report.fixed(generatedMedian, 4)) "
                + "influx2_bytes_per_point=\(Report.fixed(Double(influxBytes) / Double(points), 2)) "
                + "rw_bytes_per_point=\(Report.fixed(Double(remoteBytes) / Double(points), 2)) "
                + "pack_us_per_point=\(Report.fixed(TargetSummary.median(pack), 4)) "
                + "unpack_us_per_point=\(Report.fixed(TargetSummary.median(unpack), 4)) "
                + "queued_object_bytes_per_point=\(Report.fixed(Double(objectBytes) / Double(points), 1)) "
                + "queued_packed_bytes_per_point=\(Report.fixed(Double(packedBytes) / Double(points), 1))")
    }
}
