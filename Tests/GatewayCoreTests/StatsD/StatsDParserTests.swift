import Testing

@testable import GatewayCore

@Suite struct StatsDParserTests {
    func parse(_ text: String) -> StatsDParser.Output { StatsDParser().parse(text) }

    @Test func everyTypeParses_withRateAndDogStatsDTags() {
        let out = parse(
            "hits:3|c|@0.5|#env:prod,canary\nload:-2|g\nload2:7|g\nrt:12.5|ms\nsz:4|h\nlat:9|d\nu:alice|s\n")
        #expect(out.errors.isEmpty && out.lines == 7)
        #expect(
            out.samples == [
                StatsDSample(
                    name: "hits", tags: [Tag("canary", "true"), Tag("env", "prod")], kind: .counter, value: 3, rate: 0.5
                ),
                StatsDSample(name: "load", kind: .gauge, value: -2, isDelta: true),
                StatsDSample(name: "load2", kind: .gauge, value: 7),
                StatsDSample(name: "rt", kind: .timing, value: 12.5),
                StatsDSample(name: "sz", kind: .histogram, value: 4),
                StatsDSample(name: "lat", kind: .distribution, value: 9),
                StatsDSample(name: "u", kind: .set, member: "alice"),
            ])
    }

    @Test func influxTagsInTheName_mergeWithDogStatsDTags_theLineTagsWin() {
        let out = parse("users.current,service=payroll,region=us:32|g|#region:eu,z:1")
        #expect(out.errors.isEmpty)
        #expect(out.samples.first?.name == "users.current")
        #expect(out.samples.first?.tags == [Tag("region", "eu"), Tag("service", "payroll"), Tag("z", "1")])
    }

    @Test func severalValuesPerLine_packedAndChained() {
        let packed = parse("lat:1:2:3|d|@0.25")
        #expect(packed.samples.map(\.value) == [1, 2, 3] && packed.samples.allSatisfy { $0.rate == 0.25 })
        let chained = parse("visits:1|c:2|c|@0.5:5|g")
        #expect(chained.errors.isEmpty)
        #expect(chained.samples.map(\.kind) == [.counter, .counter, .gauge])
        #expect(chained.samples.map(\.rate) == [1, 0.5, 1])
        #expect(chained.samples.map(\.value) == [1, 2, 5])
    }

    @Test func timestampAndOriginSections_areAcceptedAndIgnored() {
        let out = parse("a:1|c|#k:v|T1700000000|c:container-1|e:it-true")
        #expect(out.errors.isEmpty && out.samples.count == 1)
        #expect(parse("a:1|c|Tsoon").errors.map(\.reason) == [.invalidTimestamp])
    }

    @Test(arguments: [
        ("nocolon", RejectReason.noColon), ("name:1", .noPipe), ("name:1|x", .unknownType),
        ("name:abc|c", .invalidValue), ("name:nan|g", .invalidValue), ("name:0x10|c", .invalidValue),
        ("name:|c", .invalidValue), ("name:1|c|@2", .badRate), ("name:1|c|@0", .badRate), ("name:1|c|@x", .badRate),
        ("name:1|c|#:v", .badTag), ("name:1|c|#k:", .badTag), ("name,k:1|c", .badTag), ("name,=v:1|c", .badTag),
        (":1|c", .emptyName), ("#x:1|c", .invalidName), ("name:1|c|zz", .unknownSection),
        ("_e{x,1}:a|b", .badEvent), ("_e{5,1}:ab|c", .badEvent), ("_sc|x|9", .badServiceCheck),
        ("_sc|x", .badServiceCheck), ("na\u{1}me:1|c", .invalidName), ("s:|s", .invalidValue),
    ])
    func aMalformedLine_isRejectedWithItsReason_andTheOthersGoOn(line: String, reason: RejectReason) {
        let out = parse("before:1|c\n\(line)\nafter:2|c")
        #expect(out.errors.map(\.reason) == [reason], "\(line): \(out.errors)")
        #expect(out.errors.first?.line == 2)
        #expect(out.samples.map(\.name) == ["before", "after"], "\(line)")
    }

    @Test func aChainedLineWithOneBadValue_yieldsNothingFromThatLine() {
        let out = parse("a:1|c:x|c")
        #expect(out.samples.isEmpty && out.errors.map(\.reason) == [.invalidValue])
    }

    @Test func aSeriesKeyOverInfluxDBsLimit_isRejected_oneJustUnderIsKept() {
        let long = String(repeating: "a", count: 70_000)
        #expect(parse("\(long):1|c").errors.map(\.reason) == [.keyTooLong])
        #expect(parse("m,k=\(String(repeating: "b", count: 40_000)):1|c").errors.isEmpty)
        // Escaping counts: 34,000 spaces take 68,000 bytes escaped.
        #expect(parse("m,k=\(String(repeating: " ", count: 34_000))x:1|c").errors.map(\.reason) == [.keyTooLong])
    }

    @Test func invalidUTF8_isRejected() {
        let bytes: [UInt8] = Array("a:1|c\nb".utf8) + [0xFF] + Array(":1|c\n".utf8)
        let out = bytes.withUnsafeBytes { StatsDParser().parse($0) }
        #expect(out.samples.count == 1 && out.errors.map(\.reason) == [.invalidUTF8])
    }

    @Test func crlfAndEmptyLines_areTolerated() {
        let out = parse("a:1|c\r\n\r\n\nb:2|c\r\n")
        #expect(out.errors.isEmpty && out.samples.map(\.name) == ["a", "b"] && out.lines == 2)
    }

    @Test func anEvent_becomesAStatsdEventPoint() throws {
        let out = parse("_e{5,12}:Alert|disk\\nfull!!|d:1700000000|t:error|h:web1|k:grp|s:nagios|#team:ops")
        #expect(out.errors.isEmpty)
        let point = try #require(out.events.first)
        #expect(point.series == "statsd_event" && point.time == 1_700_000_000_000_000_000)
        #expect(point.field("title") == .string("Alert") && point.field("text") == .string("disk\nfull!!"))
        #expect(
            point.tags == [
                Tag("aggregation_key", "grp"), Tag("alert_type", "error"), Tag("host", "web1"),
                Tag("priority", "normal"), Tag("source_type_name", "nagios"), Tag("team", "ops"),
            ])
    }

    @Test func aServiceCheck_becomesAStatsdServiceCheckPoint() throws {
        let out = parse("_sc|db.up|2|h:db1|#env:prod|m:down | really")
        #expect(out.errors.isEmpty)
        let point = try #require(out.events.first)
        #expect(point.series == "statsd_service_check" && point.time == 0)
        #expect(point.tags == [Tag("check", "db.up"), Tag("env", "prod"), Tag("host", "db1")])
        #expect(point.fields == [Field("status", .int(2)), Field("message", .string("down | really"))])
    }

    @Test func randomBytesAndCutLines_neverCrash_andEachLineYieldsAtMostOneError() {
        var generator = SeededGenerator(seed: 21)
        let seeds = ["a,b=c:1|c:2|c|@0.5|#k:v,w", "_e{3,3}:abc|def|#x", "_sc|n|1|m:x", "g:+1.5e3|g|T1"]
        for _ in 0..<5_000 {
            var bytes = Array(seeds.randomElement(using: &generator)!.utf8)
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let i = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[i] = UInt8.random(in: 0...255, using: &generator)
            }
            let cut = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)))
            let out = cut.withUnsafeBytes { StatsDParser().parse($0) }
            #expect(out.errors.count <= out.lines)
        }
    }
}
