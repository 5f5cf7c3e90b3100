import Testing

@testable import GatewayCore

/// The lines of `bytes` as byte counts without their `\n`, for checking error positions.
private func lineLengths(_ bytes: ArraySlice<UInt8>) -> [Int] {
    bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(\.count)
}

/// Every error names a line of the input and a column on it (or just past its end).
private func expectErrorsPointIntoInput(
    _ errors: [PointError], _ bytes: ArraySlice<UInt8>, pointCount: Int?, allowColumnZero: Bool = false,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let lengths = lineLengths(bytes)
    for error in errors {
        guard error.line >= 1, error.line <= lengths.count else {
            Issue.record("line \(error.line) outside 1...\(lengths.count): \(error)", sourceLocation: sourceLocation)
            continue
        }
        let minColumn = allowColumnZero ? 0 : 1
        #expect(
            error.column >= minColumn && error.column <= lengths[error.line - 1] + 1,
            "column \(error.column) outside the line of \(lengths[error.line - 1]) bytes: \(error)",
            sourceLocation: sourceLocation)
    }
    // Each line protocol point or error starts on a line of its own (JSON may put several on one line).
    if let pointCount {
        #expect(pointCount + errors.count <= lengths.count, sourceLocation: sourceLocation)
    }
}

@Suite("Parsers: splits, prefixes and random input")
struct ParserRobustnessTests {
    /// Records of line protocol, each ending in a newline; strings span lines, escapes everywhere.
    static let lineProtocolRecords: [String] = [
        "# a comment with \"a quote\n",
        #"cpu,host=a\ b,region=eu\,w usage=1.5,n=-2i,u=3u,ok=t,s="multi"# + "\n"
            + #"line \"q\" \\" 1700000000000000000"# + "\r\n",
        "\r\n",
        #"  mem\,x,k\=1=v\\w free=10i,f\ k=1e-3 1"# + "\n",
        "bad line\n",
        #"disk s="",b=FALSE,t="é🙂"   -5"# + "\n",
        "\n",
        #"net,a=1,b=2 x=.5,y=18446744073709551615u"# + "\n",
    ]

    static var lineProtocolInput: [UInt8] { Array(lineProtocolRecords.joined().utf8) }

    @Test func fullInputDecodesAsExpected() {
        let (points, errors) = LineProtocolDecoder().decode(Self.lineProtocolInput)
        #expect(points.map(\.series) == ["cpu", "mem,x", "disk", "net"])
        #expect(points[0].field("s") == .string("multi\nline \"q\" \\"))
        #expect(points[1].tags == [Tag("k=1", #"v\\w"#)])
        #expect(errors.map(\.line) == [6])
        #expect(errors.map(\.reason) == [.syntax])
    }

    @Test func decodingBothHalvesOfEverySplitNeverTraps() {
        let input = Self.lineProtocolInput
        let decoder = LineProtocolDecoder()
        for split in 0...input.count {
            let a = input[..<split], b = input[split...]
            let first = decoder.decode(Array(a))
            let second = decoder.decode(Array(b))
            expectErrorsPointIntoInput(first.errors, a, pointCount: first.points.count)
            expectErrorsPointIntoInput(second.errors, b, pointCount: second.points.count)
        }
    }

    @Test func everyPrefixDecodesToAPrefixOfThePoints() {
        let input = Self.lineProtocolInput
        let full = LineProtocolDecoder().decode(input).points
        var boundaries: Set<Int> = []
        var offset = 0
        for record in Self.lineProtocolRecords {
            offset += record.utf8.count
            boundaries.insert(offset)
        }
        for end in 0...input.count {
            let (points, errors) = LineProtocolDecoder().decode(Array(input[..<end]))
            expectErrorsPointIntoInput(errors, input[..<end], pointCount: points.count)
            // All but the last point are whole; the last may be cut short ("usage=1" for "usage=1.5").
            #expect(points.count <= full.count)
            #expect(Array(points.dropLast()) == Array(full.prefix(max(points.count - 1, 0))), "prefix of \(end) bytes")
            if boundaries.contains(end) {
                #expect(points == Array(full.prefix(points.count)), "prefix of \(end) bytes")
            }
        }
    }

    static let fuzzTokens: [[UInt8]] =
        [
            "m", "cpu", ",", " ", "  ", "=", "\\", "\"", "\n", "\r\n", "\r", "#", "1", "-", ".", "e", "E", "i", "u",
            "t",
            "f", "true", "FALSE", "é", "\t", "123456789", "9223372036854775808", "18446744073709551616", "k=v", "f=1",
            "s=\"x\"", "m f=1\n", "cpu,k=v f=1i,g=t 1\n", "\nm s=\"a\nb\",x=-1.5e3\n",
        ].map { Array($0.utf8) } + [[0xFF], [0xC3], [0xE2, 0x82], [0x00]]

    static func randomInput(_ rng: inout SeededGenerator) -> [UInt8] {
        var bytes: [UInt8] = []
        if Bool.random(using: &rng) {
            for _ in 0..<Int.random(in: 0...120, using: &rng) { bytes.append(UInt8.random(in: 0...255, using: &rng)) }
        } else {
            for _ in 0..<Int.random(in: 0...60, using: &rng) { bytes += fuzzTokens.randomElement(using: &rng)! }
        }
        return bytes
    }

