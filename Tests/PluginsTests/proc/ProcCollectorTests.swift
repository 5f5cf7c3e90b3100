import Foundation
import GatewayCore
import Testing

@testable import Plugins

/// The collector against the real /proc (processes the tests start) and against a fake /proc tree
/// for exact arithmetic and the awkward cases (vanishing processes, reused pids, odd names).
@Suite(.serialized) struct ProcCollectorTests {
    func settings(_ change: (inout ProcSettings) -> Void = { _ in }) -> ProcSettings {
        var s = ProcSettings()
        s.top = 0
        change(&s)
        return s
    }

    /// A process's own CPU time (utime + stime, in seconds) read from /proc/<pid>/stat by the test,
    /// with the monotonic time it was read at: the truth the collector's figure is compared with, so
    /// the test holds however busy the machine is (a busy loop gets what the scheduler gives it).
    func cpuTruth(_ pid: Int32) throws -> (cpu: Double, at: Double) {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
        // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
        let ticks = try #require(Double(fields[11])) + #require(Double(fields[12]))
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return (ticks / Double(sysconf(Int32(_SC_CLK_TCK))), Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)
    }

    /// Percent of one core between two truths.
    func percent(_ a: (cpu: Double, at: Double), _ b: (cpu: Double, at: Double)) -> Double {
        (b.cpu - a.cpu) / (b.at - a.at) * 100
    }

