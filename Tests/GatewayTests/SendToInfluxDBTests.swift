import Foundation
import Testing

@testable import Gateway

/// `gateway send` (the real binary) straight to InfluxDB: 1.x `/write?db=` against Debian's real
/// InfluxDB 1.6.7, and the 2.x `/api/v2/write?org=&bucket=` API against VictoriaMetrics, which serves it.
@Suite(.serialized, .tags(.slow)) struct SendToInfluxDBTests {
    func send(_ arguments: [String], stdin: String? = nil) throws -> (Int32, String) {
        try SendCommandTests().send(arguments, stdin: stdin)
    }

    @Test func toInfluxDB1_storesWhatWasSent_precisionIncluded_andARefusedLineFailsTheSend() async throws {
        let influx = try InfluxDB1()
        try await influx.start()
        try await influx.query("CREATE DATABASE sent")
        let write = "\(influx.url)/write?db=sent"
        let seconds = try send(["--http", write, "--precision", "s"], stdin: "cpu,host=a usage=0.5 1700000000\n")
        #expect(seconds.0 == 0, "\(seconds.1)")
        #expect(seconds.1.contains("sent 1 points to \(influx.url)/write"), "\(seconds.1)")
        // InfluxDB 1.x reads precision=us as nanoseconds: send spells it u.
        let micro = try send(["--http", write, "--precision", "us", "cpu,host=b usage=1.5 1700000001000000"])
        #expect(micro.0 == 0, "\(micro.1)")
        // A URL naming its own precision and retention policy is used as given.
        let given = try send(
            ["--http", "\(write)&rp=autogen&precision=ms", "--username", "u", "--password", "p"],
            stdin: "cpu,host=c usage=2.5 1700000002000\n")
        #expect(given.0 == 0, "\(given.1)")
        #expect(
            try await influx.rows(db: "sent") == [
                "cpu|host=a usage=0.5 1700000000000000000", "cpu|host=b usage=1.5 1700000001000000000",
                "cpu|host=c usage=2.5 1700000002000000000",
            ])
        // A field-type conflict: InfluxDB answers 400 naming it; send says so and exits 1.
        let conflict = try send(["--http", write, "--precision", "s", "cpu,host=d usage=\"high\" 1700000003"])
        #expect(conflict.0 == 1)
        #expect(conflict.1.contains("HTTP 400") && conflict.1.contains("field type conflict"), "\(conflict.1)")
        try await influx.stop()
    }

    @Test func toInfluxDB1WithAuthentication_usernameAndPasswordAreSentAsBasic_aWrongPasswordIs401() async throws {
        let influx = try InfluxDB1(admin: ("admin", "s3cret"))
        try await influx.start()
        try await influx.query("CREATE DATABASE guarded")
        let write = "\(influx.url)/write?db=guarded"
        let line = "mem,host=a used=1i 1700000000"
        let wrong = try send(["--http", write, "--precision", "s", "--username", "admin", "--password", "nope", line])
        #expect(wrong.0 == 1 && wrong.1.contains("HTTP 401"), "\(wrong.1)")
        let anonymous = try send(["--http", write, "--precision", "s", line])
        #expect(anonymous.0 == 1 && anonymous.1.contains("HTTP 401"), "\(anonymous.1)")
        let right = try send(["--http", write, "--precision", "s", "--username", "admin", "--password", "s3cret", line])
        #expect(right.0 == 0, "\(right.1)")
        #expect(!right.1.contains("s3cret"))
        #expect(try await influx.rows(db: "guarded") == ["mem|host=a used=1 1700000000000000000"])
        try await influx.stop()
    }

    @Test func toTheInfluxDB2API_withOrgBucketAndToken() async throws {
        let vm = try VictoriaMetrics()
        try await vm.start()
        let url = "\(vm.url)/api/v2/write?org=acme&bucket=metrics"
        let result = try send(
            ["--http", url, "--precision", "ms", "--token", "secret"], stdin: "sent2,host=a v=7 1700000000123\n")
        #expect(result.0 == 0, "\(result.1)")
        #expect(!result.1.contains("secret"))
        #expect(try await vm.waitForSamples("sent2_v", count: 1) == [1_700_000_000_123])
        try await vm.stop()
    }
}

/// Where `gateway send --http` posts.
@Suite struct SendURLTests {
    func url(_ base: String, _ format: SendCommand.Format = .line, precision: String = "ns") throws -> String {
        try SendCommand.writeURL(base, format: format, precision: precision)
    }

    @Test func aGatewayBaseURL_getsItsWritePaths() throws {
        #expect(try url("http://127.0.0.1:8087") == "http://127.0.0.1:8087/api/v2/write?precision=ns")
        #expect(try url("http://127.0.0.1:8087/", .json) == "http://127.0.0.1:8087/api/v1/points")
    }

    @Test func influxDBURLs_keepTheirQuery_andGetPrecisionUnlessTheyNameOne() throws {
        #expect(try url("http://i:8086/write?db=m", precision: "us") == "http://i:8086/write?db=m&precision=u")
        #expect(
            try url("http://i:8086/write?db=m&precision=s", precision: "ms") == "http://i:8086/write?db=m&precision=s")
        #expect(
            try url("https://i:8086/api/v2/write?org=o&bucket=b", precision: "us")
                == "https://i:8086/api/v2/write?org=o&bucket=b&precision=us")
        #expect(try url("http://i:8086/api/v1/points?x=1") == "http://i:8086/api/v1/points?x=1")
    }

    @Test func jsonToAnInfluxDBWritePath_orAURLThatIsNot_isRefusedSayingWhy() throws {
        #expect(throws: (any Error).self) { try url("http://i:8086/write?db=m", .json) }
        #expect(throws: (any Error).self) { try url("influx:8086/write") }
        #expect(throws: (any Error).self) { try url("ftp://i/write") }
    }
}
