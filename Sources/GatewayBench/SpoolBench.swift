import CoreMetrics
import Dispatch
import Foundation
import GatewayCore
import Glibc
import Logging
import Sinks

/// Runs async code to completion from the benchmark's synchronous main thread (which is not one of
/// the concurrency pool's threads, so blocking it is safe).
enum AsyncRunner {
    private final class Box<T>: @unchecked Sendable {
        var result: Result<T, any Error>?
    }

    static func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let box = Box<T>()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                box.result = .success(try await body())
            } catch {
                box.result = .failure(error)
            }
            done.signal()
        }
        done.wait()
        return try box.result!.get()
    }
}

/// The spool scenarios, in the benchmark's own process (pinned to the load generator's CPU):
///
/// - `spool-write`: the outage path of the influx2 sink on one thread: encode a batch of points to
///   line protocol, gzip it (`SpoolPayload`), append it to a fresh `SpoolStore` (SQLite, WAL,
///   `sync: normal`), for `--duration` seconds.
/// - `spool-replay`: a spool of N points, filled while no server runs, drained by the real
///   `InfluxSink.replay()` (oldest first, `--in-flight` batches on the wire at once, each removed once
///   answered 204) into a VictoriaMetrics started afterwards, as a gateway restarted with a backlog would.
struct SpoolBench {
    let settings: ServerSettings
    let timestamps: TimestampAllocator
    let measurement: Measurement
    let duration: Double
    let batchSize: Int
    /// Whether spool-replay sends the stored gzip bodies (the influx2 default) or inflates them first
    /// (`gzip: false`), as VictoriaMetrics' direct reference runs send plain bodies.
    var gzip = true
    /// The influx2 sink's max_in_flight for spool-replay.
    var maxInFlight = 2

    /// Issue 3's floor for the spool's write rate on the 2-core development machine.
    static let targetPointsPerSecond = 1_000_000.0
    static let precision = Precision.nanoseconds

    static let logger: Logger = {
        var logger = Logger(label: "gateway-bench") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        return logger
    }()

    /// The benchmark's lines decoded into batches of `batchSize` points, made before any clock
    /// starts: the points a sink worker hands the influx2 sink.
    static func batches(lines: Int, batchSize: Int, timestamps: TimestampAllocator) throws -> [[Point]] {
        let payload = Payload(lines: lines, linesPerChunk: batchSize, timestamps: timestamps)
        return try batches(payload)
    }

    /// Decoded as the gateway's listeners decode (with a series cache), so points of one series share
    /// their tag array as they do in the gateway.
    static func batches(_ payload: Payload) throws -> [[Point]] {
        let decoder = LineProtocolDecoder(precision: precision)
        let cache = SeriesCache()
        var out: [[Point]] = []
        out.reserveCapacity(payload.chunkCount)
        for i in 0..<payload.chunkCount {
            var points: [Point] = []
            var errors: [PointError] = []
            points.reserveCapacity(payload.linesIn(chunk: i))
            decoder.decode(payload.chunk(i), receiveTime: 0, into: &points, errors: &errors, cache: cache)
            if let error = errors.first { throw BenchError("generated line protocol does not decode: \(error)") }
            out.append(points)
        }
        return out
    }

    // MARK: spool-write

    /// What the write loop did, with the time of each step summed over batches.
    struct WriteLoop: Sendable {
        var points = 0
        var batches = 0
        var rawBytes = 0
        var compressedBytes = 0
        var encodeSeconds = 0.0
        var gzipSeconds = 0.0
        var appendSeconds = 0.0
        var elapsed = 0.0
    }

