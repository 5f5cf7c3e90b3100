import Testing

@testable import GatewayCore

/// The decoder's series cache and default tags: a cached decode must give exactly what a plain decode
/// gives, errors included, whatever the input; repeated series must be answered from the cache.
@Suite struct SeriesCacheTests {
    /// Decodes `bytes` with `decoder`, through `cache` when given.
    func decode(_ bytes: [UInt8], _ decoder: LineProtocolDecoder, cache: SeriesCache?) -> ([Point], [PointError]) {
        var points: [Point] = []
        var errors: [PointError] = []
        bytes.withUnsafeBytes { decoder.decode($0, receiveTime: 7, into: &points, errors: &errors, cache: cache) }
        return (points, errors)
    }

    func expectSame(
        _ input: [UInt8], _ decoder: LineProtocolDecoder, cache: SeriesCache,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let plain = decode(input, decoder, cache: nil)
        // Twice: the first pass fills the cache, the second is answered from it.
        for pass in 1...2 {
            let cached = decode(input, decoder, cache: cache)
            #expect(
                cached.0.count == plain.0.count,
                "pass \(pass): \(String(decoding: input, as: UTF8.self).debugDescription)",
                sourceLocation: sourceLocation)
            #expect(
                zip(cached.0, plain.0).allSatisfy { identical($0, $1) },
                "pass \(pass): points differ for \(String(decoding: input, as: UTF8.self).debugDescription)",
                sourceLocation: sourceLocation)
            #expect(cached.1 == plain.1, "pass \(pass): errors differ", sourceLocation: sourceLocation)
        }
    }

    @Test func generatedPointsDecodeAlikeWithAndWithoutTheCache() {
        var generator = PointGenerator(seed: 0x5EED_C001)
        let points = (0..<2_000).map { _ in generator.point() }
        // Every point twice in a row, so that the second of each pair can come from the cache.
        let body = LineProtocolEncoder().encode(points.flatMap { [$0, $0] })
        let cache = SeriesCache(slots: 64)
        expectSame(body, LineProtocolDecoder(), cache: cache)
        #expect(cache.hits > 2_000, "hits \(cache.hits), misses \(cache.misses)")
    }

    @Test func fuzzedInputDecodesAlikeWithAndWithoutTheCache() {
        var rng = SeededGenerator(seed: 0xF022_C002)
        // One cache across all inputs, small enough that slots are overwritten.
        let cache = SeriesCache(slots: 16)
        for _ in 0..<3_000 {
            expectSame(ParserRobustnessTests.randomInput(&rng), LineProtocolDecoder(), cache: cache)
        }
        #expect(cache.hits > 100)
    }

    @Test(arguments: [
        "m,t=a\\ b f=1 1\n", "m,t=a\\\\ f=1 1\n", "m\\ x,t=1 f=1\n", "m,b=2,a=1 f=1\n", "m,a=1,a=2 f=1\n",
        "m,t=a=b f=1\n", "m,t= f=1\n", "m,t=1\n", "m,t=1 \n", "m,t=x\\\n f=1\n", "m,t=1\r\n", "m,t=é f=1\n",
        "m,t=\u{FF} f=1\n", " m,t=1 f=1\n", "m,t=1  f=1 2\n", "m,\\ =1 f=1\n", "m,t=1\\  f=1\n",
    ])
    func awkwardKeySectionsDecodeAlike(_ text: String) {
        let cache = SeriesCache(slots: 16)
        expectSame(Array(text.utf8), LineProtocolDecoder(), cache: cache)
        // The same line again after another series took nothing from it.
        expectSame(Array(("m,t=zz f=1\n" + text).utf8), LineProtocolDecoder(), cache: cache)
    }

    @Test func fieldKeysRememberedByPosition_decodeAlikeWhateverTheirLengthOrEscapes() {
        let long = String(repeating: "k", count: 30)
        let lines = [
            "m a=1,b=2 1", "m b=1,a=2 2", "m a=1,b=2 3", #"m \ a=1,b\,=2 4"#, #"m \ a=1,b\,=2 5"#,
            #"m a\\b=1 6"#, #"m \\a=1 7"#, "m \(long)=1,\(long)x=2 8", "m \(long)=1,\(long)x=2 9",
            "m aaaaaaaaaaaaaaaaaaaaaaaa=1 10", "m aaaaaaaaaaaaaaaaaaaaaaab=1 11", "m é=1 12", "m é=1 13",
        ]
        let body = Array((lines.joined(separator: "\n") + "\n").utf8)
        let cache = SeriesCache(slots: 16)
        expectSame(body, LineProtocolDecoder(), cache: cache)
        let (points, _) = decode(body, LineProtocolDecoder(), cache: cache)
        #expect(
            points.map { $0.fields.map(\.key) } == [
                ["a", "b"], ["b", "a"], ["a", "b"], [" a", "b,"], [" a", "b,"], [#"a\\b"#], [#"\\a"#],
                [long, long + "x"],
                [long, long + "x"], ["aaaaaaaaaaaaaaaaaaaaaaaa"], ["aaaaaaaaaaaaaaaaaaaaaaab"], ["é"], ["é"],
            ])
    }

    /// A field key is taken from the cache without scanning only when the same bytes are followed
    /// by '='; prefixes, longer keys, escaped '=' and broken lines must decode as without the cache.
    @Test func fieldKeysTakenWithoutScanning_onlyWhenTheSameBytesEndAtEquals() {
        let lines = [
            "m ab=1 1", "m a=1 2", "m ab=1 3", "m abc=1 4", "m ab=1 5", #"m a\==1 6"#, #"m a\==1 7"#, "m a==1 8",
            "m a=1 9", "m a==1 10", "m a 11", "m a=1 12", "m a=", "m a=1 14", "m a,b=1 15", "m a=1,a=2 16",
            "m a=1,a=2i 17", "m a=1,ab=2 18", "m a=1,ab=2 19", "m a=1,a=2 20",
        ]
        let body = Array((lines.joined(separator: "\n") + "\n").utf8)
        let cache = SeriesCache(slots: 16)
        expectSame(body, LineProtocolDecoder(), cache: cache)
        let (points, errors) = decode(body, LineProtocolDecoder(), cache: cache)
        #expect(
            points.map { $0.fields.map(\.key) } == [
                ["ab"], ["a"], ["ab"], ["abc"], ["ab"], ["a="], ["a="], ["a"], ["a"], ["a"], ["a"], ["a", "ab"],
                ["a", "ab"],
                ["a"],
            ])
        // Lines 8, 10 (a value "=1"), 11, 13 (no value), 15 (no '=') and 17 (types differ).
        #expect(errors.map(\.line) == [8, 10, 11, 13, 15, 17])
    }

    /// Whole-word reads with the tail masked give exactly what byte copies give, for every length.
    @Test func maskedWordReadsMatchByteCopies() {
        var rng = SeededGenerator(seed: 0x3A5C_0003)
        for length in 0...40 {
            for _ in 0..<50 {
                let bytes = (0..<(length + 24)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                bytes.withUnsafeBufferPointer { buffer in
                    let key = UnsafeBufferPointer(rebasing: buffer[0..<length])
                    #expect(SeriesCache.hash(key, readable: buffer.count) == SeriesCache.hash(key), "length \(length)")
                    if (1...SeriesCache.FieldKey.maxLength).contains(length) {
                        let copied = SeriesCache.FieldKey.words(key)
                        let loaded = SeriesCache.FieldKey.words(
                            at: UnsafeRawPointer(buffer.baseAddress!), length: length)
                        #expect(copied == loaded, "length \(length)")
                    }
                }
            }
        }
    }

    @Test func repeatedSeriesAreAnsweredFromTheCache_andShareOneTagArray() {
        let cache = SeriesCache()
        let body = Array(
            String(repeating: "cpu,host=a,region=eu usage=1 1\ncpu,host=b,region=eu usage=2 2\n", count: 50).utf8)
        let (points, errors) = decode(body, LineProtocolDecoder(), cache: cache)
        #expect(errors.isEmpty)
        #expect(points.count == 100)
        #expect(cache.misses == 2)
        #expect(cache.hits == 98)
        // Points of one series share the cached array rather than each holding a copy.
        points[0].tags.withUnsafeBufferPointer { first in
            points[2].tags.withUnsafeBufferPointer { third in #expect(first.baseAddress == third.baseAddress) }
        }
        #expect(points[1].tag("host") == "b")
    }

    @Test func defaultTagsAreAddedInOrder_unlessThePointHasThem() {
        let defaults = [Tag("host", "gw1"), Tag("dc", "x")]
        let decoder = LineProtocolDecoder(defaultTags: defaults)
        for cache in [nil, SeriesCache(defaultTags: defaults)] {
            let (points, errors) = decode(
                Array("m,z=1 f=1\nm,host=app f=1\nm f=1\nm,z=1 f=2\n".utf8), decoder, cache: cache)
            #expect(errors.isEmpty)
            #expect(
                points.map(\.tags) == [
                    [Tag("dc", "x"), Tag("host", "gw1"), Tag("z", "1")],
                    [Tag("dc", "x"), Tag("host", "app")],
                    [Tag("dc", "x"), Tag("host", "gw1")],
                    [Tag("dc", "x"), Tag("host", "gw1"), Tag("z", "1")],
                ])
        }
    }

    @Test func aFullCacheOverwritesSlots_andStaysCorrect() {
        let cache = SeriesCache(slots: 16)
        #expect(cache.capacity == 16)
        let lines = (0..<1_000).map { "m,s=\($0) f=\($0)i \($0)\n" }.joined()
        let (points, errors) = decode(Array((lines + lines).utf8), LineProtocolDecoder(), cache: cache)
        #expect(errors.isEmpty)
        #expect(points.count == 2_000)
        for (index, point) in points.enumerated() {
            #expect(point.tag("s") == "\(index % 1_000)" && point.field("f") == .int(Int64(index % 1_000)))
        }
    }

    // MARK: Timestamps: the eight-digits-at-a-time path against the careful one

    @Test(
        arguments: [
            ("0", Int64(0)), ("7", 7), ("12345678", 12_345_678), ("123456789", 123_456_789),
            ("1234567890123456", 1_234_567_890_123_456), ("12345678901234567", 12_345_678_901_234_567),
            ("1763638061123045000", 1_763_638_061_123_045_000), ("9223372036854775807", Int64.max),
            ("0000000000000000001", 1), ("-1", -1), ("-9223372036854775808", Int64.min), ("+5", nil),
            ("9223372036854775808", nil), ("99999999999999999999", nil), ("1234567a", nil), ("12345678a", nil),
            ("1234567890123456789a", nil), ("1.5", nil), ("00000000000000000000007", 7),
        ] as [(String, Int64?)])
    func timestampsParseExactly(_ text: String, _ expected: Int64?) {
        for suffix in ["", "\n", " \n", "\r\n"] {
            let (points, errors) = lp("m f=1 " + text + suffix)
            if let expected {
                #expect(errors.isEmpty, "\(text.debugDescription)\(suffix.debugDescription): \(errors)")
                #expect(points.first?.time == expected)
            } else {
                #expect(points.isEmpty && errors.count == 1, "\(text.debugDescription)\(suffix.debugDescription)")
                #expect(errors.first?.reason == .invalidTimestamp)
            }
        }
    }

    @Test func randomTimestampsParseExactly() {
        var rng = SeededGenerator(seed: 0x7173_0001)
        for _ in 0..<20_000 {
            let value = Int64.random(in: Int64.min...Int64.max, using: &rng) >> Int64.random(in: 0...62, using: &rng)
            let (points, errors) = lp("m f=1 \(value)")
            #expect(errors.isEmpty && points.first?.time == value, "\(value)")
        }
    }

    @Test func aTimestampOutOfRangeForItsPrecisionNamesIt() {
        guard let error = oneError("m f=1 9223372036854775", precision: .seconds) else { return }
        #expect(error.reason == .invalidTimestamp)
        #expect(error.column == 7)
        #expect(error.message.contains("precision s"))
    }
}
