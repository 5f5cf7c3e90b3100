import Foundation
import Plugins

/// `jobdir-scan`: the jobdir plugin's scan of a storage root holding `pairs` pairs (twice as many
/// files), against `find ROOT -type f` walking the same tree, in the same run, rounds alternating.
/// Three figures per round: the walk alone, a first scan that queues every pair into a fresh state
/// file, and a rescan where every pair is already known (the steady state every `scan_interval`).
struct JobdirBench {
    let runs: Int
    let pairs: Int

    func run() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("jobdir-bench-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let storage = "\(root)/standard"
        FileHandle.standardError.write(
            Data(
                "jobdir-scan: writing \(Report.grouped(pairs)) pairs (\(Report.grouped(2 * pairs)) files) in 1,000 folders\n"
                    .utf8))
        try Self.makeTree(storage, pairs: pairs)
        let scanner = JobdirScanner()
        _ = try Self.find(storage)  // warm the dentry and inode caches for both
        var find: [Double] = []
        var walk: [Double] = []
        var first: [Double] = []
        var rescan: [Double] = []
        for round in 1...runs {
            let (findSeconds, files) = try Self.find(storage)
            guard files == 2 * pairs else { throw BenchError("find saw \(files) files, expected \(2 * pairs)") }
            find.append(findSeconds)
            var started = Monotonic.now()
            let scan = scanner.scan(storage)
            walk.append((Monotonic.now() - started))
            guard scan.pairs.count == pairs else {
                throw BenchError("the scan found \(scan.pairs.count) pairs, expected \(pairs)")
            }
            let store = try JobStore(path: "\(root)/state-\(round).db")
            defer {
                store.close()
                for suffix in ["", "-wal", "-shm"] { unlink("\(root)/state-\(round).db\(suffix)") }
            }
            started = Monotonic.now()
            let (_, queued) = try JobdirPlugin.scanAndQueue(scanner: scanner, root: storage, store: store)
            first.append((Monotonic.now() - started))
            guard queued.queued.count == pairs else {
                throw BenchError("queued \(queued.queued.count) pairs, expected \(pairs)")
            }
            started = Monotonic.now()
            let (_, again) = try JobdirPlugin.scanAndQueue(scanner: scanner, root: storage, store: store)
            rescan.append((Monotonic.now() - started))
            guard again.queued.isEmpty else { throw BenchError("the rescan queued \(again.queued.count) pairs") }
            FileHandle.standardError.write(
                Data(
                    ("jobdir-scan run \(round)/\(runs): find \(Report.fixed(findSeconds, 3)) s, walk \(Report.fixed(walk.last!, 3)) s, "
                        + "first scan \(Report.fixed(first.last!, 3)) s, rescan \(Report.fixed(rescan.last!, 3)) s\n")
                        .utf8))
        }
        let m = (
            find: ProcBench.median(find), walk: ProcBench.median(walk), first: ProcBench.median(first),
            rescan: ProcBench.median(rescan)
        )
        print("")
        print(
            "jobdir-scan: a storage root of \(Report.grouped(2 * pairs)) files (\(Report.grouped(pairs)) pairs, 1,000 folders), median of \(runs) runs"
        )
        print("  find ROOT -type f (peer):                  \(Report.fixed(m.find, 3)) s")
        print("  gateway walk (JobdirScanner.scan):         \(Report.fixed(m.walk, 3)) s")
        print(
            "  gateway first scan (walk + queue all):     \(Report.fixed(m.first, 3)) s   (\(Report.grouped(Int(Double(pairs) / m.first))) pairs/s)"
        )
        print("  gateway rescan (walk, all known):          \(Report.fixed(m.rescan, 3)) s")
        print(
            "RESULT scenario=jobdir-scan target=find runs=\(runs) files=\(2 * pairs) seconds=\(Report.fixed(m.find, 4))"
        )
        print(
            "RESULT scenario=jobdir-scan target=jobdir-walk runs=\(runs) files=\(2 * pairs) seconds=\(Report.fixed(m.walk, 4))"
        )
        print(
            "RESULT scenario=jobdir-scan target=jobdir-first-scan runs=\(runs) files=\(2 * pairs) seconds=\(Report.fixed(m.first, 4))"
        )
        print(
            "RESULT scenario=jobdir-scan target=jobdir-rescan runs=\(runs) files=\(2 * pairs) seconds=\(Report.fixed(m.rescan, 4))"
        )
        print(
            "RATIO scenario=jobdir-scan walk/find=\(Report.fixed(m.walk / m.find, 2)) rescan/find=\(Report.fixed(m.rescan / m.find, 2))"
        )
        fflush(nil)
    }

    static func makeTree(_ storage: String, pairs: Int) throws {
        let dump = [UInt8](repeating: 0xAB, count: 512)
        for i in 0..<pairs {
            let dir = "\(storage)/\(i % 10)/\(i / 10 % 10)/\(i / 100 % 10)"
            if i < 1000 { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            let uuid = UUID().uuidString.lowercased()
            for (name, bytes) in [("\(uuid).json", Array("{\"uuid\":\"\(uuid)\"}".utf8)), ("\(uuid).dump", dump)] {
                let fd = open("\(dir)/\(name)", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                guard fd >= 0 else {
                    throw BenchError("cannot write \(dir)/\(name): \(String(cString: strerror(errno)))")
                }
                _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                close(fd)
            }
        }
    }

    /// `find ROOT -type f`: its wall time and the files it printed.
    static func find(_ root: String) throws -> (Double, Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/find")
        process.arguments = [root, "-type", "f"]
        let output = Pipe()
        process.standardOutput = output
        let started = Monotonic.now()
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let seconds = (Monotonic.now() - started)
        guard process.terminationStatus == 0 else {
            throw BenchError("find failed (exit \(process.terminationStatus))")
        }
        return (seconds, data.reduce(0) { $0 + ($1 == 10 ? 1 : 0) })
    }
}