    /// One run: batches from `pool` (cycled) appended to a fresh spool for `duration` seconds.
    func write(pool: [[Point]], label: String) throws -> RunResult {
        let directory = "\(settings.workDirectory)/spool-\(label)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // No size bound in the way: the measurement is of the append path, not of drop_oldest.
        let store = try SpoolStore(
            path: "\(directory)/spool.db", options: .init(maxBytes: 1 << 40), logger: Self.logger)
        let cpuBefore = try ProcessStats.cpuSeconds(pid: getpid())
        let usageBefore = CPUUsage.now()
        let duration = self.duration
        let loop = try AsyncRunner.run { try await Self.writeLoop(store: store, pool: pool, duration: duration) }
        let cpu = try ProcessStats.cpuSeconds(pid: getpid()) - cpuBefore
        let stored = store.pointCount
        let fileBytes = Files.size("\(directory)/spool.db") + Files.size("\(directory)/spool.db-wal")
        store.close()

        let rate = Double(loop.points) / loop.elapsed
        let megabytesPerSecond = Double(loop.compressedBytes) / loop.elapsed / 1e6
        let perPoint = { (seconds: Double) in seconds * 1e6 / Double(max(loop.points, 1)) }
        var result = RunResult(
            scenario: "", target: .spool, sent: loop.points, counted: stored, pointsPerSecond: rate,
            offeredPerSecond: rate, cpuSeconds: cpu, peakRSSBytes: -1, errors: 0, kernelDrops: 0,
            firstError: stored == loop.points ? nil : "the spool holds \(stored) points, \(loop.points) were appended")
        result.extras = [
            Extra("mb_per_s", megabytesPerSecond, "MB/s of gzip payload"),
            Extra(
                "compressed_bytes_per_point", Double(loop.compressedBytes) / Double(max(loop.points, 1)), "B/point gzip"
            ),
            Extra("raw_bytes_per_point", Double(loop.rawBytes) / Double(max(loop.points, 1)), "B/point line protocol"),
            Extra("encode_us_per_point", perPoint(loop.encodeSeconds), "us/point encode"),
            Extra("gzip_us_per_point", perPoint(loop.gzipSeconds), "us/point gzip"),
            Extra("append_us_per_point", perPoint(loop.appendSeconds), "us/point append (SQLite)"),
            Extra("file_mb", Double(fileBytes) / 1e6, "MB spool file"),
            Extra("target_points_per_s", Self.targetPointsPerSecond, "points/s target"),
        ]
        result.note =
            "\(Report.fixed(megabytesPerSecond, 1)) MB/s gzip, \(Report.grouped(loop.batches)) batches; per point: "
            + "encode \(Report.fixed(perPoint(loop.encodeSeconds), 3)) us, "
            + "gzip \(Report.fixed(perPoint(loop.gzipSeconds), 3)) us, "
            + "append \(Report.fixed(perPoint(loop.appendSeconds), 3)) us (target >= "
            + "\(Report.grouped(Self.targetPointsPerSecond)) points/s: "
            + "\(rate >= Self.targetPointsPerSecond ? "met" : "NOT met"))"
        result.otherCPUSeconds = CPUUsage.now().others(since: usageBefore, targetSeconds: 0)
        result.wallSeconds = loop.elapsed
        return result
    }

    /// Exactly the influx2 sink's outage path per batch: `LineProtocolEncoder.encode`, then
    /// `SpoolPayload(raw:points:precision:)` (gzip level 1), then `SpoolStore.append`. (That is what
    /// `SpoolPayload(points:precision:)` does in one call; split here to time each step.)
    static func writeLoop(store: SpoolStore, pool: [[Point]], duration: Double) async throws -> WriteLoop {
        var loop = WriteLoop()
        let encoder = LineProtocolEncoder(precision: precision)
        var next = 0
        let start = Monotonic.now()
        var now = start
        while now - start < duration {
            let points = pool[next]
            next = next + 1 == pool.count ? 0 : next + 1
            let raw = encoder.encode(points)
            let encoded = Monotonic.now()
            let payload = try SpoolPayload(raw: raw, points: points.count, precision: precision)
            let compressed = Monotonic.now()
            guard case .stored = try await store.append(payload) else {
                throw BenchError("the spool did not store a batch (full?)")
            }
            let appended = Monotonic.now()
            loop.points += points.count
            loop.batches += 1
            loop.rawBytes += raw.count
            loop.compressedBytes += payload.compressed.count
            loop.encodeSeconds += encoded - now
            loop.gzipSeconds += compressed - encoded
            loop.appendSeconds += appended - compressed
            now = appended
        }
        loop.elapsed = now - start
        return loop
    }

