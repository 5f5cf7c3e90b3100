import Foundation
import Testing

@testable import Plugins

/// A temporary folder with a storage root, a deferred root, and a job store in it. Time is passed
/// to the store explicitly (a manual clock).
final class JobdirFixture {
    let dir: String
    let storage: String
    let deferred: String
    let store: JobStore

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("jobdir-\(UUID().uuidString)").path
        storage = "\(dir)/storage"
        deferred = "\(dir)/deferred"
        for folder in [storage, deferred] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        store = try JobStore(path: "\(dir)/state/jobdir.db")
    }

    deinit {
        store.close()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Writes `<uuid>.json` (and `<uuid>.dump` unless `dump` is false) under `root/sub`.
    @discardableResult
    func pair(
        _ uuid: String = UUID().uuidString.lowercased(), in root: String? = nil, sub: String = "", dump: Bool = true
    ) throws -> String {
        let folder = sub.isEmpty ? (root ?? storage) : "\(root ?? storage)/\(sub)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data("{\"uuid\":\"\(uuid)\"}".utf8).write(to: URL(fileURLWithPath: "\(folder)/\(uuid).json"))
        if dump { try Data(repeating: 7, count: 64).write(to: URL(fileURLWithPath: "\(folder)/\(uuid).dump")) }
        return uuid
    }

    func pairs(_ count: Int) -> [FoundPair] {
        (0..<count).map { i in
            let uuid = String(format: "00000000-0000-4000-8000-%012d", i)
            return FoundPair(uuid: uuid, jsonPath: "/x/\(uuid).json", dumpPath: "/x/\(uuid).dump")
        }
    }
}

@Suite("jobdir store: assignment, dead processors, priority, claims")
struct JobStoreTests {
    @Test("three idle processors and ten new pairs: each is assigned 3 or 4 (A, B, C, A, ...)")
    func tenPairsThreeIdleProcessors() throws {
        let f = try JobdirFixture()
        for name in ["C", "A", "B"] { _ = try f.store.checkIn(name, now: 100) }
        let report = try f.store.insert(f.pairs(10), now: 101)
        #expect(report.queued.count == 10)
        #expect(report.queued.map(\.processor) == ["A", "B", "C", "A", "B", "C", "A", "B", "C", "A"])
        let counts = Dictionary(grouping: report.queued, by: { $0.processor! }).mapValues(\.count)
        #expect(counts.values.allSatisfy { $0 == 3 || $0 == 4 }, "\(counts)")
        #expect(try f.store.processors().map(\.queued) == [4, 3, 3])
    }

    @Test("loads {A: 5, B: 2, C: 0}: six new jobs go C, C, B, C, B, C (fewest first, ties by name), ending B 4, C 4")
    func unevenLoadsBalance() throws {
        let f = try JobdirFixture()
        let pairs = f.pairs(13)
        // The loads are running jobs (claimed): a processor joining later takes a share of queued
        // jobs only (see the rebalancing test).
        _ = try f.store.checkIn("A", now: 0)
        #expect(try f.store.insert(Array(pairs[0..<5]), now: 1).queued.allSatisfy { $0.processor == "A" })
        for _ in 0..<5 { _ = try f.store.claim("A", now: 1) }
        _ = try f.store.checkIn("B", now: 2)
        #expect(try f.store.insert(Array(pairs[5..<7]), now: 3).queued.allSatisfy { $0.processor == "B" })
        for _ in 0..<2 { _ = try f.store.claim("B", now: 3) }
        _ = try f.store.checkIn("C", now: 4)
        let loads = Dictionary(uniqueKeysWithValues: try f.store.processors().map { ($0.name, $0.running) })
        #expect(loads == ["A": 5, "B": 2, "C": 0])
        let report = try f.store.insert(Array(pairs[7..<13]), now: 5)
        // The issue's C, C, C, B, C, B ends with the same loads; ties here go to the first name.
        #expect(report.queued.map(\.processor) == ["C", "C", "B", "C", "B", "C"])
        let final = Dictionary(uniqueKeysWithValues: try f.store.processors().map { ($0.name, $0.queued + $0.running) })
        #expect(final == ["A": 5, "B": 4, "C": 4])
    }

