import CompressNIO
import Foundation
import NIOCore
import Testing

/// The HTTP listener against the real binary: InfluxDB's write contract, JSON points, limits, auth.
@Suite(.serialized) struct HTTPWriteTests {
    @Test func v2Write_answers204_andTheStdoutSinkPrintsThePointWithDefaultHostTag() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        let result = try await gateway.post(
            "/api/v2/write?org=o&bucket=b&precision=s", "cpu,region=eu usage=0.5,n=3i,ok=t,s=\"x y\" 1700000000\n")
        #expect(result.status == 204)
        #expect(try await gateway.stop() == 0)
        #expect(
            gateway.stdoutLines == [#"cpu,host=testhost,region=eu usage=0.5,n=3i,ok=true,s="x y" 1700000000000000000"#])
    }

    @Test func v1Write_acceptsDbAndPrecisionAsInfluxDBDoes() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        let result = try await gateway.post("/write?db=telegraf&precision=ms", "mem,host=h free=12u 1700000000123\n")
        #expect(result.status == 204)
        try await gateway.stop()
        #expect(gateway.stdoutLines == ["mem,host=h free=12u 1700000000123000000"])
    }

    /// Each malformed input gets a 400 with InfluxDB's JSON error body naming the line, and nothing of
    /// the batch is written; the gateway goes on serving.
    @Test(arguments: [
        ("cpu value=\"open", "unterminated string", "unterminated_string"),
        ("cpu\\", "backslash", "bad_escape"),
        ("cpu", "fields", "no_fields"),
        ("cpu,a=1,a=2 v=1", "duplicate tag key", "duplicate_key"),
        ("cpu v=99999999999999999999i", "64-bit", "integer_overflow"),
        (",a=1 v=1", "empty measurement", "empty_name"),
        ("cpu v=1 12ab", "timestamp", "invalid_timestamp"),
        ("cpu v=tru", "boolean", "syntax"),
        ("cpu v=1.2.3", "invalid number", "invalid_number"),
    ])
    func malformedLine_answers400NamingTheLine_andWritesNothing(line: String, message: String, reason: String)
        async throws
    {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        let body = "good v=1 1\n\(line)\ngood v=2 2\n"
        let result = try await gateway.post("/api/v2/write", body)
        #expect(result.status == 400)
        #expect(result.body.contains(#""code":"invalid""#))
        #expect(result.body.contains(#""line":2"#))
        #expect(result.body.contains(message), "\(result.body)")
        #expect(try await gateway.metric("gateway_points_rejected_total", ["reason": reason]) == 1)
        #expect(try await gateway.metric("gateway_points_rejected_total", ["reason": "batch_rejected"]) == 2)
        // The gateway goes on serving.
        #expect(try await gateway.post("/api/v2/write", "after v=1 3\n").status == 204)
        try await gateway.stop()
        #expect(gateway.stdoutLines == ["after,host=testhost v=1 3"])
    }

    @Test func unknownPrecision_answers400_onBothWriteEndpoints() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        let v2 = try await gateway.post("/api/v2/write?precision=fortnights", "a v=1 1\n")
        #expect(v2.status == 400)
        #expect(v2.body.contains("invalid precision"))
        #expect(
            try await gateway.post("/api/v1/points?precision=xs", #"{"series":"a","fields":{"v":1}}"#).status == 400)
        try await gateway.stop()
        #expect(gateway.stdoutLines.isEmpty)
    }

    @Test func invalidUTF8_answers400() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        let result = try await gateway.post(
            "/api/v2/write", body: Array("cpu,t=".utf8) + [0xC3, 0x28] + Array(" v=1\n".utf8))
        #expect(result.status == 400)
        #expect(result.body.contains("UTF-8"))
        #expect(try await gateway.metric("gateway_points_rejected_total", ["reason": "invalid_utf8"]) == 1)
        try await gateway.stop()
    }

    @Test func stringOver64KiB_answers400() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        let result = try await gateway.post("/api/v2/write", "cpu s=\"\(String(repeating: "x", count: 65_537))\"\n")
        #expect(result.status == 400)
        #expect(result.body.contains("over the limit"))
        try await gateway.stop()
    }

    @Test func token_isRequiredWhenConfigured_inEachOfInfluxDBsForms() async throws {
        let gateway = try GatewayProcess(config: testConfig(http: "token: s3cret"))
        try await gateway.start()
        #expect(try await gateway.post("/api/v2/write", "a v=1\n").status == 401)
        #expect(
            try await gateway.post("/api/v2/write", "a v=1\n", headers: [("Authorization", "Token wrong")]).status
                == 401)
        let missing = try await gateway.post("/api/v2/write", "a v=1\n")
        #expect(missing.body.contains(#""code":"unauthorized""#))
        #expect(
            try await gateway.post("/api/v2/write", "a v=1 1\n", headers: [("Authorization", "Token s3cret")]).status
                == 204)
        #expect(
            try await gateway.post("/api/v2/write", "a v=2 2\n", headers: [("Authorization", "Bearer s3cret")]).status
                == 204)
        let basic = Data("user:s3cret".utf8).base64EncodedString()
        #expect(
            try await gateway.post("/write?db=x", "a v=3 3\n", headers: [("Authorization", "Basic \(basic)")]).status
                == 204)
        #expect(try await gateway.post("/write?db=x&u=user&p=s3cret", "a v=4 4\n").status == 204)
        #expect(try await gateway.metric("gateway_http_unauthorized_total") == 3)
        try await gateway.stop()
        #expect(gateway.stdoutLines.count == 4)
    }

    @Test func bodyOverTheLimit_answers413_compressedOrNot() async throws {
        let gateway = try GatewayProcess(config: testConfig(http: "max_body: 64KiB"))
        try await gateway.start()
        let big = String(repeating: "cpu,host=aaaaaaaaaaaaaaaaaaaa value=1.0 1\n", count: 2000)  // ~80 KB
        let plain = try await gateway.post("/api/v2/write", big)
        #expect(plain.status == 413)
        #expect(plain.body.contains("request too large"))
        // Compresses to a few hundred bytes but inflates past the limit: refused too.
        var buffer = ByteBuffer(string: big)
        let gzipped = try buffer.compress(with: .gzip())
        #expect(gzipped.readableBytes < 65_536)
        let bomb = try await gateway.post(
            "/api/v2/write", body: Array(buffer: gzipped), headers: [("Content-Encoding", "gzip")])
        #expect(bomb.status == 413)
        #expect(bomb.body.contains("decompressed"))
        try await gateway.stop()
    }

    @Test func gzipBody_isAccepted() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        var buffer = ByteBuffer(string: "z,k=v x=1i 5\nz,k=v x=2i 6\n")
        let gzipped = try buffer.compress(with: .gzip())
        let result = try await gateway.post(
            "/api/v2/write", body: Array(buffer: gzipped), headers: [("Content-Encoding", "gzip")])
        #expect(result.status == 204)
        let corrupt = try await gateway.post(
            "/api/v2/write", body: [0x1f, 0x8b, 1, 2, 3], headers: [("Content-Encoding", "gzip")])
        #expect(corrupt.status == 400)
        try await gateway.stop()
        #expect(gateway.stdoutLines == ["z,host=testhost,k=v x=1i 5", "z,host=testhost,k=v x=2i 6"])
    }

    /// A gzip body cut at any byte is refused whole with 400 and the reason; nothing of it is written
    /// (it used to decode as far as it went: a cut `987i` became the float `9`). Damaged trailers and
    /// stray bytes are refused too; members written back to back are one body.
    @Test func truncatedOrDamagedGzipBody_answers400_andWritesNothing() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        let text = "cpu,host=a usage=987i 1700000000000000000\ncpu,host=b usage=12.5 1700000000000000001\n"
        var buffer = ByteBuffer(string: text)
        let body = Array(buffer: try buffer.compress(with: .gzip()))
        for cut in 0..<body.count {
            let result = try await gateway.post(
                "/api/v2/write", body: Array(body[0..<cut]), headers: [("Content-Encoding", "gzip")])
            #expect(result.status == 400, "cut at \(cut) of \(body.count): \(result.status) \(result.body)")
            #expect(result.body.contains(#""code":"invalid""#))
            #expect(result.body.contains(cut == 0 ? "the body is empty" : "cut short"), "\(result.body)")
        }
        var damaged = body
        damaged[damaged.count - 8] ^= 0x01
        let crc = try await gateway.post("/api/v2/write", body: damaged, headers: [("Content-Encoding", "gzip")])
        #expect(crc.status == 400)
        #expect(crc.body.contains("fails its CRC-32 check"), "\(crc.body)")
        let trailing = try await gateway.post(
            "/write?db=x", body: body + [0x0A], headers: [("Content-Encoding", "gzip")])
        #expect(trailing.status == 400)
        #expect(trailing.body.contains("1 bytes after gzip member 1 do not start another member"), "\(trailing.body)")
        let json = try await gateway.post(
            "/api/v1/points", body: Array(body.dropLast()), headers: [("Content-Encoding", "gzip")])
        #expect(json.status == 400)
        // Two members back to back, as `gzip` writes a concatenation: one body.
        var second = ByteBuffer(string: "mem free=1i 1\n")
        let twoMembers = body + Array(buffer: try second.compress(with: .gzip()))
        #expect(
            try await gateway.post("/api/v2/write", body: twoMembers, headers: [("Content-Encoding", "gzip")]).status
                == 204)
        try await gateway.stop()
        #expect(
            gateway.stdoutLines == [
                "cpu,host=a usage=987i 1700000000000000000", "cpu,host=b usage=12.5 1700000000000000001",
                "mem,host=testhost free=1i 1",
            ])
    }

    /// A JSON point whose series starts with `#` would be written as a line-protocol comment and vanish
    /// downstream: it is refused, counted, and named; the other points of the request are written.
    @Test func jsonSeriesStartingWithHash_isRefusedWithTheReason() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        let alone = try await gateway.post("/api/v1/points", ##"{"series":"#x","time":1,"fields":{"v":1}}"##)
        #expect(alone.status == 400)
        #expect(alone.body.contains(#""reason":"invalid_name""#), "\(alone.body)")
        #expect(alone.body.contains("line protocol reads such a line as a comment"), "\(alone.body)")
        let mixed = try await gateway.post(
            "/api/v1/points",
            "{\"series\":\"ok\",\"time\":2,\"fields\":{\"v\":1}}\n{\"series\":\"#y\",\"fields\":{\"v\":1}}\n")
        #expect(mixed.status == 422)
        #expect(mixed.body.contains(#""written":1"#))
        #expect(try await gateway.metric("gateway_points_rejected_total", ["reason": "invalid_name"]) == 2)
        try await gateway.stop()
        #expect(gateway.stdoutLines == ["ok,host=testhost v=1i 2000000000"])
    }

    /// Names past InfluxDB's key limit are refused with the key and the limit, as line protocol and
    /// as JSON; control characters in names too.
    @Test func aOneMegabyteName_andControlCharactersInNames_areRefusedWithTheReason() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        let huge = String(repeating: "n", count: 1 << 20)
        let line = try await gateway.post("/api/v2/write", "cpu,t=\(huge) v=1 1\n")
        #expect(line.status == 400)
        #expect(
            line.body.contains(#"over InfluxDB's limit of 65535 (its longest part: value of tag \"t\""#),
            "\(line.body.prefix(500))")
        let json = try await gateway.post("/api/v1/points", #"{"series":"m","fields":{"\#(huge)":1}}"#)
        #expect(json.status == 400)
        #expect(json.body.contains(#""reason":"key_too_long""#))
        #expect(json.body.utf8.count < 2_000)
        #expect(try await gateway.metric("gateway_points_rejected_total", ["reason": "key_too_long"]) == 2)
        let tab = try await gateway.post("/api/v2/write", "cpu,t=a\tb v=1 1\n")
        #expect(tab.status == 400)
        #expect(tab.body.contains("contains the control character U+0009"), "\(tab.body)")
        #expect(try await gateway.metric("gateway_points_rejected_total", ["reason": "invalid_name"]) == 1)
        try await gateway.stop()
        #expect(gateway.stdoutLines.isEmpty)
    }

    @Test func jsonPoints_keepTypesAndFractionalSeconds_andPartialFailuresAnswer422() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        let good = try await gateway.post(
            "/api/v1/points",
            #"[{"series":"requests","time":1700000000.123456789,"tags":{"status_code":200},"fields":{"n":1,"t":0.5,"ok":true,"id":"a"}}]"#
        )
        #expect(good.status == 204)
        let partial = try await gateway.post(
            "/api/v1/points",
            "{\"series\":\"a\",\"fields\":{\"v\":1}}\n{\"series\":\"b\",\"fields\":{}}\n{\"fields\":{\"v\":1}}\n")
        #expect(partial.status == 422)
        #expect(partial.body.contains(#""written":1"#))
        #expect(partial.body.contains("no fields"))
        let broken = try await gateway.post("/api/v1/points", "{\"series\":")
        #expect(broken.status == 400)
        try await gateway.stop()
        let lines = gateway.stdoutLines
        #expect(lines.first == "requests,host=testhost,status_code=200 n=1i,t=0.5,ok=true,id=\"a\" 1700000000123456789")
        #expect(lines.count == 2)
        #expect(lines.last?.hasPrefix("a,host=testhost v=1i ") == true)
    }

    @Test func lunaSchema_rejectsRequestWithoutRoute_namingTheTag_andWritesTheValidPoint() async throws {
        let gateway = try GatewayProcess(
            config: testConfig(extra: "schemas: {builtin: [luna], dead_letter: $DIR/dead.jsonl}"))
        try await gateway.start()
        let body = """
            requests,service=luna-tasks,status_code=200 request_id="r1",execution_time=0.25 1700000000000000000
            requests,service=luna-tasks,route=GET:/version,status_code=200 request_id="r2",execution_time=0.5 1700000000000000001

            """
        let result = try await gateway.post("/api/v2/write", body)
        #expect(result.status == 422)
        #expect(result.body.contains(#"missing required tag \"route\""#), "\(result.body)")
        #expect(try await gateway.metric("gateway_points_rejected_total", ["reason": "schema"]) == 1)
        try await gateway.stop()
        #expect(
            gateway.stdoutLines == [
                #"requests,host=testhost,route=GET:/version,service=luna-tasks,status_code=200 request_id="r2",execution_time=0.5 1700000000000000001"#
            ])
        let deadLetter = try String(
            contentsOfFile: gateway.directory.appendingPathComponent("dead.jsonl").path, encoding: .utf8)
        #expect(deadLetter.contains(#""reason":"schema""#))
        #expect(deadLetter.contains("r1"))
    }

    @Test func operatorEndpoints_health_metrics_status() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start()
        _ = try await gateway.post("/api/v2/write", "a v=1 1\nb v=2 2\n")
        let health = try await gateway.get("/health")
        #expect(health.status == 200)
        #expect(health.body == #"{"status":"pass"}"#)
        #expect(try await gateway.waitForMetric("gateway_points_written_total", ["sink": "out"], atLeast: 2) == 2)
        #expect(try await gateway.metric("gateway_points_received_total", ["listener": "http"]) == 2)
        let status = try await gateway.get("/api/v1/status")
        let json = try JSONSerialization.jsonObject(with: Data(status.body.utf8)) as? [String: Any]
        let sinks = json?["sinks"] as? [String: [String: Any]]
        #expect(sinks?["out"]?["points_written"] as? Int == 2)
        #expect(json?["status"] as? String == "pass")
        try await gateway.stop()
    }
}

/// What the log says about refused input: the input itself (cut), never an empty `input=""`.
@Suite struct RejectedInputLogTests {
    @Test func refusedJSON_isLoggedWithTheInput() async throws {
        let gateway = try GatewayProcess(config: testConfig())
        try await gateway.start(listeners: ["http"])
        #expect(try await gateway.post("/api/v1/points", #"{"series": 42, "fields": {"v": 1}}"#).status == 400)
        #expect(try await gateway.stop() == 0)
        let line = try #require(gateway.stderr.split(separator: "\n").first { $0.contains("input rejected") })
        #expect(line.contains(#"series"#) && line.contains("42"), "\(line)")
        #expect(!line.contains(#"input="""#), "\(line)")
    }
}