    // MARK: spool-replay

    /// One run: fill a spool with `points` fresh points (no server running), close it, start a fresh
    /// VictoriaMetrics, reopen the spool as a restarted gateway would, and time `replay()` until
    /// the spool is empty. VictoriaMetrics' own row count must come to the points replayed.
    func replay(points total: Int, label: String) throws -> RunResult {
        let directory = "\(settings.workDirectory)/spool-\(label)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/spool.db"

        // Fill (not timed in the result; its rate is reported as a side figure).
        let batches = try Self.batches(lines: total, batchSize: batchSize, timestamps: timestamps)
        let filling = try SpoolStore(path: path, options: .init(maxBytes: 1 << 40), logger: Self.logger)
        // The stored bodies are kept too: VictoriaMetrics' direct reference is sent the same ones.
        let (fill, payloads) = try AsyncRunner.run { () async throws -> (WriteLoop, [SpoolPayload]) in
            var loop = WriteLoop()
            var payloads: [SpoolPayload] = []
            let start = Monotonic.now()
            for points in batches {
                let payload = try SpoolPayload(points: points, precision: Self.precision)
                guard case .stored = try await filling.append(payload) else {
                    throw BenchError("the spool did not store a batch while filling")
                }
                loop.points += points.count
                loop.compressedBytes += payload.compressed.count
                payloads.append(payload)
            }
            loop.elapsed = Monotonic.now() - start
            return (loop, payloads)
        }
        filling.close()

        let vm = try VictoriaMetricsServer.start(label: label, settings: settings)
        defer { vm.stop() }
        try measurement.probe(vm, udp: false)
        let baseline = try vm.pointsCounted()
        let store = try SpoolStore(path: path, options: .init(maxBytes: 1 << 40), logger: Self.logger)
        defer { store.close() }
        guard store.pointCount == total else {
            throw BenchError("the reopened spool holds \(store.pointCount) points, \(total) were appended")
        }
        let factory = NOOPMetricsHandler.instance
        let sink = InfluxSink(
            name: "vm",
            configuration: .init(
                target: InfluxTarget(
                    url: "http://127.0.0.1:\(vm.httpPort)", org: "bench", bucket: "bench", token: "", gzip: gzip),
                precision: Self.precision, maxInFlight: maxInFlight),
            spool: store, metrics: SinkMetrics(sink: "vm", factory: factory),
            delivery: DeliveryMetrics(sink: "vm", factory: factory), logger: Self.logger)

        let cpuBefore = try ProcessStats.cpuSeconds(pid: getpid())
        let vmCPUBefore = try ProcessStats.cpuSeconds(pid: vm.process.pid)
        let usageBefore = CPUUsage.now()
        let giveUpAfter = measurement.settleTimeout
        let replayed = try AsyncRunner.run { () async throws -> (elapsed: Double, failures: Int, firstError: String?) in
            var failures = 0
            var firstError: String?
            let start = Monotonic.now()
            while !store.isEmpty {
                if let delay = await sink.replay() {
                    failures += 1
                    if firstError == nil { firstError = sink.health.text }
                    if Monotonic.now() - start > giveUpAfter {
                        await sink.close()
                        throw BenchError(
                            "replay stopped making progress: \(store.pointCount) points left after "
                                + "\(Int(giveUpAfter)) s (\(sink.health.text))")
                    }
                    try await Task.sleep(for: delay)
                }
            }
            let elapsed = Monotonic.now() - start
            await sink.close()
            return (elapsed, failures, firstError)
        }
        let cpu = try ProcessStats.cpuSeconds(pid: getpid()) - cpuBefore
        let settled = try measurement.settle(vm, expected: baseline + total, loadEnd: Monotonic.now())
        let vmCPU = settled.cpuSeconds - vmCPUBefore
        let counted = settled.count - baseline
        let rate = Double(total) / replayed.elapsed

        let direct = try directReference(payloads, label: label)

        var result = RunResult(
            scenario: "", target: .replay, sent: total, counted: counted, pointsPerSecond: rate,
            offeredPerSecond: rate, cpuSeconds: cpu, peakRSSBytes: -1, errors: replayed.failures,
            kernelDrops: 0, firstError: replayed.firstError)
        let fillRate = Double(fill.points) / fill.elapsed
        result.extras = [
            Extra("replay_s", replayed.elapsed, "s to drain"),
            Extra("vm_cpu_us_per_point", vmCPU * 1e6 / Double(max(counted, 1)), "us/point VictoriaMetrics CPU"),
            // VictoriaMetrics' CPU seconds per second of replay (it runs on one core here): near 1, the
            // server, not the replay, sets the pace.
            Extra("vm_busy", vmCPU / replayed.elapsed, "VictoriaMetrics CPU s per replay s"),
            Extra(
                "vm_peak_rss_mb", Double(try ProcessStats.peakRSS(pid: vm.process.pid)) / 1_048_576,
                "MB VictoriaMetrics peak RSS"),
            Extra(
                "compressed_bytes_per_point", Double(fill.compressedBytes) / Double(max(fill.points, 1)), "B/point gzip"
            ),
            Extra("fill_points_per_s", fillRate, "points/s fill (encode+gzip+append)"),
            Extra("vm_same_bodies_points_per_s", direct, "points/s VictoriaMetrics direct, the same bodies"),
            Extra("replay_vs_vm_same_bodies", rate / direct, "replay rate over that"),
        ]
        result.note =
            "drained \(Report.grouped(total)) points in \(Report.fixed(replayed.elapsed, 2)) s; VictoriaMetrics CPU "
            + "\(Report.fixed(vmCPU, 2)) s = \(Report.fixed(vmCPU * 1e6 / Double(max(counted, 1)), 3)) us/point; "
            + "filled at \(Report.grouped(fillRate)) points/s"
        result.otherCPUSeconds = CPUUsage.now().others(since: usageBefore, targetSeconds: settled.cpuNow - vmCPUBefore)
        result.wallSeconds = replayed.elapsed
        return result
    }
}