    @Test("a processor silent for twice the check-in time is dead: its unfinished jobs go to live ones, priority kept")
    func deadProcessorLosesJobs() throws {
        let f = try JobdirFixture()
        let checkIn = 300.0
        for name in ["A", "B"] { _ = try f.store.checkIn(name, now: 0) }
        _ = try f.store.insert(f.pairs(6), now: 1)  // A: 0,2,4  B: 1,3,5
        let running = try #require(try f.store.claim("A", now: 2))
        #expect(running.uuid == f.pairs(6)[0].uuid)
        let prioritised = f.pairs(6)[4].uuid
        #expect(try f.store.prioritise(prioritised, now: 3) { nil } == .moved(processor: "A"))
        // B keeps checking in; A goes silent after t=2.
        _ = try f.store.checkIn("B", now: 500)
        var expiry = try f.store.expire(now: 2 + 2 * checkIn - 1, deadAfter: 2 * checkIn)
        #expect(expiry.dead.isEmpty, "not dead before twice the check-in time")
        expiry = try f.store.expire(now: 2 + 2 * checkIn + 1, deadAfter: 2 * checkIn)
        #expect(expiry.dead == ["A"])
        #expect(expiry.requeued == 3, "the running job and the two queued ones")
        #expect(expiry.assigned == 3)
        let processors = try f.store.processors()
        #expect(processors.first { $0.name == "A" }?.alive == false)
        #expect(processors.first { $0.name == "A" }.map { $0.queued + $0.running } == 0)
        #expect(processors.first { $0.name == "B" }?.queued == 6)
        // The priority job is still a priority job: B claims it first.
        let next = try #require(try f.store.claim("B", now: 700))
        #expect(next.uuid == prioritised)
        #expect(next.priority)
        // A comes back and reports its old job: it is not A's any more.
        #expect(throws: JobStore.FinishError.self) {
            _ = try f.store.finish(running.uuid, success: true, message: nil, processor: "A", now: 701)
        }
        let back = try f.store.checkIn("A", now: 702)
        #expect(back.revived)
        #expect(try f.store.totals()["requeued_total"] == 3)
    }

    @Test("a processor joining or coming back gets its share of the queued backlog; running and priority jobs stay")
    func lateProcessorsShareTheBacklog() throws {
        let f = try JobdirFixture()
        let pairs = f.pairs(60)
        _ = try f.store.insert(pairs, now: 0)  // no processor yet: all wait
        _ = try f.store.checkIn("A", now: 1)  // takes all 60
        for _ in 0..<3 { _ = try f.store.claim("A", now: 1) }
        #expect(try f.store.prioritise(pairs[59].uuid, now: 1) { nil } == .moved(processor: "A"))
        let b = try f.store.checkIn("B", now: 2)
        #expect(b.assigned == 30)
        _ = try f.store.checkIn("C", now: 3)
        let loads = try f.store.processors().map { $0.queued + $0.running }
        #expect(loads == [20, 20, 20])
        let a = try #require(try f.store.processors().first)
        #expect(a.running == 3, "running jobs are not moved")
        #expect(try f.store.job(pairs[59].uuid)?.processor == "A", "priority jobs are not moved")
        #expect(try f.store.job(pairs[3].uuid)?.processor == "A", "the oldest queued stay; the newest move")
    }

    @Test("a restarted processor (new instance) gets its running jobs back in its queue; a removed one loses them")
    func restartedAndRemovedProcessors() throws {
        let f = try JobdirFixture()
        _ = try f.store.checkIn("A", instance: "one", now: 0)
        _ = try f.store.checkIn("B", instance: "b", now: 0)
        _ = try f.store.insert(f.pairs(4), now: 1)
        let claimed = try #require(try f.store.claim("A", now: 2))
        #expect(try f.store.checkIn("A", instance: "one", now: 3).restarted == 0)
        #expect(try f.store.checkIn("A", now: 3).restarted == 0, "no instance given: nothing to tell")
        #expect(try f.store.checkIn("A", instance: "two", now: 4).restarted == 1)
        #expect(try f.store.job(claimed.uuid)?.state == .queued)
        #expect(try f.store.claim("A", now: 5)?.uuid == claimed.uuid, "claimed again first (oldest)")
        #expect(try f.store.remove("A", now: 6) == 2)
        #expect(try f.store.processors().map(\.name) == ["B"])
        #expect(try f.store.processors().first?.queued == 4)
        #expect(try f.store.remove("A", now: 6) == nil)
    }

    @Test("a job running longer than the job timeout is requeued; a gateway restart gives processors a new window")
    func jobTimeoutAndResume() throws {
        let f = try JobdirFixture()
        _ = try f.store.checkIn("A", now: 0)
        _ = try f.store.checkIn("B", now: 0)
        _ = try f.store.insert(f.pairs(2), now: 0)
        let stuck = try #require(try f.store.claim("A", now: 10))
        _ = try f.store.checkIn("B", now: 50)
        var expiry = try f.store.expire(now: 60, deadAfter: 600, jobTimeout: 100)
        #expect(expiry.timedOut == 0)
        expiry = try f.store.expire(now: 111, deadAfter: 600, jobTimeout: 100)
        #expect(expiry.timedOut == 1)
        #expect(try f.store.job(stuck.uuid)?.state == .queued)
        // The gateway was down from 111 to 5000: nobody could check in.
        try f.store.resume(now: 5000)
        #expect(try f.store.expire(now: 5001, deadAfter: 600).dead.isEmpty)
        #expect(try f.store.expire(now: 5601, deadAfter: 600).dead == ["A", "B"])
    }

    @Test("with no live processor jobs wait unassigned, and the first check-in takes them")
    func noProcessorJobsWait() throws {
        let f = try JobdirFixture()
        let report = try f.store.insert(f.pairs(4), now: 0)
        #expect(report.queued.allSatisfy { $0.processor == nil })
        #expect(try f.store.jobs(state: .queued, processor: nil, unassigned: true, limit: 10).count == 4)
        let first = try f.store.checkIn("P", now: 1)
        #expect(first.registered)
        #expect(first.assigned == 4)
        #expect(try f.store.jobs(state: .queued, processor: nil, unassigned: true, limit: 10).isEmpty)
    }

    @Test("a uuid already known is not queued twice, even after its cleanup (history)")
    func knownNotQueuedTwice() throws {
        let f = try JobdirFixture()
        _ = try f.store.checkIn("P", now: 0)
        let pairs = f.pairs(3)
        #expect(try f.store.insert(pairs, now: 1).queued.count == 3)
        #expect(try f.store.insert(pairs, now: 2) == JobStore.InsertReport(queued: [], known: 3))
        let job = try #require(try f.store.claim("P", now: 3))
        _ = try f.store.finish(job.uuid, success: true, message: "ok", processor: "P", now: 4)
        try f.store.cleaned(job.uuid, destination: "", now: 5)
        #expect(try f.store.job(job.uuid)?.state == .cleaned)
        #expect(try f.store.insert(pairs, now: 6).known == 3)
        #expect(try f.store.purgeHistory(before: 6) == 1)
        #expect(try f.store.unknown(pairs).map(\.uuid) == [job.uuid], "forgotten once the history is purged")
    }

    @Test("claims: priority first (oldest request first), then oldest; done twice with the same outcome is a repeat")
    func claimOrderAndDone() throws {
        let f = try JobdirFixture()
        _ = try f.store.checkIn("P", now: 0)
        let pairs = f.pairs(4)
        _ = try f.store.insert(pairs, now: 1)
        #expect(try f.store.prioritise(pairs[3].uuid, now: 2) { nil } == .moved(processor: "P"))
        #expect(try f.store.prioritise(pairs[2].uuid, now: 3) { nil } == .moved(processor: "P"))
        var order: [String] = []
        while let job = try f.store.claim("P", now: 4) { order.append(job.uuid) }
        #expect(order == [pairs[3].uuid, pairs[2].uuid, pairs[0].uuid, pairs[1].uuid])
        #expect(try f.store.prioritise(pairs[0].uuid, now: 5) { nil } == .already(.running))
        let done = try f.store.finish(pairs[0].uuid, success: false, message: "bad dump", processor: "P", now: 6)
        #expect(done.job.state == .failed && !done.repeated)
        #expect(try f.store.finish(pairs[0].uuid, success: false, message: "bad dump", processor: nil, now: 7).repeated)
        #expect(
            throws: JobStore.FinishError.alreadyFinished(
                uuid: pairs[0].uuid, state: .failed, by: "P", message: "bad dump")
        ) {
            _ = try f.store.finish(pairs[0].uuid, success: true, message: nil, processor: nil, now: 8)
        }
        #expect(throws: JobStore.FinishError.finishedByAnother(uuid: pairs[0].uuid, by: "P", reporter: "Q")) {
            _ = try f.store.finish(pairs[0].uuid, success: false, message: "bad dump", processor: "Q", now: 8)
        }
        #expect(throws: JobStore.FinishError.unknownJob("ffffffff-0000-4000-8000-000000000000")) {
            _ = try f.store.finish(
                "ffffffff-0000-4000-8000-000000000000", success: true, message: nil, processor: nil, now: 8)
        }
        #expect(throws: JobStore.ClaimError.unknownProcessor("Q")) { _ = try f.store.claim("Q", now: 9) }
        #expect(try f.store.totals()["failed_total"] == 1)
    }

    @Test("priority for an unknown uuid found on disk: queued with priority, round-robin among live processors")
    func priorityRoundRobin() throws {
        let f = try JobdirFixture()
        for name in ["A", "B", "C"] { _ = try f.store.checkIn(name, now: 0) }
        let found = f.pairs(4).map {
            FoundPair(uuid: $0.uuid, jsonPath: $0.jsonPath, dumpPath: $0.dumpPath, origin: .deferred)
        }
        var given: [String?] = []
        for pair in found {
            guard case .queued(let processor, .deferred) = try f.store.prioritise(pair.uuid, now: 1, locate: { pair })
            else {
                Issue.record("not queued")
                return
            }
            given.append(processor)
        }
        #expect(given == ["A", "B", "C", "A"])
        #expect(try f.store.prioritise("ffffffff-0000-4000-8000-000000000001", now: 2) { nil } == .notFound)
    }
}

