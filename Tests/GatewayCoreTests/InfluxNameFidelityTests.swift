import Testing

@testable import GatewayCore

/// Names read and written as InfluxDB reads them. The expected names are what InfluxDB 1.6.7
/// (Debian's `influxdb`) stored for the same lines, read back through `/query` on this machine:
/// in measurements, tag keys, tag values and field keys only `\,`, `\ ` and (outside measurements)
/// `\=` are escapes, `\\` is two backslashes, and a backslash before another character stays.
@Suite struct InfluxNameFidelityTests {
    static let storedByInfluxDB: [(line: String, series: String, tags: [Tag], field: String)] = [
        (#"m1,path=C:\Temp\x v=1 1"#, "m1", [Tag("path", #"C:\Temp\x"#)], "v"),
        (#"m2,k=a\ b v=1 2"#, "m2", [Tag("k", "a b")], "v"),
        (#"m3,k=a\,b v=1 3"#, "m3", [Tag("k", "a,b")], "v"),
        (#"m4,k=a\=b v=1 4"#, "m4", [Tag("k", "a=b")], "v"),
        (#"m5,k=a\\b v=1 5"#, "m5", [Tag("k", #"a\\b"#)], "v"),
        (#"m6,k=a\\\,b v=1 6"#, "m6", [Tag("k", #"a\\,b"#)], "v"),
        (#"m7\ x,k=v v=1 7"#, "m7 x", [Tag("k", "v")], "v"),
        (#"m8\,x,k=v v=1 8"#, "m8,x", [Tag("k", "v")], "v"),
        (#"m9\\x,k=v v=1 9"#, #"m9\\x"#, [Tag("k", "v")], "v"),
        (#"m10,k=v f\ x=1 10"#, "m10", [Tag("k", "v")], "f x"),
        (#"m16,k\ x=v v=1 16"#, "m16", [Tag("k x", "v")], "v"),
    ]

    @Test func namesDecodeAsInfluxDBStoresThem_andEncodeBackToTheSameLine() {
        for (line, series, tags, field) in Self.storedByInfluxDB {
            let (points, errors) = LineProtocolDecoder().decode(Array((line + "\n").utf8))
            #expect(errors.isEmpty, "\(line): \(errors)")
            guard let point = points.first else { continue }
            #expect(point.series == series, "\(line)")
            #expect(point.tags == tags, "\(line)")
            #expect(point.fields.map(\.key) == [field], "\(line)")
            var out: [UInt8] = []
            LineProtocolEncoder().encode(point, into: &out)
            #expect(String(decoding: out, as: UTF8.self) == line + "\n", "re-encoded")
        }
    }

    /// InfluxDB refuses these lines (`invalid tag format`): a backslash pair right before a separator.
    @Test func aNameEndingInABackslash_isRefusedAsInfluxDBRefusesIt() {
        for line in [#"m18,k=v\\ v=1 18"#, #"m\\ v=1"#, #"m f\\=1"#] {
            let (points, errors) = LineProtocolDecoder().decode(Array(line.utf8))
            #expect(points.isEmpty, "\(line)")
            #expect(errors.map(\.reason) == [.badEscape], "\(line): \(errors)")
            #expect(errors.first?.message.contains("ends with a backslash") == true, "\(errors)")
        }
    }

    /// JSON can carry any name; one line protocol cannot spell is refused at the door, with why, so a
    /// point is never answered 2xx and then altered or refused by InfluxDB downstream.
    @Test func aJSONNameLineProtocolCannotSpell_isRefusedNamingIt() {
        let refused = [
            #"{"series":"m","tags":{"path":"C:\\Temp\\"},"fields":{"v":1}}"#,
            #"{"series":"m\\ x","fields":{"v":1}}"#,
            #"{"series":"m","fields":{"a\\=b":1}}"#,
        ]
        for body in refused {
            let (points, errors) = JSONPointDecoder().decode(body)
            #expect(points.isEmpty, "\(body)")
            #expect(errors.map(\.reason) == [.invalidName], "\(body): \(errors)")
            #expect(errors.first?.message.contains("line protocol cannot spell it") == true, "\(errors)")
        }
        // A backslash elsewhere is fine, and written as it is.
        let (points, errors) = JSONPointDecoder().decode(
            #"{"series":"m=x\\y","tags":{"path":"C:\\Temp\\x"},"fields":{"v":1}}"#)
        #expect(errors.isEmpty)
        var out: [UInt8] = []
        if let point = points.first { LineProtocolEncoder().encode(point, into: &out) }
        #expect(String(decoding: out, as: UTF8.self).hasPrefix(#"m=x\y,path=C:\Temp\x v=1"#))
    }

    @Test func lineProtocolProblem_findsExactlyTheNamesWithoutASpelling() {
        #expect(NameRules.lineProtocolProblem(#"a\b"#, measurement: false) == nil)
        #expect(NameRules.lineProtocolProblem(#"a\\,b"#, measurement: false) == nil)
        #expect(NameRules.lineProtocolProblem(#"a\,b"#, measurement: false) != nil)
        #expect(NameRules.lineProtocolProblem(#"a\=b"#, measurement: true) == nil)
        #expect(NameRules.lineProtocolProblem(#"a\=b"#, measurement: false) != nil)
        #expect(NameRules.lineProtocolProblem(#"a\"#, measurement: true) != nil)
        #expect(NameRules.lineProtocolProblem(#"a\\"#, measurement: false) != nil)
    }
}
