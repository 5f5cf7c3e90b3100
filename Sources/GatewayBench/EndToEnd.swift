import Foundation
import Glibc
import Synchronization

/// The pipeline seen from the load generator: UDP into the gateway, counted where VictoriaMetrics
/// stored it (`vm_rows_inserted_total{type="influx"}`, which the gateway's `/api/v2/write` requests
/// feed). Lets ``Measurement/probe(_:udp:)`` prove the whole path before the clock starts.
final class PipelineTarget: TargetServer {
    let kind = TargetKind.e2e
    let gateway: GatewayServer
    let vm: VictoriaMetricsServer

    init(gateway: GatewayServer, vm: VictoriaMetricsServer) {
        self.gateway = gateway
        self.vm = vm
    }

    var process: ChildProcess { gateway.process }
    var httpPort: Int { gateway.httpPort }
    var udpPort: Int { gateway.udpPort }
    func pointsCounted() throws -> Int { try vm.pointsCounted() }

    func stop() {
        gateway.stop()
        vm.stop()
    }
}

/// The end-to-end scenarios, with the real gateway binary and its `influx2` sink (batch 5,000, gzip,
/// spool on, queue 500,000, when_full: block):
///
/// - `e2e-udp-<rate>`: UDP at `rate` -> gateway -> VictoriaMetrics' `/api/v2/write`. VictoriaMetrics
///   runs on the targets' CPU, as in its direct measurements; the gateway on the other CPU, beside
///   the load generator. Delivered = what VictoriaMetrics inserted; its rate runs from the first
///   datagram to the gateway's last acknowledged batch.
/// - `e2e-rss-<rate>`: UDP at `rate` to a gateway whose influx2 sink points at a port nothing listens
///   on (the server is down): everything goes to the spool on disk; the gateway's RSS is sampled
///   every second.
struct EndToEnd {
    let settings: ServerSettings
    let measurement: Measurement
    let duration: Double
    /// Whether the influx2 sink gzips its bodies (the default, and the spool's format).
    var gzip = true
    /// The influx2 sink's `max_in_flight`.
    var maxInFlight = 2

    // MARK: e2e-udp

