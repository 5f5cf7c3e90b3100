import Foundation
import Testing

/// The proc plugin in the real binary: its HTTP API on the gateway's listener, points forwarded
/// from a second gateway (another process on this machine with its own host tag), the original
/// monitor's paths, alarm transitions as points, and its configuration checks.
@Suite(.serialized, .tags(.slow)) struct ProcPluginEndToEndTests {
    static func plugin(_ settings: String) -> String {
        """
        plugins:
          proc: {type: proc, \(settings)}
        """
    }

    func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }

    /// Polls `path` until `done` holds for its JSON (or 20 s pass); returns the last answer.
    func poll(_ gateway: GatewayProcess, _ path: String, until done: (Any) -> Bool) async throws -> Any {
        let deadline = ContinuousClock.now + .seconds(20)
        var last: Any = NSNull()
        while ContinuousClock.now < deadline {
            let answer = try await gateway.get(path)
            if answer.status == 200 {
                last = try json(answer.body)
                if done(last) { return last }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return last
    }

    /// The central gateway's own points are tagged `host=<its name>` (the gateway's default tag, as
    /// every other component's) and `ip=<its address>`; the edge sets its `host` in the plugin.
    @Test func pointsForwardedFromASecondGateway_appearUnderItsHost_andFilterByHost() async throws {
        let central = try GatewayProcess(
            config: testConfig(extra: Self.plugin("interval: 1s, ip: 10.77.0.1, alarms: {interval: 1s}")))
        try await central.start()
        // The second gateway: its own collector with another host tag, forwarding everything to the
        // central one's Influx write endpoint.
        let edge = try GatewayProcess(
            config: testConfig(
                sinks: """
                    central: {type: influx2, url: "\(central.baseURL)", org: o, bucket: b, batch_size: 500, flush_interval: 200ms}
                    """,
                routes: "- {to: [central]}",
                extra: Self.plugin("interval: 1s, host: edge, ip: 10.77.0.2, serve: false")))
        try await edge.start()

        let forwarded = try await poll(central, "/api/v1/proc/usage?host=edge") { answer in
            let processes = (answer as? [String: Any])?["processes"] as? [String: Any] ?? [:]
            return (processes["gateway"] as? [String: Any])?["cpu_percent"] is Double
        }
        let processes = try #require((forwarded as? [String: Any])?["processes"] as? [String: [String: Any]])
        let gateway = try #require(processes["gateway"])
        #expect(gateway["hosts"] as? [String] == ["edge"])
        #expect((gateway["mem_percent"] as? Double ?? 0) > 0)

        let hosts = try await poll(central, "/api/v1/proc/hosts") { answer in
            ((answer as? [String: Any])?["hosts"] as? [String])?.count == 2
        }
        #expect((hosts as? [String: Any])?["hosts"] as? [String] == ["edge", "testhost"])
        // The original server's per-host path takes the address (the ip tag) with hyphens; its answer is
        // a JSON string holding the object, as the original's.
        func legacyMeans(_ text: String) throws -> [String: [Double]]? {
            guard let inner = try json(text) as? String else { return nil }
            return try JSONSerialization.jsonObject(with: Data(inner.utf8)) as? [String: [Double]]
        }
        let legacy = try legacyMeans(try await central.get("/ressources-usage/get-all/10-77-0-2").body)
        #expect(legacy?["gateway"]?.count == 2)
        let own = try await poll(central, "/ressources-usage/get-all/10-77-0-1") { answer in
            guard let inner = answer as? String else { return false }
            return inner.contains("\"gateway\"")
        }
        #expect(
            (try legacyMeans(
                String(
                    decoding: try JSONSerialization.data(withJSONObject: own, options: .fragmentsAllowed), as: UTF8.self
                )))?["gateway"]?.count == 2)
        let byName = try await central.get("/ressources-usage/get-all/edge")
        #expect(byName.body == #""{}""#)
        let nobody = try await central.get("/api/v1/proc/usage?host=10.99.99.99")
        #expect(((try json(nobody.body) as? [String: Any])?["processes"] as? [String: Any])?.isEmpty == true)
        let detailed = try json(try await central.get("/api/v1/proc/usage/detailed?host=edge&process=gateway").body)
        let series = try #require((detailed as? [String: Any])?["series"] as? [[String: Any]])
        #expect(series.count == 1)
        #expect(series.first?["host"] as? String == "edge")

        // Plugin points count as received from `plugin:proc` on the edge, and arrive over HTTP centrally.
        #expect(try await edge.metric("gateway_points_received_total", ["listener": "plugin:proc"]) > 0)
        #expect(try await central.metric("gateway_points_received_total", ["listener": "http"]) > 0)
        let status = try #require(try json(try await central.get("/api/v1/status").body) as? [String: Any])
        let plugin = try #require((status["plugins"] as? [String: Any])?["proc"] as? [String: Any])
        #expect(plugin["ip"] as? String == "10.77.0.1")
        #expect(plugin["host"] == nil)
        #expect((plugin["passes"] as? Int ?? 0) >= 1)
        #expect(((plugin["last_pass"] as? [String: Any])?["processes"] as? Int ?? 0) > 0)
        #expect(try await edge.stop() == 0)
        #expect(try await central.stop() == 0)
        #expect(central.stdout.contains("process_usage,host=edge,ip=10.77.0.2,process=gateway "))
        #expect(central.stdout.contains("process_usage,host=testhost,ip=10.77.0.1,process=gateway "))
    }

    /// The original collector's PUT and the original alarm client's reads, run as Python with
    /// `requests` exactly as those programs do, against the gateway.
    @Test func originalClients_putAndReadAsAgainstTheOriginalServer() async throws {
        let script = try #require(
            Bundle.module.url(forResource: "original_resource_clients", withExtension: "py", subdirectory: "Scripts"))
        let gateway = try GatewayProcess(config: testConfig(extra: Self.plugin("collect: false")))
        try await gateway.start()
        let python = Process()
        python.executableURL = GatewayProcess.packageRoot.appendingPathComponent(".venv/bin/python3")
        python.arguments = [script.path, gateway.baseURL]
        let output = Pipe()
        let errors = Pipe()
        python.standardOutput = output
        python.standardError = errors
        try python.run()
        let text = output.fileHandleForReading.readDataToEndOfFile()
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        python.waitUntilExit()
        #expect(python.terminationStatus == 0, "\(problems)")
        let seen = try #require(try JSONSerialization.jsonObject(with: text) as? [String: Any], "\(problems)")
        let put = try #require(seen["put"] as? [String: Any])
        #expect(put["status"] as? Int == 200)
        #expect((put["body"] as? [String: Any])?["Response"] as? String == "Ok", "\(put)")
        // get-all is a JSON string holding the object; [0] is memory, [1] CPU.
        #expect(seen["get_all_type"] as? String == "str")
        let expected: [String: [Double]] = ["db": [15, 2], "hot": [85, 3], "ünï": [1, 0]]
        #expect(seen["get_all"] as? [String: [Double]] == expected, "\(seen)")
        #expect(seen["alerts"] as? [String] == ["hot"])
        #expect(seen["get_all_ip"] as? [String: [Double]] == expected)
        #expect((seen["get_all_other_ip"] as? [String: Any])?.isEmpty == true)
        #expect(seen["detailed"] as? [String: [Double]] == ["db": [10, 20], "hot": [85], "ünï": [1]], "\(seen)")

        let bad =
            #"{"ipaddress": "10.5.5.5", "data": [{"timestamp": 1, "value": 5, "process_name": "db", "type_data": "disk"}]}"#
        let refused = try await gateway.send(.PUT, "/ressources-usage/save-all", body: Array(bad.utf8))
        #expect(refused.status == 400)
        #expect(refused.body.contains(#""Response":"NOk""#), "\(refused.body)")
        #expect(refused.body.contains(#"data[0].type_data \"disk\" is not one of cpu, mem"#), "\(refused.body)")
        #expect(try await gateway.stop() == 0)
        // The saved values went through the pipeline too, in the original monitor's series.
        let lines = gateway.stdoutLines.filter {
            $0.hasPrefix("mem_usage_percent,host=testhost,ip=10.8.8.8,process=db value=")
        }
        #expect(lines.count == 2, "\(gateway.stdoutLines)")
    }

    @Test func alarmTransitions_becomeProcessAlarmPoints_andShowInTheAlarmsAPI() async throws {
        let gateway = try GatewayProcess(
            config: testConfig(extra: Self.plugin("collect: false, alarms: {interval: 200ms}")))
        try await gateway.start()
        let now = Date().timeIntervalSince1970
        let body =
            #"{"ipaddress": "10.6.6.6", "data": [{"timestamp": \#(now), "value": 80.01, "process_name": "hot", "type_data": "cpu"}, {"timestamp": \#(now), "value": 80.0, "process_name": "edge", "type_data": "cpu"}]}"#
        #expect(try await gateway.send(.PUT, "/ressources-usage/save-all", body: Array(body.utf8)).status == 200)
        let alarms = try await poll(gateway, "/api/v1/proc/alarms") { answer in
            ((answer as? [String: Any])?["counts"] as? [String: Int])?["RED"] == 1
        }
        let list = try #require((alarms as? [String: Any])?["alarms"] as? [[String: Any]])
        let levels = Dictionary(
            uniqueKeysWithValues: list.map { ($0["process"] as? String ?? "", $0["level"] as? String ?? "") })
        #expect(levels == ["hot": "RED", "edge": "GREEN"])
        let legacyAlarms = try await gateway.get("/ressources-usage/query-alarm/")
        let deadline = ContinuousClock.now + .seconds(10)
        while !gateway.stdout.contains("process_alarm,"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await gateway.stop() == 0)
        let alarmLines = gateway.stdoutLines.filter { $0.hasPrefix("process_alarm,") }
        #expect(alarmLines.count == 1, "\(alarmLines)")
        let line = try #require(alarmLines.first)
        #expect(line.contains("host=10.6.6.6,level=RED,metric=cpu,previous=GREEN,process=hot "), "\(line)")
        #expect(line.contains("value=80.01"))
        #expect(gateway.stderr.contains("process alarm RED"))
        // The original server's alarm path, with its trailing slash, answered before the stop above.
        #expect(legacyAlarms.status == 200)
        #expect(legacyAlarms.body.contains(#""status":"RED""#), "\(legacyAlarms.body)")
    }

    @Test func withAListenerToken_writesNeedIt_readsDoNot() async throws {
        let gateway = try GatewayProcess(
            config: testConfig(extra: Self.plugin("collect: false"), http: #"token: "s3cret""#))
        try await gateway.start()
        let body = Array(#"{"ipaddress": "10.5.5.5", "data": []}"#.utf8)
        #expect(try await gateway.send(.PUT, "/ressources-usage/save-all", body: body).status == 401)
        #expect(
            try await gateway.send(
                .PUT, "/ressources-usage/save-all", body: body, headers: [("Authorization", "Token s3cret")]
            ).status
                == 200)
        #expect(try await gateway.get("/ressources-usage/get-all").status == 200)
        #expect(try await gateway.get("/api/v1/proc/usage?window=nonsense").status == 400)
        #expect(try await gateway.stop() == 0)
    }
}
