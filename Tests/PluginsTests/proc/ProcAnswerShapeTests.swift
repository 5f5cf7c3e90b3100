import Foundation
import GatewayCore
import Testing

@testable import Plugins

/// The original server's paths answer in its shapes, which never hold `null`: a metric without
/// samples is left out of get-all's list (as the original merges its two lists); query-alarm, the
/// gateway's own addition, keeps every key and says `null` when unknown.
extension ProcAPITests {
    @Test func legacyAnswers_haveTheOriginalsShapes_andNoNulls() async throws {
        let emitted = EmittedPoints()
        let proc = plugin(emitted)
        let now = Date().timeIntervalSince1970
        let payload: [String: Any] = [
            "ipaddress": "10.2.2.2",
            "data": [["timestamp": now - 5, "value": 12, "process_name": "web", "type_data": "mem"]],
        ]
        let saved = await try route(proc, .put, "/ressources-usage/save-all").handler(
            PluginRequest(body: try body(payload)))
        #expect(String(decoding: saved.body, as: UTF8.self) == #"{"Response":"Ok","saved":1}"#)
        for tap in proc.taps { tap.receive(emitted.all) }

        let means = await try route(proc, .get, "/ressources-usage/get-all").handler(PluginRequest())
        #expect(String(decoding: means.body, as: UTF8.self) == #""{\"web\": [12.0]}""#)

        let alarms = await try route(proc, .get, "/ressources-usage/query-alarm").handler(PluginRequest())
        let list = try #require(try json(alarms) as? [[String: Any]])
        let entry = try #require(list.first)
        #expect(Set(entry.keys) == ["ip", "process", "status", "mem", "cpu", "mem_status", "cpu_status"])
        #expect(entry["cpu"] is NSNull && entry["cpu_status"] is NSNull, "\(entry)")
        #expect(entry["ip"] as? String == "10.2.2.2")

        let usage = await try route(proc, .get, "/api/v1/proc/usage").handler(PluginRequest())
        let object = try #require(try json(usage) as? [String: Any])
        #expect(object["host"] is NSNull, "\(object)")
        let web = try #require((object["processes"] as? [String: Any])?["web"] as? [String: Any])
        #expect(web["cpu_percent"] is NSNull && web["mem_percent"] as? Double == 12, "\(web)")

        let detailed = await try route(proc, .get, "/ressources-usage/get-all-detailed").handler(PluginRequest())
        #expect(String(decoding: detailed.body, as: UTF8.self) == #"{"web":[12]}"#)

        let refused = await try route(proc, .put, "/ressources-usage/save-all").handler(
            PluginRequest(body: Array(#"{"ipaddress": "10.2.2.2", "data": [{"type_data": "disk"}]}"#.utf8)))
        #expect(refused.status == 400)
        let refusal = try #require(try json(refused) as? [String: Any])
        #expect(refusal["Response"] as? String == "NOk", "\(refusal)")
        #expect((refusal["message"] as? String)?.contains("data[0]") == true, "\(refusal)")
    }
}