    func udp(load: UDPLoad, pointsPerSecond: Int, label: String) throws -> RunResult {
        let vm = try VictoriaMetricsServer.start(label: label, settings: settings)
        defer { vm.stop() }
        let gateway = try GatewayServer.start(
            label: label, settings: settings,
            sink: .influx(url: "http://127.0.0.1:\(vm.httpPort)", gzip: gzip, maxInFlight: maxInFlight),
            cpu: .some(settings.benchCPU))
        defer { gateway.stop() }
        let pipeline = PipelineTarget(gateway: gateway, vm: vm)
        try measurement.probe(pipeline, udp: true)

        let vmBaseline = try vm.pointsCounted()
        let storedBefore = try? vm.storedSamples(of: Self.storedMetric)
        let before = try gateway.counters()
        let dropsBefore = Sockets.udpSocketState(port: gateway.udpPort).drops
        let gatewayPID = gateway.process.pid
        let vmPID = vm.process.pid
        let gatewayCPUBefore = try ProcessStats.cpuSeconds(pid: gatewayPID)
        let vmCPUBefore = try ProcessStats.cpuSeconds(pid: vmPID)
        let benchCPUBefore = try ProcessStats.cpuSeconds(pid: getpid())
        let usageBefore = CPUUsage.now()

        let start = Monotonic.now()
        let sent = try load.run(port: gateway.udpPort, pointsPerSecond: pointsPerSecond, duration: duration)
        let loadEnd = Monotonic.now()
        let senderCPU = try ProcessStats.cpuSeconds(pid: getpid()) - benchCPUBefore
        _ = measurement.drainTime(udpPort: gateway.udpPort)

        // Until VictoriaMetrics has everything sent, or neither its count nor the gateway's delivered
        // count has moved for the quiet period while the gateway holds nothing queued or spooled.
        var counters = try gateway.counters()
        var vmCount = try vm.pointsCounted()
        var delivered = counters.delivered
        var deliveredAt = Monotonic.now()
        var deliveredSamples: [(time: Double, count: Int)] = [(deliveredAt, delivered)]
        var gatewayCPU = try ProcessStats.cpuSeconds(pid: gatewayPID)
        var vmCPU = try ProcessStats.cpuSeconds(pid: vmPID)
        var vmChangedAt = deliveredAt
        while true {
            let now = Monotonic.now()
            let quiet = now - max(deliveredAt, vmChangedAt) >= measurement.quietPeriod
            let holding = counters.queued > 0 || counters.spoolPoints > 0
            if vmCount >= vmBaseline + sent.pointsSent, counters.delivered - before.delivered >= sent.pointsSent {
                break
            }
            if quiet, !holding { break }
            if now - loadEnd > measurement.settleTimeout { break }
            guard gateway.process.isRunning, vm.process.isRunning else {
                throw BenchError(
                    "a target exited during the load: gateway \(gateway.process.exitDescription), "
                        + "victoria-metrics \(vm.process.exitDescription); logs in \(settings.workDirectory)")
            }
            Monotonic.sleep(0.1)
            counters = try gateway.counters()
            let count = try vm.pointsCounted()
            let sampledAt = Monotonic.now()
            deliveredSamples.append((sampledAt, counters.delivered))
            if counters.delivered != delivered {
                delivered = counters.delivered
                deliveredAt = sampledAt
                gatewayCPU = try ProcessStats.cpuSeconds(pid: gatewayPID)
                vmCPU = try ProcessStats.cpuSeconds(pid: vmPID)
            }
            if count != vmCount {
                vmCount = count
                vmChangedAt = sampledAt
            }
        }
        let counted = vmCount - vmBaseline
        let storedAfter = try? vm.storedSamples(of: Self.storedMetric)
        // The gateway's counter moves when VictoriaMetrics answers a batch: the run ends when it came
        // within one batch of its final value (the last, partial batch waits for the flush interval, and
        // is not what limits the rate).
        let caughtUp = deliveredSamples.first { $0.count >= delivered - GatewayServer.batchSize }?.time ?? deliveredAt
        let busyUntil = max(start + sent.elapsed, caughtUp)
        let gatewaySeconds = gatewayCPU - gatewayCPUBefore
        let vmSeconds = vmCPU - vmCPUBefore
        let delta = GatewayCounters(
            received: counters.received - before.received, written: counters.written - before.written,
            spooled: counters.spooled - before.spooled, replayed: counters.replayed - before.replayed,
            dropped: counters.dropped - before.dropped, deadLettered: counters.deadLettered - before.deadLettered,
            queued: counters.queued, spoolPoints: counters.spoolPoints, spoolBytes: counters.spoolBytes)
        let kernelDrops = Sockets.udpSocketState(port: gateway.udpPort).drops - dropsBefore

        var result = RunResult(
            scenario: "", target: .e2e, sent: sent.pointsSent, counted: counted,
            pointsPerSecond: Double(counted) / (busyUntil - start),
            offeredPerSecond: Double(sent.pointsSent) / sent.elapsed, cpuSeconds: gatewaySeconds,
            peakRSSBytes: try ProcessStats.peakRSS(pid: gatewayPID), errors: delta.dropped + delta.deadLettered,
            kernelDrops: kernelDrops,
            firstError: sent.refused > 0 ? "\(sent.refused) sends refused (port closed)" : nil)
        var extras = [
            Extra("vm_cpu_us_per_point", vmSeconds * 1e6 / Double(max(counted, 1)), "us/point VictoriaMetrics CPU"),
            Extra(
                "vm_peak_rss_mb", Double(try ProcessStats.peakRSS(pid: vmPID)) / 1_048_576,
                "MB VictoriaMetrics peak RSS"),
            Extra("sender_cpu_s", senderCPU, "CPU-s load generator (on the gateway's CPU)"),
            Extra("gateway_received", Double(delta.received), "received"),
            Extra("gateway_written", Double(delta.written), "written directly"),
            Extra("gateway_spooled", Double(delta.spooled), "spooled"),
            Extra("gateway_replayed", Double(delta.replayed), "replayed"),
            Extra("gateway_dropped", Double(delta.dropped), "dropped in the gateway"),
            Extra("gateway_left", Double(counters.queued + counters.spoolPoints), "left queued or spooled"),
        ]
        if let storedBefore, let storedAfter {
            extras.append(Extra("vm_stored", Double(storedAfter - storedBefore), "stored (query)"))
        }
        result.extras = extras
        var note =
            "gateway received \(Report.grouped(delta.received)), delivered \(Report.grouped(delta.delivered)) "
            + "(written \(Report.grouped(delta.written)), spooled \(Report.grouped(delta.spooled)), replayed "
            + "\(Report.grouped(delta.replayed))), dropped \(Report.grouped(delta.dropped)); VictoriaMetrics CPU "
            + "\(Report.fixed(vmSeconds, 2)) s = "
            + "\(Report.fixed(vmSeconds * 1e6 / Double(max(counted, 1)), 3)) us/point; "
            + "load generator \(Report.fixed(senderCPU, 2)) CPU-s"
        if let storedBefore, let storedAfter {
            note +=
                "; VictoriaMetrics query counts \(Report.grouped(storedAfter - storedBefore)) samples of "
                + Self.storedMetric
        }
        result.note = note
        result.otherCPUSeconds = CPUUsage.now().others(
            since: usageBefore,
            targetSeconds: (try ProcessStats.cpuSeconds(pid: gatewayPID)) - gatewayCPUBefore
                + (try ProcessStats.cpuSeconds(pid: vmPID)) - vmCPUBefore)
        result.wallSeconds = Monotonic.now() - start
        return result
    }

    /// One sample per point: the `value` field of the `bench` series.
    static let storedMetric = "bench_value"

    // MARK: e2e-rss