@Suite("jobdir scanner: pairs at any depth")
struct JobdirScannerTests {
    @Test("pairs are found at any depth; a json without its dump, bad names and excluded folders are not pairs")
    func scanFindsPairs() throws {
        let f = try JobdirFixture()
        let top = try f.pair()
        let deep = try f.pair(sub: "2026/11/21/a/b/c")
        let lonely = try f.pair(sub: "x", dump: false)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(f.storage)/not-a-uuid.json"))
        try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(f.storage)/not-a-uuid.dump"))
        try f.pair(sub: "done/20261121")
        let scanner = JobdirScanner(exclude: ["\(f.storage)/done"])
        let scan = scanner.scan(f.storage)
        #expect(Set(scan.pairs.map(\.uuid)) == [top, deep])
        #expect(scan.pairs.first { $0.uuid == deep }?.dumpPath == "\(f.storage)/2026/11/21/a/b/c/\(deep).dump")
        #expect(scan.incomplete == [lonely])
        #expect(scan.ignored == 2)
        #expect(scan.errors.isEmpty)
        #expect(scanner.scan("\(f.dir)/missing").errors.count == 1)
        #expect(
            scanner.locate(deep, in: f.storage, origin: .storage).pair?.jsonPath
                == "\(f.storage)/2026/11/21/a/b/c/\(deep).json")
        #expect(scanner.locate(deep.uppercased(), in: f.storage, origin: .storage).pair?.uuid == deep, "any case")
        #expect(scanner.locate(lonely, in: f.storage, origin: .storage).pair == nil)
        #expect(scanner.locate(lonely, in: "\(f.dir)/missing", origin: .storage).errors.count == 1)
    }

    @Test("uuid shape: 8-4-4-4-12 hexadecimal digits, any case")
    func uuidShape() {
        #expect(JobdirScanner.isUUID("de1bb258-cbbf-4589-a673-34f800160918"))
        #expect(JobdirScanner.isUUID("DE1BB258-CBBF-4589-A673-34F800160918"))
        #expect(!JobdirScanner.isUUID("de1bb258-cbbf-4589-a673-34f80016091"))
        #expect(!JobdirScanner.isUUID("de1bb258xcbbf-4589-a673-34f800160918"))
        #expect(!JobdirScanner.isUUID("ge1bb258-cbbf-4589-a673-34f800160918"))
        #expect(!JobdirScanner.isUUID("dé1bb258-cbbf-4589-a673-34f80016091"))
    }
}

@Suite("jobdir store: the oldest waiting job")
struct JobStoreOldestWaitingTests {
    @Test("the oldest queued job's time; claimed jobs no longer wait; none when nothing waits")
    func oldestQueuedAt() throws {
        let f = try JobdirFixture()
        #expect(try f.store.oldestQueuedAt() == nil)
        _ = try f.store.checkIn("A", now: 10)
        let pairs = f.pairs(3)
        _ = try f.store.insert([pairs[0]], now: 100)
        _ = try f.store.insert([pairs[1], pairs[2]], now: 200)
        #expect(try f.store.oldestQueuedAt() == 100)
        #expect(try f.store.claim("A", now: 300)?.uuid == pairs[0].uuid)
        #expect(try f.store.oldestQueuedAt() == 200)
        _ = try f.store.claim("A", now: 301)
        _ = try f.store.claim("A", now: 302)
        #expect(try f.store.oldestQueuedAt() == nil)
    }
}
