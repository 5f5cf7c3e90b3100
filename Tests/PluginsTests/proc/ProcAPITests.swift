import Foundation
import GatewayCore
import Testing

@testable import Plugins

/// The HTTP handlers of the proc plugin, called directly (the end-to-end tests go through the
/// gateway's HTTP server).
@Suite struct ProcAPITests {
    func plugin(_ emitted: EmittedPoints = EmittedPoints()) -> ProcPlugin {
        var settings = ProcSettings()
        settings.collect = false
        settings.ip = "10.1.1.1"
        return ProcPlugin(name: "proc", settings: settings, context: emitted.context)
    }

    func route(_ plugin: ProcPlugin, _ method: PluginRoute.Method, _ path: String) throws -> PluginRoute {
        try #require(plugin.routes.first { $0.method == method && $0.path == path })
    }

    func json(_ response: PluginResponse) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(response.body), options: [.fragmentsAllowed])
    }

    func body(_ object: Any) throws -> [UInt8] { Array(try JSONSerialization.data(withJSONObject: object)) }

    @Test func legacySave_thenGetAll_answersPlainJSONMeans() async throws {
        let emitted = EmittedPoints()
        let proc = plugin(emitted)
        let now = Date().timeIntervalSince1970
        let payload: [String: Any] = [
            "ipaddress": "10.2.2.2",
            "data": [
                ["timestamp": now - 20, "value": 10, "process_name": "db", "type_data": "mem"],
                ["timestamp": now - 20, "value": 0, "process_name": "db", "type_data": "cpu"],
                ["timestamp": now - 10, "value": 20, "process_name": "db", "type_data": "mem"],
                ["timestamp": now - 10, "value": 0, "process_name": "db", "type_data": "cpu"],
            ],
        ]
        let saved = await try route(proc, .put, "/ressources-usage/save-all").handler(
            PluginRequest(body: try body(payload)))
        #expect(saved.status == 200)
        #expect(emitted.all.count == 4)
        #expect(emitted.all.first?.series == "mem_usage_percent")
        #expect(emitted.all.first?.tags == [Tag("ip", "10.2.2.2"), Tag("process", "db")])
        // The gateway's router hands the points to the store through the plugin's tap.
        for tap in proc.taps { tap.receive(emitted.all) }
        // As the original: a JSON string holding Python's json.dumps of the means.
        let all = await try route(proc, .get, "/ressources-usage/get-all").handler(PluginRequest())
        #expect(String(decoding: all.body, as: UTF8.self) == #""{\"db\": [15.0, 0.0]}""#)
        let byIP = await try route(proc, .get, "/ressources-usage/get-all/:ip").handler(
            PluginRequest(parameters: ["ip": "10-2-2-2"]))
        let inner = try #require(
            try JSONSerialization.jsonObject(with: Data(byIP.body), options: .fragmentsAllowed) as? String)
        #expect(try JSONSerialization.jsonObject(with: Data(inner.utf8)) as? [String: [Double]] == ["db": [15, 0]])
        let other = await try route(proc, .get, "/ressources-usage/get-all/:ip").handler(
            PluginRequest(parameters: ["ip": "10-9-9-9"]))
        #expect(String(decoding: other.body, as: UTF8.self) == #""{}""#)
    }

    @Test func legacySave_rejectsAnUnknownTypeData_namingIt_andKeepsNothing() async throws {
        let emitted = EmittedPoints()
        let proc = plugin(emitted)
        let payload: [String: Any] = [
            "ipaddress": "10.2.2.2",
            "data": [
                ["timestamp": 1, "value": 10, "process_name": "db", "type_data": "mem"],
                ["timestamp": 1, "value": 10, "process_name": "db", "type_data": "disk"],
            ],
        ]
        let answer = await try route(proc, .put, "/ressources-usage/save-all").handler(
            PluginRequest(body: try body(payload)))
        #expect(answer.status == 400)
        let message = try #require((try json(answer) as? [String: Any])?["message"] as? String)
        #expect(message.contains("data[1].type_data \"disk\""), "\(message)")
        #expect(emitted.all.isEmpty)
    }

    @Test(arguments: [
        ("not json", "not valid JSON"),
        (#"{"data": []}"#, "ipaddress"),
        (#"{"ipaddress": "1.2.3.4"}"#, "\"data\""),
        (#"{"ipaddress": "1.2.3.4", "data": [{"value": 1, "type_data": "cpu"}]}"#, "data[0].process_name"),
        (
            #"{"ipaddress": "1.2.3.4", "data": [{"value": "x", "process_name": "p", "type_data": "cpu"}]}"#,
            "data[0].value"
        ),
        (
            #"{"ipaddress": "1.2.3.4", "data": [{"value": 1, "process_name": "p", "type_data": "cpu", "timestamp": "yesterday"}]}"#,
            "data[0].timestamp"
        ),
        (
            #"{"ipaddress": "1.2.3.4", "data": [{"value": -3, "process_name": "p", "type_data": "cpu"}]}"#,
            "data[0].value -3.0 is negative"
        ),
        (
            #"{"ipaddress": "1.2.3.4", "data": [{"value": 1, "process_name": "p", "type_data": "cpu", "timestamp": 7258118400}]}"#,
            "more than 5 minutes ahead"
        ),
    ])
    func legacySave_badPayloads_get400NamingWhatIsWrong(body: String, fragment: String) async throws {
        let proc = plugin()
        let answer = await try route(proc, .put, "/ressources-usage/save-all").handler(
            PluginRequest(body: Array(body.utf8)))
        #expect(answer.status == 400)
        #expect(
            String(decoding: answer.body, as: UTF8.self).contains(fragment.replacingOccurrences(of: "\"", with: "\\\""))
        )
    }

    @Test func legacyTimestamps_epochSecondsOrISO8601() throws {
        let body =
            #"{"ipaddress": "h", "data": [{"timestamp": 1700000000.5, "value": 1, "process_name": "p", "type_data": "cpu"}, {"timestamp": "2023-11-14T22:13:20Z", "value": 1, "process_name": "p", "type_data": "mem"}, {"value": 1, "process_name": "p", "type_data": "mem"}]}"#
        let receive: Int64 = 1_800_000_000_000_000_000
        let points = try ProcAPI.legacyPoints(Array(body.utf8), receiveTime: receive).get()
        #expect(points.map(\.time) == [1_700_000_000_500_000_000, 1_700_000_000_000_000_000, receive])
        // Python's isoformat() without a zone (UTC), with and without microseconds.
        #expect(ProcAPI.parseDate("2023-11-14T22:13:20.250000") == 1_700_000_000_250_000_000)
        #expect(ProcAPI.parseDate("2023-11-14 22:13:20") == 1_700_000_000_000_000_000)
    }

    @Test func usageAndAlarms_validateTheirParameters() async throws {
        let proc = plugin()
        let bad = await try route(proc, .get, "/api/v1/proc/usage").handler(
            PluginRequest(query: ["window": "fortnight"]))
        #expect(bad.status == 400)
        #expect(String(decoding: bad.body, as: UTF8.self).contains("window"))
        let tooLong = await try route(proc, .get, "/api/v1/proc/alarms").handler(PluginRequest(query: ["window": "1d"]))
        #expect(tooLong.status == 400)
        let badHorizon = await try route(proc, .get, "/api/v1/proc/alarms").handler(
            PluginRequest(query: ["horizon": "-5m"]))
        #expect(badHorizon.status == 400)
        // A duration too long for 64-bit nanoseconds is a 400, not a crash.
        let huge = await try route(proc, .get, "/api/v1/proc/usage").handler(
            PluginRequest(query: ["window": "200000d"]))
        #expect(huge.status == 400)
        // The horizon is a projection, not history: it may exceed the store's window.
        let far = await try route(proc, .get, "/api/v1/proc/alarms").handler(PluginRequest(query: ["horizon": "6h"]))
        #expect(far.status == 200)
    }

    @Test func detailedAndAlarms_showTheValuesBehindThem() async throws {
        let proc = plugin()
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        var points: [Point] = []
        for i in 0..<7 {
            points.append(
                Point(
                    series: "process_usage", time: now - Int64(60 - i * 10) * second,
                    tags: [Tag("host", "10.3.3.3"), Tag("process", "grow")],
                    fields: [
                        Field("cpu_percent", .float(1)), Field("mem_percent", .float(54 + Double(i))),
                        Field("rss_bytes", .int(100)),
                    ]))
        }
        for tap in proc.taps { tap.receive(points) }
        let detailed = await try route(proc, .get, "/api/v1/proc/usage/detailed").handler(
            PluginRequest(query: ["process": "grow"]))
        let series = try #require((try json(detailed) as? [String: Any])?["series"] as? [[String: Any]])
        #expect(series.count == 1)
        #expect((series[0]["samples"] as? [[String: Any]])?.count == 7)
        let alarms = await try route(proc, .get, "/api/v1/proc/alarms").handler(PluginRequest())
        let object = try #require(try json(alarms) as? [String: Any])
        let list = try #require(object["alarms"] as? [[String: Any]])
        #expect(list.first?["level"] as? String == "AMBER")
        let mem = try #require(list.first?["mem"] as? [String: Any])
        #expect(mem["latest"] as? Double == 60)
        #expect(abs((mem["projected"] as? Double ?? 0) - 90) < 0.5)
        #expect((object["counts"] as? [String: Int])?["AMBER"] == 1)
        let legacy = await try route(proc, .get, "/ressources-usage/query-alarm").handler(PluginRequest())
        let entries = try #require(try json(legacy) as? [[String: Any]])
        #expect(entries.first?["status"] as? String == "AMBER")
        #expect(entries.first?["ip"] as? String == "10.3.3.3")
    }

    /// This gateway's own points carry `host=<its name>` (the gateway's default tag) and `ip=<its
    /// address>`: the original paths find them by the address, the new API by the host name.
    @Test func ownPoints_areFoundByAddressOnTheOriginalPaths_andByHostNameOnTheAPI() async throws {
        let proc = plugin()
        #expect(proc.host == nil && proc.ip == "10.1.1.1")
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        let point = Point(
            series: "process_usage", time: now - 5 * second,
            tags: [Tag("host", "web1"), Tag("ip", "10.1.1.1"), Tag("process", "db")],
            fields: [Field("cpu_percent", .float(30)), Field("mem_percent", .float(12))])
        for tap in proc.taps { tap.receive([point]) }
        let byIP = try await route(proc, .get, "/ressources-usage/get-all/:ip").handler(
            PluginRequest(parameters: ["ip": "10-1-1-1"]))
        #expect(String(decoding: byIP.body, as: UTF8.self) == #""{\"db\": [12.0, 30.0]}""#)
        let byName = try await route(proc, .get, "/ressources-usage/get-all/:ip").handler(
            PluginRequest(parameters: ["ip": "web1"]))
        #expect(String(decoding: byName.body, as: UTF8.self) == #""{}""#)
        let detailed = try await route(proc, .get, "/ressources-usage/get-all-detailed").handler(
            PluginRequest(query: ["ip": "10-1-1-1"]))
        #expect(try json(detailed) as? [String: [Double]] == ["db": [12]])
        let otherHost = try await route(proc, .get, "/ressources-usage/get-all-detailed").handler(
            PluginRequest(query: ["ip": "10-9-9-9"]))
        #expect(String(decoding: otherHost.body, as: UTF8.self) == "{}")
        let usage = try await route(proc, .get, "/api/v1/proc/usage").handler(PluginRequest(query: ["host": "web1"]))
        let processes = try #require((try json(usage) as? [String: Any])?["processes"] as? [String: Any])
        #expect(processes.keys.sorted() == ["db"])
        let hosts = try await route(proc, .get, "/api/v1/proc/hosts").handler(PluginRequest())
        #expect((try json(hosts) as? [String: [String]])?["hosts"] == ["web1"])
    }
}