    func rss(load: UDPLoad, pointsPerSecond: Int, label: String) throws -> RunResult {
        // A port that was free a moment ago: connections to it are refused, as when VictoriaMetrics is down.
        let deadPort = try Sockets.freePort(tcp: true, udp: false)
        let gateway = try GatewayServer.start(
            label: label, settings: settings, sink: .influx(url: "http://127.0.0.1:\(deadPort)", gzip: gzip))
        defer { gateway.stop() }
        // The first batch spools after the direct path's retries (3, from 100 ms): the probe waits.
        try measurement.probe(gateway, udp: true)

        let before = try gateway.counters()
        let pid = gateway.process.pid
        let dropsBefore = Sockets.udpSocketState(port: gateway.udpPort).drops
        let cpuBefore = try ProcessStats.cpuSeconds(pid: pid)
        let usageBefore = CPUUsage.now()
        let stop = StopFlag()
        let duration = self.duration
        let port = gateway.udpPort
        let start = Monotonic.now()
        let outcomes = Threads.run(count: 2) { index -> RSSJob in
            if index == 0 {
                defer { stop.set() }
                do {
                    return .load(
                        .success(try load.run(port: port, pointsPerSecond: pointsPerSecond, duration: duration)))
                } catch {
                    return .load(.failure(error))
                }
            }
            // Every second from the start of the load to its end, then once more.
            var samples: [RSSSample] = []
            var next = start
            while true {
                if let bytes = ProcessStats.rss(pid: pid) {
                    samples.append(RSSSample(time: Monotonic.now() - start, bytes: bytes))
                }
                if stop.isSet { break }
                next += 1
                while Monotonic.now() < next, !stop.isSet { Monotonic.sleep(min(0.05, next - Monotonic.now())) }
            }
            return .samples(samples)
        }
        guard case .load(let loadOutcome) = outcomes[0], case .samples(let samples) = outcomes[1] else {
            throw BenchError("internal: thread results out of order")
        }
        let sent = try loadOutcome.get()
        let drained = measurement.drainTime(udpPort: gateway.udpPort)
        let settled = try measurement.settle(
            gateway, expected: before.taken + sent.pointsSent, loadEnd: Monotonic.now())
        let after = try gateway.counters()
        let counted = settled.count - before.taken
        let busyUntil = max(start + sent.elapsed, drained, settled.caughtUp(within: GatewayServer.batchSize))
        let rssAfter = ProcessStats.rss(pid: pid) ?? 0

        var result = RunResult(
            scenario: "", target: .outage, sent: sent.pointsSent, counted: counted,
            pointsPerSecond: Double(counted) / (busyUntil - start),
            offeredPerSecond: Double(sent.pointsSent) / sent.elapsed, cpuSeconds: settled.cpuSeconds - cpuBefore,
            peakRSSBytes: try ProcessStats.peakRSS(pid: pid), errors: after.dropped - before.dropped,
            kernelDrops: Sockets.udpSocketState(port: gateway.udpPort).drops - dropsBefore,
            firstError: sent.refused > 0 ? "\(sent.refused) sends refused (port closed)" : nil)
        let megabytes = samples.map { Double($0.bytes) / 1_048_576 }
        let first = megabytes.first ?? .nan
        let last = megabytes.last ?? .nan
        let maximum = megabytes.max() ?? .nan
        // The first second takes the working set of a loaded gateway (queue, batches, SQLite's page
        // cache); growth after it is what an outage would keep adding.
        let warm = megabytes.count > 1 ? megabytes[1] : first
        result.extras = [
            Extra("rss_first_mb", first, "MB RSS at the start"),
            Extra("rss_1s_mb", warm, "MB RSS after 1 s of load"),
            Extra("rss_last_mb", last, "MB RSS at the end of the load"),
            Extra("rss_max_mb", maximum, "MB RSS max"),
            Extra("rss_growth_mb", last - first, "MB RSS growth"),
            Extra("rss_growth_after_1s_mb", last - warm, "MB RSS growth after the first second"),
            Extra("rss_after_mb", Double(rssAfter) / 1_048_576, "MB RSS once settled"),
            Extra("rss_samples", Double(samples.count), "samples"),
            Extra("gateway_spooled", Double(after.spooled - before.spooled), "spooled"),
            Extra("gateway_written", Double(after.written - before.written), "written directly"),
            Extra("spool_points", Double(after.spoolPoints), "points in the spool"),
            Extra("spool_mb", Double(after.spoolBytes) / 1e6, "MB in the spool"),
        ]
        result.note =
            "RSS MB each second: " + megabytes.map { Report.fixed($0, 1) }.joined(separator: " ")
            + "; spool holds \(Report.grouped(after.spoolPoints)) points in "
            + "\(Report.fixed(Double(after.spoolBytes) / 1e6, 1)) MB"
        result.otherCPUSeconds = CPUUsage.now().others(since: usageBefore, targetSeconds: settled.cpuNow - cpuBefore)
        result.wallSeconds = Monotonic.now() - start
        return result
    }
}

struct RSSSample: Sendable {
    var time: Double
    var bytes: Int
}

/// What each of the e2e-rss scenario's two threads returns.
enum RSSJob: Sendable {
    case load(Result<UDPLoadResult, any Error>)
    case samples([RSSSample])
}

final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}