extension SpoolBench {
    /// VictoriaMetrics' own rate for the bodies the replay sent (gzip, or inflated under `--no-gzip`),
    /// posted straight to a fresh VictoriaMetrics over `maxInFlight` keep-alive connections, each
    /// sending its share in order: what the server can ingest of exactly that load.
    func directReference(_ payloads: [SpoolPayload], label: String) throws -> Double {
        let bodies = try payloads.map { gzip ? $0.compressed : try $0.raw() }
        let total = payloads.reduce(0) { $0 + $1.points }
        let vm = try VictoriaMetricsServer.start(label: "\(label)-direct", settings: settings)
        defer { vm.stop() }
        try measurement.probe(vm, udp: false)
        let baseline = try vm.pointsCounted()
        let connections = max(1, maxInFlight)
        let encoding = gzip ? "gzip" : nil
        let path = "\(HTTPLoad.path)?precision=ns"
        let port = vm.httpPort
        let start = Monotonic.now()
        let failures = Threads.run(count: connections) { index -> String? in
            do {
                let connection = try HTTPConnection(port: port)
                for i in stride(from: index, to: bodies.count, by: connections) {
                    let response = try bodies[i].withUnsafeBytes {
                        try connection.request(
                            "POST", path, contentType: "text/plain; charset=utf-8", contentEncoding: encoding, body: $0)
                    }
                    guard response.status == 204 else { return "HTTP \(response.status): \(response.text.prefix(200))" }
                }
                return nil
            } catch {
                return "\(error)"
            }
        }
        let elapsed = Monotonic.now() - start
        if let failure = failures.compactMap({ $0 }).first {
            throw BenchError("VictoriaMetrics' direct reference for spool-replay failed: \(failure)")
        }
        let settled = try measurement.settle(vm, expected: baseline + total, loadEnd: Monotonic.now())
        guard settled.count - baseline == total else {
            throw BenchError("VictoriaMetrics counted \(settled.count - baseline) of \(total) points sent directly")
        }
        return Double(total) / elapsed
    }
}

extension Files {
    /// The size of a file in bytes; 0 when it does not exist.
    static func size(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }
}
