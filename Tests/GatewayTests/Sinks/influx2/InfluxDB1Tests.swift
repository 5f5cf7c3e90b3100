import Foundation
import Testing

/// The `influx2` sink with `api: v1` against a real InfluxDB 1.x (Debian's `influxdb`): what a client
/// sends to the gateway is what InfluxDB stores, read back through `/query` and compared with the same
/// lines written to InfluxDB directly.
@Suite(.serialized, .tags(.slow)) struct InfluxDB1Tests {
    /// The escape cases of InfluxDB's line-protocol reference in each position, field types, and
    /// unicode; one series and time per line, so rows compare one to one.
    static let corpus = [
        #"esc1,path=C:\Temp\x v=1 1000000001"#,
        #"esc2,k=a\ b v=1 1000000002"#,
        #"esc3,k=a\,b v=1 1000000003"#,
        #"esc4,k=a\=b v=1 1000000004"#,
        #"esc5,k=a\\b v=1 1000000005"#,
        #"esc6,k=a\\\,b v=1 1000000006"#,
        #"esc7\ x,k=v v=1 1000000007"#,
        #"esc8\,x,k=v v=1 1000000008"#,
        #"esc9\\x,k=v v=1 1000000009"#,
        #"esc10,k=v f\ x=1,g\,y=2,h\=z=3 1000000010"#,
        #"esc11,k=v s="a\"b" 1000000011"#,
        #"esc12,k=v s="a\\b" 1000000012"#,
        #"esc13,k=v s="a\b" 1000000013"#,
        #"esc14,k=v s="a\\\"b" 1000000014"#,
        #"esc15,k=ü,温度=東京 v="é🙂" 1000000015"#,
        #"esc16,k\ x=v v=1 1000000016"#,
        #"esc17,k=v\=x v=1 1000000017"#,
        #"esc18 i=-9223372036854775808i,f=1.5e-300,b=true,t=F,s="" 1000000018"#,
        #"esc19,z=1,a=2 quoted="say \"hi\", then go",n=0i 1000000019"#,
    ]

    func gateway(_ influx: InfluxDB1, database: String, extraSink: String = "") throws -> GatewayProcess {
        let sink =
            "influx: {type: influx2, api: v1, url: \"\(influx.url)\", database: \(database), batch_size: 500, flush_interval: 100ms\(extraSink)}"
        // No default host tag, so the stored rows are exactly the client's.
        let config = testConfig(sinks: sink, routes: "- {to: [influx]}")
            .replacingOccurrences(of: "name: testhost", with: "name: \"\"")
        return try GatewayProcess(config: config)
    }

    @Test func escapeCorpus_overHTTPAndUDP_isStoredAsTheSameLinesWrittenDirectly() async throws {
        let influx = try InfluxDB1()
        try await influx.start()
        for db in ["direct", "viahttp", "viaudp"] { try await influx.query("CREATE DATABASE \(db)") }
        let body = Self.corpus.joined(separator: "\n") + "\n"
        let direct = try await influx.request("POST", "/write?db=direct", body: body)
        #expect(direct.status == 204, "\(direct.body)")

        let viaHTTP = try gateway(influx, database: "viahttp")
        try await viaHTTP.start()
        let answer = try await viaHTTP.post("/write?db=ignored", body)
        #expect(answer.status == 204, "\(answer.body)")
        let viaUDP = try gateway(influx, database: "viaudp")
        try await viaUDP.start()
        for line in Self.corpus { try viaUDP.sendUDP(line + "\n") }

        let expected = try await influx.rows(db: "direct")
        #expect(expected.count == Self.corpus.count, "\(expected)")
        for db in ["viahttp", "viaudp"] {
            var rows: [String] = []
            let deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline {
                rows = try await influx.rows(db: db)
                if rows.count >= expected.count { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(rows == expected, "\(db) stored differently:\n\(Set(rows).symmetricDifference(expected).sorted())")
        }
        // A line InfluxDB refuses (an unescaped `=` in a tag value) the gateway refuses too, naming it.
        let refusedLine = #"bad,m=a=b v=1 1"#
        let refusedDirect = try await influx.request("POST", "/write?db=direct", body: refusedLine + "\n")
        let refusedGateway = try await viaHTTP.post("/write", refusedLine + "\n")
        #expect(refusedDirect.status == 400 && refusedGateway.status == 400, "\(refusedDirect) \(refusedGateway)")
        #expect(try await viaHTTP.stop() == 0)
        #expect(try await viaUDP.stop() == 0)
        try await influx.stop()
    }

    /// A field-type conflict: InfluxDB 1.x answers 400 naming the line and writes the rest; the sink
    /// dead-letters exactly that line, and everything else is stored.
    @Test func aFieldTypeConflict_deadLettersExactlyThatLine_andTheRestIsStored() async throws {
        let influx = try InfluxDB1()
        try await influx.start()
        try await influx.query("CREATE DATABASE conflict")
        #expect(try await influx.request("POST", "/write?db=conflict", body: "typed v=1 1\n").status == 204)
        let gateway = try gateway(influx, database: "conflict")
        try await gateway.start()
        var lines = (2...50).map { "typed v=\($0) \($0)" }
        lines.insert(#"typed v="text" 25000"#, at: 20)
        let answer = try await gateway.post("/write", lines.joined(separator: "\n") + "\n")
        #expect(answer.status == 204, "\(answer.body)")
        var dead = 0.0
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            dead = try await gateway.metric("gateway_points_dead_lettered_total", ["sink": "influx"])
            if dead >= 1 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(dead == 1)
        let rows = try await influx.rows(db: "conflict")
        #expect(rows.count == 50, "\(rows.count) rows")
        #expect(!rows.contains { $0.contains("text") })
        #expect(try await gateway.stop() == 0)
        try await influx.stop()
    }
}

extension InfluxDB1Tests {
    /// 50,000 points/s over HTTP for 45 s; InfluxDB is stopped from 10 s to 40 s. Every point the
    /// gateway acknowledged is in InfluxDB once it is back, counted through `/query`.
    @Test func outage_50kPerSecond_influxDownFor30s_everyPointStoredAfterItReturns() async throws {
        let influx = try InfluxDB1()
        try await influx.start()
        try await influx.query("CREATE DATABASE outage")
        let sink =
            "influx: {type: influx2, api: v1, url: \"\(influx.url)\", database: outage, batch_size: 5000, flush_interval: 200ms, queue_size: 1000000}"
        let gateway = try GatewayProcess(
            config: testConfig(sinks: sink, routes: "- {to: [influx]}"), binary: GatewayProcess.releaseBinary)
        try await gateway.start()
        let perBody = 5_000
        let bodies = 450  // 10 per second for 45 s
        let base: Int64 = 1_700_000_000_000_000_000
        let start = ContinuousClock.now
        var stopped = false
        var restart: Task<Void, any Error>?
        for body in 0..<bodies {
            let lines = (0..<perBody).map { i -> String in
                let n = body * perBody + i
                return "outage,k=\(n % 10) v=\(n)i \(base + Int64(n))"
            }
            let answer = try await gateway.post("/write?precision=ns", lines.joined(separator: "\n"))
            try #require(answer.status == 204, "body \(body): \(answer.status) \(answer.body)")
            let elapsed = ContinuousClock.now - start
            if !stopped, elapsed >= .seconds(10) {
                try await influx.stop()
                stopped = true
            }
            if stopped, restart == nil, elapsed >= .seconds(40) {
                restart = Task { try await influx.start() }
            }
            let due = start + .milliseconds(100 * (body + 1))
            if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
        }
        if restart == nil { restart = Task { try await influx.start() } }
        try await restart?.value
        let total = bodies * perBody
        var stored = 0
        let deadline = ContinuousClock.now + .seconds(300)
        while ContinuousClock.now < deadline {
            let answer = try await influx.query("SELECT count(v) FROM outage", db: "outage")
            if let range = answer.range(of: #"\[\[\d+,(\d+)\]\]"#, options: .regularExpression) {
                stored = Int(answer[range].split(separator: ",").last?.dropLast(2) ?? "") ?? 0
            }
            if stored >= total { break }
            try await Task.sleep(for: .seconds(1))
        }
        let spooled = try await gateway.metric("gateway_points_spooled_total", ["sink": "influx"])
        let dropped = try await gateway.metric("gateway_points_dropped_total", ["sink": "influx"])
        let deadLettered = try await gateway.metric("gateway_points_dead_lettered_total", ["sink": "influx"])
        let summary =
            "acknowledged \(total), stored \(stored), spooled \(spooled), dropped \(dropped), dead-lettered \(deadLettered)"
        #expect(stored == total, "\(summary)")
        #expect(spooled > 0, "the outage must have gone through the spool: \(summary)")
        #expect(dropped == 0 && deadLettered == 0, "\(summary)")
        #expect(try await gateway.stop() == 0)
        try await influx.stop()
    }
}
