import CoreMetrics
import Foundation
import GatewayCore
import Logging
import Synchronization
import TestDoubles
import Testing

@testable import Plugins

/// Points a plugin emitted, kept for the test to look at.
final class EmittedPoints: Sendable {
    private let points = Mutex<[Point]>([])
    var all: [Point] { points.withLock { $0 } }

    var context: PluginContext {
        PluginContext(
            emit: { new in
                self.points.withLock { $0.append(contentsOf: new) }
                return new.count
            },
            logger: Logger(label: "test"), metrics: NOOPMetricsHandler.instance)
    }

    /// The same, with the plugin's time driven by `time` instead of the real clocks.
    func context(time: FakeTime) -> PluginContext {
        PluginContext(
            emit: { new in
                self.points.withLock { $0.append(contentsOf: new) }
                return new.count
            },
            logger: Logger(label: "test"), metrics: NOOPMetricsHandler.instance, clock: time.clock,
            now: { time.now })
    }
}

/// A plugin's time under a test's control: a manual clock, and a calendar time that starts at
/// `start` and moves with it. Nothing moves unless the test advances it.
final class FakeTime: Sendable {
    let clock = ManualClock()
    let start: Date

    init(start: Date) { self.start = start }

    var now: Date {
        let offset = clock.now.offset.components
        return start.addingTimeInterval(Double(offset.seconds) + Double(offset.attoseconds) / 1e18)
    }

    func advance(by duration: Duration) { clock.advance(by: duration) }

    /// Waits until `count` tasks sleep on the clock (the plugin's loops are idle, waiting for
    /// time to move), polling every 5 ms for up to 10 s of real time: the bound is for a hung
    /// plugin, not a measure of speed.
    func waitForSleepers(_ count: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while clock.pendingSleeps.count != count {
            guard ContinuousClock.now < deadline else {
                Issue.record("expected \(count) sleepers, have \(clock.pendingSleeps)", sourceLocation: sourceLocation)
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// A child process for the collector to measure; killed when the test lets go of it.
final class Child {
    let process = Process()
    let output = Pipe()

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// Waits for the child's first line of output (it says when it is ready).
    func readLine() -> String {
        var bytes: [UInt8] = []
        while true {
            let chunk = output.fileHandleForReading.readData(ofLength: 1)
            if chunk.isEmpty || chunk.first == 10 { break }
            bytes.append(contentsOf: chunk)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Waits until the child's name (`/proc/<pid>/comm`) is `name`: after `exec` it changes.
    func waitForName(_ name: String) {
        for _ in 0..<500 {
            let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
            if comm.trimmingCharacters(in: .newlines) == name { return }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    deinit {
        // SIGKILL: a shell busy in a loop does not always act on SIGTERM promptly.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// A fake /proc tree: `stat` files written by the test, so the collector's arithmetic can be
/// checked on exact figures.
struct FakeProc {
    let root: String

    init() throws {
        root = NSTemporaryDirectory() + "fakeproc-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try "MemTotal:        1048576 kB\nMemFree:          1000 kB\n".write(
            toFile: root + "/meminfo", atomically: true, encoding: .utf8)
    }

    /// Writes `/proc/<pid>/stat` with the given name, ticks, start time, resident pages and threads.
    func process(
        pid: Int32, name: String, utime: UInt64, stime: UInt64 = 0, start: UInt64 = 1, rssPages: Int64, threads: Int = 1
    ) throws {
        let dir = "\(root)/\(pid)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // Fields 3..24 of proc(5): state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss ...
        let text =
            "\(pid) (\(name)) S 1 1 1 0 -1 4194304 0 0 0 0 \(utime) \(stime) 0 0 20 0 \(threads) 0 \(start) 1000 \(rssPages) 18446744073709551615 0 0\n"
        try text.write(toFile: dir + "/stat", atomically: true, encoding: .utf8)
    }

    func remove(pid: Int32) throws { try FileManager.default.removeItem(atPath: "\(root)/\(pid)") }

    /// A pid directory whose stat is gone: the process exited between listing and reading.
    func vanished(pid: Int32) throws {
        try FileManager.default.createDirectory(atPath: "\(root)/\(pid)", withIntermediateDirectories: true)
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: root) }
}

let second: Int64 = 1_000_000_000