    @Test func randomBytesDecodeWithoutTrapping_andErrorsNamePositions() {
        var rng = SeededGenerator(seed: 0xF022_0001)
        var totalErrors = 0, totalPoints = 0
        for _ in 0..<2_000 {
            let input = Self.randomInput(&rng)
            let (points, errors) = LineProtocolDecoder().decode(input)
            expectErrorsPointIntoInput(errors, input[...], pointCount: points.count)
            for error in errors {
                #expect(error.line >= 1 && error.column >= 1)
                #expect(!error.message.isEmpty)
                #expect(error.text.utf8.count <= 200)
            }
            totalErrors += errors.count
            totalPoints += points.count
        }
        // The fuzzer reaches both outcomes, so the checks above are not vacuous.
        #expect(totalErrors > 1_000)
        #expect(totalPoints > 50)
    }

    @Test func randomBytesDecodeWithPrecisionsAndTinyStringLimit() {
        var rng = SeededGenerator(seed: 0xF022_0002)
        for precision in Precision.allCases {
            let decoder = LineProtocolDecoder(precision: precision, maxStringLength: 1)
            for _ in 0..<300 {
                let input = Self.randomInput(&rng)
                let (points, errors) = decoder.decode(input)
                expectErrorsPointIntoInput(errors, input[...], pointCount: points.count)
            }
        }
    }

    // MARK: JSON

    static let jsonInput: [UInt8] = Array(
        """
        [
          {"series": "a", "time": 1.5, "tags": {"k": "v", "n": 200}, "fields": {"x": 1, "s": "q\\"\\u00e9\\ud83d\\ude00"}},
          {"series": "b", "fields": {"y": 2.5e3}}
        ]
        {"series": "c", "fields": {"z": true}}
        {"series": "d", "fields": {}}
        {"series": "e", "precision": "ms", "time": 1700000000123, "fields": {"u": 18446744073709551615}}

        """.utf8)

    @Test func fullJSONInputDecodesAsExpected() {
        let (points, errors) = json(bytes: Self.jsonInput)
        #expect(points.map(\.series) == ["a", "b", "c", "e"])
        #expect(errors.map(\.line) == [6])
        #expect(errors.map(\.reason) == [.noFields])
    }

    @Test func decodingBothHalvesOfEveryJSONSplitNeverTraps() {
        let input = Self.jsonInput
        for split in 0...input.count {
            let a = input[..<split], b = input[split...]
            let first = json(bytes: Array(a))
            let second = json(bytes: Array(b))
            expectErrorsPointIntoInput(first.errors, a, pointCount: nil, allowColumnZero: true)
            expectErrorsPointIntoInput(second.errors, b, pointCount: nil, allowColumnZero: true)
        }
    }

    @Test func everyJSONPrefixDecodesToAPrefixOfThePoints() {
        let input = Self.jsonInput
        let full = json(bytes: input).points
        for end in 0...input.count {
            let (points, errors) = json(bytes: Array(input[..<end]))
            expectErrorsPointIntoInput(errors, input[..<end], pointCount: nil, allowColumnZero: true)
            #expect(points == Array(full.prefix(points.count)), "prefix of \(end) bytes")
        }
    }

    static let jsonTokens: [[UInt8]] =
        [
            "{", "}", "[", "]", ":", ",", " ", "\n", "\"series\"", "\"fields\"", "\"tags\"", "\"time\"",
            "\"precision\"",
            "\"ms\"", "\"a\"", "\"\\u00e9\"", "\"\\ud800\"", "\"\\", "1", "-", "0", ".5", "1e9",
            "1e-9223372036854775808",
            "18446744073709551616", "true", "false", "null", "tru", "\"", "\"x\ny\"",
        ].map { Array($0.utf8) } + [[0xFF], [0xC3], [0x01]]

    @Test func randomJSONDecodesWithoutTrapping_andErrorsNamePositions() {
        var rng = SeededGenerator(seed: 0xF022_0003)
        var totalErrors = 0, totalPoints = 0
        for _ in 0..<2_000 {
            var input: [UInt8] = []
            if Int.random(in: 0..<4, using: &rng) == 0 {
                for _ in 0..<Int.random(in: 0...120, using: &rng) {
                    input.append(UInt8.random(in: 0...255, using: &rng))
                }
            } else {
                if Bool.random(using: &rng) { input += Array(#"{"series":"s","fields":{"#.utf8) }
                for _ in 0..<Int.random(in: 0...40, using: &rng) {
                    input += Self.jsonTokens.randomElement(using: &rng)!
                }
            }
            let (points, errors) = json(bytes: input)
            expectErrorsPointIntoInput(errors, input[...], pointCount: nil, allowColumnZero: true)
            #expect(errors.allSatisfy { $0.text.utf8.count <= 200 && !$0.message.isEmpty })
            totalErrors += errors.count
            totalPoints += points.count
        }
        #expect(totalErrors > 1_000)
    }

    @Test func deeplyNestedJSONIsRejectedWithoutExhaustingTheStack() {
        let deep = String(repeating: "[", count: 100_000)
        let (points, errors) = json(deep)
        #expect(points.isEmpty)
        #expect(errors.first?.reason == .invalidJSON)
        #expect(errors.first?.message.contains("nesting") == true)
        // One bracket per line: every resumption still moves forward.
        let tall = json(String(repeating: "[\n", count: 1_000))
        #expect(tall.points.isEmpty)
        #expect(!tall.errors.isEmpty)
    }
}
