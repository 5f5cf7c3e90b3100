import Testing

@testable import GatewayCore

@Suite("Point model")
struct PointModelTests {
    @Test func initSortsTagsByByteOrder() {
        let point = Point(
            series: "m", time: 0, tags: [Tag("b", "1"), Tag("é", "2"), Tag("B", "3"), Tag("a", "4")],
            fields: [Field("f", .int(1))])
        #expect(point.tags.map(\.key) == ["B", "a", "b", "é"])
    }

    @Test func lookupsFindTagsAndFields() {
        let point = Point(
            series: "m", time: 0, tags: [Tag("t", "v")], fields: [Field("f", .int(1)), Field("g", .bool(false))])
        #expect(point.tag("t") == "v")
        #expect(point.tag("f") == nil)
        #expect(point.field("g") == .bool(false))
        #expect(point.field("t") == nil)
    }

    @Test(arguments: [
        ("a", ["a", "c", "e"]),
        ("d", ["c", "d", "e"]),
        ("z", ["c", "e", "z"]),
        ("E", ["E", "c", "e"]),  // byte order: uppercase before lowercase
        ("cc", ["c", "cc", "e"]),
        ("é", ["c", "e", "é"]),
    ])
    func addTagIfAbsent_insertsInSortedPosition(_ key: String, _ expectedKeys: [String]) {
        var point = Point(series: "m", time: 0, tags: [Tag("c", "1"), Tag("e", "2")], fields: [Field("f", .int(1))])
        point.addTagIfAbsent(key, "new")
        #expect(point.tags.map(\.key) == expectedKeys)
        #expect(point.tag(key) == "new")
        #expect(point.tag("c") == "1")
        #expect(point.tag("e") == "2")
    }

    @Test(arguments: ["c", "e"])
    func addTagIfAbsent_neverOverrides(_ key: String) {
        var point = Point(series: "m", time: 0, tags: [Tag("c", "1"), Tag("e", "2")], fields: [Field("f", .int(1))])
        let before = point
        point.addTagIfAbsent(key, "other")
        #expect(point == before)
    }

    @Test func addTagIfAbsent_onAPointWithoutTags() {
        var point = pointF("m")
        point.addTagIfAbsent("host", "a")
        #expect(point.tags == [Tag("host", "a")])
    }

    @Test func addTagIfAbsent_keepsRandomInsertionsSortedAndFirstValueWins() {
        var rng = SeededGenerator(seed: 0xADD7_A6)
        let alphabet = ["a", "b", "B", "z", "_", "é", "0", " ", "aa", "ab", "🙂"]
        for _ in 0..<200 {
            var point = pointF("m")
            var reference: [String: String] = [:]
            for step in 0..<Int.random(in: 1...12, using: &rng) {
                let key =
                    alphabet.randomElement(using: &rng)!
                    + (Bool.random(using: &rng) ? "" : alphabet.randomElement(using: &rng)!)
                let value = "v\(step)"
                point.addTagIfAbsent(key, value)
                if reference[key] == nil { reference[key] = value }
            }
            let keys = point.tags.map(\.key)
            let sortedKeys = reference.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            #expect(keys == sortedKeys)
            #expect(point.tags.allSatisfy { reference[$0.key] == $0.value })
        }
    }

    @Test func pointBatchCounts() {
        #expect(PointBatch().isEmpty)
        let batch = PointBatch([pointF("a"), pointF("b")])
        #expect(batch.count == 2)
        #expect(!batch.isEmpty)
    }

    @Test func fieldValueTypes() {
        #expect(FieldValue.float(1).type == .float)
        #expect(FieldValue.int(1).type == .int)
        #expect(FieldValue.uint(1).type == .uint)
        #expect(FieldValue.string("").type == .string)
        #expect(FieldValue.bool(true).type == .bool)
        #expect(FieldType.allCases.map(\.description) == ["float", "int", "uint", "string", "bool"])
    }

    @Test func pointErrorDescription() {
        #expect(PointError(line: 2, column: 5, reason: .syntax, message: "m").description == "line 2, column 5: m")
        #expect(PointError(line: 3, column: 0, reason: .schema, message: "m").description == "line 3: m")
        #expect(RejectReason.integerOverflow.description == "integer_overflow")
    }
}

@Suite("Payload format and precision")
struct FormatAndPrecisionTests {
    @Test(arguments: [
        ("{\"series\":\"a\"}", PayloadFormat.json),
        ("[{}]", .json),
        ("  \n\t\r\n {", .json),
        ("\n[", .json),
        ("cpu f=1", .lineProtocol),
        ("# comment\n{", .lineProtocol),
        ("  cpu", .lineProtocol),
        ("", .lineProtocol),
        (" \n\r\t", .lineProtocol),
        ("\"{\"", .lineProtocol),
    ])
    func detectsFormatFromTheFirstNonBlankByte(_ body: String, _ expected: PayloadFormat) {
        let format = Array(body.utf8).withUnsafeBytes { PayloadFormat.detect($0) }
        #expect(format == expected)
    }

    @Test func detectsFormatOfAnEmptyBuffer() {
        #expect(PayloadFormat.detect(UnsafeRawBufferPointer(start: nil, count: 0)) == .lineProtocol)
    }

    @Test(arguments: [
        ("ns", Precision.nanoseconds), ("n", .nanoseconds), ("", .nanoseconds),
        ("us", .microseconds), ("u", .microseconds), ("µs", .microseconds), ("µ", .microseconds),
        ("ms", .milliseconds), ("s", .seconds),
    ])
    func parsesInfluxPrecisionSpellings(_ text: String, _ expected: Precision) {
        #expect(Precision(influx: text) == expected)
    }

    @Test(arguments: ["m", "h", "NS", "sec", "mss", " s"])
    func rejectsOtherPrecisionSpellings(_ text: String) {
        #expect(Precision(influx: text) == nil)
    }

    @Test func multipliers() {
        #expect(Precision.allCases.map(\.multiplier) == [1, 1_000, 1_000_000, 1_000_000_000])
    }
}
