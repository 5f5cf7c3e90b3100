import Foundation
import GatewayCore
import Testing

@testable import Plugins

@Suite("jobdir: job names by id_pattern, and repeated or conflicting done reports")
struct JobdirIDTests {
    @Test("with id_pattern, pairs named by it are jobs (case kept), found by priority and reported done by name")
    func idPattern_acceptsNamesThatAreNotUUIDs() async throws {
        let f = try JobdirPluginFixture { $0.idRule = try! JobdirIDRule("report-[0-9]{4}-[A-Za-z]+") }
        for name in ["report-0001-Alpha", "report-0002-beta", "report-3-x", "notes"] {
            try f.files.pair(name, sub: "a")
        }
        try f.files.pair("report-0009-Deferred", in: f.files.deferred)
        #expect(await f.call(.post, "/processors/p1/check-in").status == 200)
        let scan = try #require(await f.plugin.scan())
        #expect(scan.queued == 2 && scan.ignored == 4, "report-3-x and notes (json and dump each) are not jobs")
        #expect(try f.plugin.store.job("report-0001-Alpha")?.jsonPath == "\(f.files.storage)/a/report-0001-Alpha.json")
        let priority = await f.call(.post, "/priority", body: "{\"uuid\": \"report-0009-Deferred\"}")
        #expect(priority.status == 200 && priority.json?["outcome"]?.string == "queued")
        let first = await f.call(.post, "/claim", query: ["processor": "p1"])
        #expect(first.json?["uuid"]?.string == "report-0009-Deferred", "a priority job is claimed first")
        let done = await f.call(.post, "/jobs/report-0009-Deferred/done", body: "{\"success\": true}")
        #expect(done.status == 200)
        let bad = await f.call(.post, "/jobs/report-3-x/done", body: "{\"success\": true}")
        #expect(bad.status == 400)
        #expect(bad.json?["message"]?.string?.contains("expected a name matching the id_pattern report-") == true)
    }

    @Test("by default only uuids are jobs, in any case")
    func theDefault_isUUIDs() async throws {
        let f = try JobdirPluginFixture()
        try f.files.pair("report-0001-Alpha")
        let upper = try f.files.pair(UUID().uuidString.uppercased())
        #expect(await f.call(.post, "/processors/p1/check-in").status == 200)
        let scan = try #require(await f.plugin.scan())
        #expect(scan.queued == 1 && scan.ignored == 2)
        #expect(try f.plugin.store.job(upper.lowercased()) != nil)
        let bad = await f.call(.post, "/jobs/report-0001-Alpha/done", body: "{\"success\": true}")
        #expect(bad.status == 400 && bad.json?["message"]?.string?.contains("8-4-4-4-12 hexadecimal digits") == true)
    }

    @Test("a repeated done gets the first answer again; another outcome or processor gets 409 saying why")
    func repeatedAndConflictingDone() async throws {
        let f = try JobdirPluginFixture()
        let uuid = try f.files.pair()
        #expect(await f.call(.post, "/processors/p1/check-in").status == 200)
        #expect(await f.call(.post, "/processors/p2/check-in").status == 200)
        _ = await f.plugin.scan()
        let owner = try #require(try f.plugin.store.job(uuid)?.processor)
        let other = owner == "p1" ? "p2" : "p1"
        #expect(await f.call(.post, "/claim", query: ["processor": owner]).json?["uuid"]?.string == uuid)
        let report = "{\"success\": true, \"message\": \"ok\", \"processor\": \"\(owner)\"}"
        let first = await f.call(.post, "/jobs/\(uuid)/done", body: report)
        #expect(first.status == 200 && first.json?["repeated"] == .bool(false))
        for phase in ["finished", "cleaned"] {
            let again = await f.call(.post, "/jobs/\(uuid)/done", body: report)
            #expect(again.status == 200 && again.json?["repeated"] == .bool(true), "\(phase)")
            #expect(again.json?["message"]?.string == "ok" && again.json?["success"] == .bool(true), "\(phase)")
            let anonymous = await f.call(.post, "/jobs/\(uuid)/done", body: "{\"success\": true, \"message\": \"x\"}")
            #expect(anonymous.status == 200 && anonymous.json?["message"]?.string == "ok", "the first report stands")
            let conflicting = await f.call(.post, "/jobs/\(uuid)/done", body: "{\"success\": false}")
            #expect(conflicting.status == 409, "\(phase)")
            #expect(
                conflicting.json?["message"]?.string
                    == "job \(uuid) was already reported succeeded by \"\(owner)\" with the message \"ok\"; this report of failure conflicts with it and is not recorded (the first report stands)",
                "\(phase): \(String(describing: conflicting.json))")
            let stranger = await f.call(
                .post, "/jobs/\(uuid)/done", body: "{\"success\": true, \"processor\": \"\(other)\"}")
            #expect(stranger.status == 409, "\(phase)")
            #expect(
                stranger.json?["message"]?.string?.contains("was reported done by \"\(owner)\", not by \"\(other)\"")
                    == true, "\(phase)")
            if phase == "finished" { #expect(await f.plugin.cleanup()?.deleted == 1) }
        }
        #expect(try f.plugin.store.job(uuid)?.state == .cleaned)
    }
}