    @Test func spinningProcess_readsItsOwnCPUTime_andAFractionOfAllCoresWhenNormalised() throws {
        let spinner = try Child("/bin/sh", ["-c", "echo ready; while :; do :; done"])
        #expect(spinner.readLine() == "ready")
        let perPid = try ProcCollector(settings: settings { $0.groupBy = .pid })
        let normalised = try ProcCollector(
            settings: settings {
                $0.groupBy = .pid; $0.cpuPerCore = true
            })
        let first = try perPid.pass()
        let truthBefore = try cpuTruth(spinner.pid)
        _ = try normalised.pass()
        // No interval yet: no CPU figure at all rather than a false 0.
        let before = try #require(first.usage.first { $0.pid == spinner.pid })
        #expect(before.cpuPercent == nil)
        Thread.sleep(forTimeInterval: 2)
        let truthAfter = try cpuTruth(spinner.pid)
        let second = try perPid.pass()
        let secondNormalised = try normalised.pass()
        let truth = percent(truthBefore, truthAfter)
        let cpu = try #require(second.usage.first { $0.pid == spinner.pid }?.cpuPercent)
        // Ticks are 10 ms: over 2 s the two readings may differ by a few ticks at each end.
        #expect(abs(cpu - truth) <= 5, "spinner read \(cpu) %, its own CPU time says \(truth) %")
        #expect(truth > 1, "the spinner ran (\(truth) % of a core)")
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        let share = try #require(secondNormalised.usage.first { $0.pid == spinner.pid }?.cpuPercent)
        #expect(
            abs(share - truth / cores) <= 5 / cores + 0.5,
            "spinner read \(share) % of \(cores) cores, truth \(truth / cores)")
        // An idle process next to it reads about nothing.
        let idle = try Child("/bin/sh", ["-c", "echo ready; exec sleep 60"])
        #expect(idle.readLine() == "ready")
        _ = try perPid.pass()
        Thread.sleep(forTimeInterval: 1)
        let third = try perPid.pass()
        let sleeping = try #require(third.usage.first { $0.pid == idle.pid }?.cpuPercent)
        #expect(sleeping < 2)
    }

    /// A process started between two passes: all its ticks fall in the interval, so it has a figure
    /// on its first pass (its whole CPU time over the interval, whatever share the machine gave it).
    @Test func processStartedSinceThePreviousPass_countsAllItsTicks() throws {
        let collector = try ProcCollector(settings: settings { $0.groupBy = .pid })
        _ = try collector.pass()
        var started = timespec()
        clock_gettime(CLOCK_MONOTONIC, &started)
        let spinner = try Child("/bin/sh", ["-c", "echo ready; while :; do :; done"])
        #expect(spinner.readLine() == "ready")
        Thread.sleep(forTimeInterval: 1)
        let truth = try cpuTruth(spinner.pid)
        let cpu = try #require(try collector.pass().usage.first { $0.pid == spinner.pid }?.cpuPercent)
        // All its CPU time over the interval since the previous pass (which began just before).
        let expected = truth.cpu / (truth.at - (Double(started.tv_sec) + Double(started.tv_nsec) / 1e9)) * 100
        #expect(
            abs(cpu - expected) <= 10, "spinner started mid-interval read \(cpu) %, its CPU time says \(expected) %")
        #expect(truth.cpu > 0.05, "the spinner ran")
    }

    /// A process holding 1 GiB resident (its whole RSS, interpreter included) reads 1 GiB / MemTotal.
    @Test func processHolding1GiB_readsOneGiBOverMemTotal_within1Percent() throws {
        let script = """
            import time
            def rss():
                for line in open('/proc/self/status'):
                    if line.startswith('VmRSS:'):
                        return int(line.split()[1]) * 1024
            target = 1 << 30
            block = b'\\x01' * (target - rss())
            print('ready', rss(), flush=True)
            time.sleep(600)
            """
        let holder = try Child("/usr/bin/python3", ["-c", script])
        let ready = holder.readLine().split(separator: " ")
        #expect(ready.first == "ready")
        let collector = try ProcCollector(settings: settings { $0.groupBy = .pid })
        let entry = try #require(try collector.pass().usage.first { $0.pid == holder.pid })
        let memTotal = try Self.memTotal()
        let expected = Double(1 << 30) / Double(memTotal) * 100
        #expect(
            abs(entry.memPercent - expected) <= expected * 0.01, "read \(entry.memPercent) %, expected \(expected) %")
        #expect(
            abs(Double(entry.rssBytes) - Double(1 << 30)) <= Double(1 << 30) * 0.01,
            "rss \(entry.rssBytes), the holder says \(ready)")
        #expect(collector.memTotal == memTotal)
    }

    static func memTotal() throws -> Int64 {
        let text = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("MemTotal:") })
        return try #require(Int64(line.split(separator: " ")[1])) * 1024
    }

    @Test func perName_sumsTheProcessesOfOneName_andCountsThreads() throws {
        let children = try (0..<3).map { _ in try Child("/bin/sh", ["-c", "echo ready; exec sleep 61"]) }
        for child in children {
            #expect(child.readLine() == "ready")
            child.waitForName("sleep")
        }
        let collector = try ProcCollector(settings: settings { $0.include = ["sleep"] })
        let pass = try collector.pass()
        let sleep = try #require(pass.usage.first { $0.name == "sleep" })
        #expect(sleep.processes >= 3)
        #expect(sleep.pid == nil)
        #expect(sleep.threads >= 3)
        #expect(pass.usage.allSatisfy { $0.name == "sleep" })
        #expect(pass.filteredOut > 0)
        #expect(pass.processesRead > 3)
    }

    @Test func fakeProc_cpuIsTicksOverWallClock_memIsRSSOverMemTotal() throws {
        let proc = try FakeProc()
        defer { proc.cleanUp() }
        let page = Int64(sysconf(Int32(_SC_PAGESIZE)))
        // MemTotal is 1 GiB; 65,536 pages of 4 KiB = 256 MiB = 25 %.
        try proc.process(pid: 10, name: "worker", utime: 1000, stime: 500, rssPages: (256 << 20) / page, threads: 4)
        try proc.process(pid: 11, name: "worker", utime: 0, rssPages: 0, threads: 1)
        try proc.process(pid: 12, name: "my (odd) name", utime: 7, rssPages: 1)
        try proc.vanished(pid: 13)
        let collector = try ProcCollector(settings: settings { $0.procRoot = proc.root })
        let first = try collector.pass()
        #expect(first.processesRead == 3)
        #expect(first.vanished == 1)
        let worker = try #require(first.usage.first { $0.name == "worker" })
        #expect(worker.cpuPercent == nil)
        #expect(abs(worker.memPercent - 25) < 1e-9)
        #expect(worker.rssBytes == 256 << 20)
        #expect(worker.threads == 5)
        #expect(worker.processes == 2)
        #expect(first.usage.contains { $0.name == "my (odd) name" })

        let started = Date()
        Thread.sleep(forTimeInterval: 1)
        // 100 ticks (1 s of CPU at 100 Hz) more on pid 10 and 50 on pid 11; pid 12 is gone.
        try proc.process(pid: 10, name: "worker", utime: 1080, stime: 520, rssPages: (256 << 20) / page, threads: 4)
        try proc.process(pid: 11, name: "worker", utime: 50, rssPages: 0, threads: 1)
        try proc.remove(pid: 12)
        let second = try collector.pass()
        let elapsed = Date().timeIntervalSince(started)
        let cpu = try #require(second.usage.first { $0.name == "worker" }?.cpuPercent)
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        let expected = 150 / ticksPerSecond / elapsed * 100
        #expect(abs(cpu - expected) < expected * 0.1, "read \(cpu), expected about \(expected)")
        #expect(!second.usage.contains { $0.name == "my (odd) name" })
    }

    @Test func fakeProc_aReusedPidIsANewProcess_notANegativeOrHugeDelta() throws {
        let proc = try FakeProc()
        defer { proc.cleanUp() }
        try proc.process(pid: 20, name: "old", utime: 5000, start: 100, rssPages: 1)
        let collector = try ProcCollector(
            settings: settings {
                $0.procRoot = proc.root; $0.groupBy = .pid
            })
        _ = try collector.pass()
        try proc.process(pid: 20, name: "new", utime: 3, start: 200, rssPages: 1)
        Thread.sleep(forTimeInterval: 0.2)
        let entry = try #require(try collector.pass().usage.first { $0.pid == 20 })
        #expect(entry.name == "new")
        // Started (per the fake file) long before the previous pass: its share of the interval is unknown.
        #expect(entry.cpuPercent == nil)
    }

    @Test func topN_keepsTheBusiest_thenTheLargest() throws {
        let proc = try FakeProc()
        defer { proc.cleanUp() }
        for pid in Int32(1)...6 { try proc.process(pid: pid, name: "p\(pid)", utime: 0, rssPages: Int64(pid)) }
        let collector = try ProcCollector(
            settings: settings {
                $0.procRoot = proc.root; $0.top = 2
            })
        let first = try collector.pass()
        // No CPU yet: the largest by resident memory.
        #expect(first.usage.map(\.name) == ["p6", "p5"])
        #expect(first.filteredOut == 4)
        Thread.sleep(forTimeInterval: 0.2)
        try proc.process(pid: 1, name: "p1", utime: 30, rssPages: 1)
        try proc.process(pid: 2, name: "p2", utime: 10, rssPages: 2)
        let second = try collector.pass()
        #expect(second.usage.map(\.name) == ["p1", "p2"])
    }

    @Test func excludeWinsOverInclude() throws {
        let proc = try FakeProc()
        defer { proc.cleanUp() }
        for (pid, name) in [(Int32(1), "nginx"), (2, "nginx-helper"), (3, "postgres"), (4, "bash")] {
            try proc.process(pid: pid, name: name, utime: 0, rssPages: 1)
        }
        let collector = try ProcCollector(
            settings: settings {
                $0.procRoot = proc.root
                $0.include = ["nginx*", "postgres"]
                $0.exclude = ["*-helper"]
            })
        #expect(Set(try collector.pass().usage.map(\.name)) == ["nginx", "postgres"])
    }

    /// No `host` tag unless configured (the gateway's default `host` tag, its name, applies), and the
    /// address always as `ip`.
    @Test func points_inBothShapes_taggedWithTheAddress_andAHostOnlyWhenConfigured() throws {
        let pass = ProcPass(
            usage: [
                ProcessUsage(
                    name: "db", pid: nil, cpuPercent: 12.5, memPercent: 3, rssBytes: 4096, threads: 7, processes: 1),
                ProcessUsage(
                    name: "new", pid: nil, cpuPercent: nil, memPercent: 1, rssBytes: 10, threads: 1, processes: 1),
            ], processesRead: 2, vanished: 0, filteredOut: 0, durationNanoseconds: 1, time: 42)
        let standard = ProcCollector.points(pass, settings: ProcSettings(), host: nil, ip: "10.0.0.5")
        #expect(
            standard == [
                Point(
                    series: "process_usage", time: 42, tags: [Tag("ip", "10.0.0.5"), Tag("process", "db")],
                    fields: [
                        Field("cpu_percent", .float(12.5)), Field("mem_percent", .float(3)),
                        Field("rss_bytes", .int(4096)),
                        Field("threads", .int(7)),
                    ]),
                Point(
                    series: "process_usage", time: 42, tags: [Tag("ip", "10.0.0.5"), Tag("process", "new")],
                    fields: [Field("mem_percent", .float(1)), Field("rss_bytes", .int(10)), Field("threads", .int(1))]),
            ])
        let named = ProcCollector.points(pass, settings: ProcSettings(), host: "web1", ip: "10.0.0.5")
        #expect(named[0].tags == [Tag("host", "web1"), Tag("ip", "10.0.0.5"), Tag("process", "db")])
        var legacy = ProcSettings()
        legacy.format = .legacy
        let old = ProcCollector.points(pass, settings: legacy, host: nil, ip: "10.0.0.5")
        #expect(old.map(\.series) == ["cpu_usage_percent", "mem_usage_percent", "mem_usage_percent"])
        #expect(old[0].tags == [Tag("ip", "10.0.0.5"), Tag("process", "db")])
        #expect(old[0].fields == [Field("value", .float(12.5))])
    }

    @Test func statParser_takesTheNameBetweenTheFirstOpenAndTheLastCloseParenthesis() {
        let text = "4242 (a) b (c)) R 1 1 1 0 -1 0 0 0 0 0 11 22 0 0 20 0 3 0 777 0 5 0\n"
        let stat = Array(text.utf8).withUnsafeBytes { ProcReader.parse($0) }
        #expect(stat == ProcStat(pid: 4242, name: "a) b (c)", ticks: 33, startTicks: 777, rssPages: 5, threads: 3))
        #expect(Array("12 (x) S 1 2\n".utf8).withUnsafeBytes { ProcReader.parse($0) } == nil)
    }

    @Test func primaryAddress_isAnIPv4AddressOfThisHost() {
        let address = HostIdentity.primaryAddress()
        let parts = address.split(separator: ".").compactMap { Int($0) }
        #expect(parts.count == 4 && parts.allSatisfy { (0...255).contains($0) }, "\(address)")
        #expect(HostIdentity.interfaceAddresses().contains { $0.address == address } || address == "127.0.0.1")
    }
}

/// Processes that start and exit while passes run: every pass completes without an error.
@Suite(.serialized) struct ProcChurnTests {
    @Test func passesWhileProcessesComeAndGo_neverFail() throws {
        let churn = try Child("/bin/sh", ["-c", "echo ready; while :; do /bin/true & /bin/true; wait; done"])
        #expect(churn.readLine() == "ready")
        var settings = ProcSettings()
        settings.top = 0
        let collector = try ProcCollector(settings: settings)
        var read = 0
        for _ in 0..<200 {
            let pass = try collector.pass()
            read += pass.processesRead
            #expect(pass.usage.allSatisfy { ($0.cpuPercent ?? 0) >= 0 && $0.memPercent >= 0 && $0.memPercent <= 100 })
        }
        #expect(read > 0)
    }
}
