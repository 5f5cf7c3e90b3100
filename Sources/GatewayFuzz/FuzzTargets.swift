import CLibdeflate
import GatewayCore

/// The fuzzing targets: each takes one input, runs a decoder on it, and traps when something that
/// must hold does not (a crash is libFuzzer's signal that it found something).
enum FuzzTarget: String, CaseIterable {
    /// Line protocol: decoded without a series cache, with a fresh one and with a warm one, the
    /// three must agree; every point must follow the model's and ``NameRules``' invariants.
    case lineProtocol = "line-protocol"
    /// JSON points: every point must follow the invariants.
    case json
    /// gzip bodies: a body that decodes must be refused once cut short; and the input itself,
    /// compressed, must decode back to itself and be refused when cut or damaged.
    case gzip
    /// decode -> encode -> decode: every point decoded from the input, as line protocol or as JSON,
    /// must come back equal through line protocol and through JSON.
    case roundTrip = "roundtrip"
    /// The ingest journal's records read back from a damaged or torn file.
    case journal
    /// StatsD datagrams: parsed whole and line by line (the two must agree), every line either
    /// yields samples or one error, and the aggregated points follow the invariants.
    case statsd

    func run(_ input: UnsafeRawBufferPointer) {
        switch self {
        case .lineProtocol: Self.lineProtocol(input)
        case .json: Self.json(input)
        case .gzip: Self.gzip(input)
        case .roundTrip: Self.roundTrip(input)
        case .journal: Self.journal(input)
        case .statsd: Self.statsd(input)
        }
    }

    /// Inputs are bounded so that one run stays fast; libFuzzer's `-max_len` keeps them smaller still.
    static let maxInput = 1 << 20

    // MARK: - Line protocol

    static func lineProtocol(_ input: UnsafeRawBufferPointer) {
        let decoder = LineProtocolDecoder(precision: .nanoseconds)
        var plain: [Point] = [], plainErrors: [PointError] = []
        decoder.decode(input, receiveTime: 42, into: &plain, errors: &plainErrors)
        let cache = SeriesCache(slots: 16, defaultTags: [])
        for pass in 0..<2 {
            var cached: [Point] = [], cachedErrors: [PointError] = []
            decoder.decode(input, receiveTime: 42, into: &cached, errors: &cachedErrors, cache: cache)
            check(identical(cached, plain), "line protocol: points differ with a series cache (pass \(pass))")
            check(cachedErrors == plainErrors, "line protocol: errors differ with a series cache (pass \(pass))")
        }
        for point in plain { checkInvariants(point, "line protocol") }
    }

    // MARK: - JSON

    static func json(_ input: UnsafeRawBufferPointer) {
        var points: [Point] = [], errors: [PointError] = []
        JSONPointDecoder(precision: .seconds).decode(input, receiveTime: 42, into: &points, errors: &errors)
        for point in points { checkInvariants(point, "json") }
    }

    // MARK: - gzip

    static let gzipLimit = 1 << 18

    static func gzip(_ input: UnsafeRawBufferPointer) {
        // The input as a body.
        if let decoded = try? GzipBody.decode(input, limit: gzipLimit) {
            check(decoded.count <= gzipLimit, "gzip: decoded past the limit")
            // A cut body decodes only when cut between two members: then the rest is a body too,
            // and the two decode to the whole.
            for cut in cuts(input.count) {
                let prefix = UnsafeRawBufferPointer(rebasing: input[0..<cut])
                guard let head = try? GzipBody.decode(prefix, limit: gzipLimit) else { continue }
                let rest = UnsafeRawBufferPointer(rebasing: input[cut...])
                let tail = try? GzipBody.decode(rest, limit: gzipLimit)
                check(tail != nil && head + tail! == decoded, "gzip: a body cut at \(cut), inside a member, decodes")
            }
        }
        // The input as data: compressed whole (and as two members), it must come back exactly.
        let raw = Array(input)
        let level = Int(raw.first.map { $0 % 10 } ?? 1)
        let single = compress(raw, level: level)
        let split = raw.count / 2
        let first = compress(Array(raw[..<split]), level: level)
        let double = first + compress(Array(raw[split...]), level: level)
        for (index, body) in [single, double].enumerated() {
            let decoded = try? GzipBody.decode(body, limit: gzipLimit)
            check(decoded == raw, "gzip: a compressed input does not decode back to itself")
            // Every cut is refused but the one between the two members.
            for cut in cuts(body.count) where !(index == 1 && cut == first.count) {
                check(
                    (try? GzipBody.decode(Array(body[0..<cut]), limit: gzipLimit)) == nil, "gzip: cut at \(cut) decodes"
                )
            }
            // Damage in the trailer (CRC-32 or length) or stray bytes after it.
            var damaged = body
            damaged[damaged.count - 1 - level % 8] ^= 0x01
            check((try? GzipBody.decode(damaged, limit: gzipLimit)) == nil, "gzip: a damaged trailer decodes")
            check((try? GzipBody.decode(body + [0], limit: gzipLimit)) == nil, "gzip: trailing data decodes")
        }
        if !raw.isEmpty {
            check((try? GzipBody.decode(single, limit: raw.count - 1)) == nil, "gzip: decoded past a limit")
        }
    }

    /// A few cut points of a body of `count` bytes: every one for short bodies, else a sample.
    static func cuts(_ count: Int) -> [Int] {
        if count <= 64 { return Array(0..<count) }
        return [0, 1, 9, 10, count / 3, count / 2, count - 9, count - 8, count - 4, count - 1]
    }

    /// One compressor per level 0-9, made once (libdeflate's are costly to make).
    nonisolated(unsafe) static let compressors: [OpaquePointer] = (0..<10).map { level in
        guard let compressor = libdeflate_alloc_compressor(Int32(level)) else {
            fatalError("libdeflate: no compressor")
        }
        return compressor
    }

    static func compress(_ raw: [UInt8], level: Int) -> [UInt8] {
        let compressor = compressors[level]
        let bound = libdeflate_gzip_compress_bound(compressor, raw.count)
        return [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            count = raw.withUnsafeBytes {
                libdeflate_gzip_compress(compressor, $0.baseAddress, $0.count, buffer.baseAddress, bound)
            }
        }
    }

    // MARK: - Round trip

    /// Any bytes: parsing never fails hard; every byte is in a record or counted as damaged; each
    /// record written again reads back equal. The input also serves as a body, written as a record
    /// and read back between damaged bytes.
    static func journal(_ input: UnsafeRawBufferPointer) {
        let bytes = Array(input)
        let parsed = JournalRecord.parseAll(bytes)
        let recordBytes = parsed.records.reduce(0) { $0 + JournalRecord.headerSize + $1.body.count }
        check(recordBytes + parsed.damagedBytes == bytes.count, "journal: bytes neither in a record nor damaged")
        for record in parsed.records {
            check(
                encode(record) != nil && JournalRecord.parseAll(encode(record)!).records == [record],
                "journal: a record does not read back equal")
        }
        let record = JournalRecord(
            sequence: UInt64(bytes.count), receiveTime: -1, format: .json, linePrecision: .microseconds,
            jsonPrecision: .seconds, body: bytes)
        let encoded = encode(record)!
        let noise: [UInt8] = [0x4A, 0x52, 0x4E, 0x31, 0xFF]
        let surrounded = JournalRecord.parseAll(noise + encoded + noise)
        check(surrounded.records == [record], "journal: a whole record between damaged bytes is lost")
        check(surrounded.damagedBytes == 2 * noise.count, "journal: damaged bytes miscounted")
    }

    static func encode(_ record: JournalRecord) -> [UInt8]? {
        record.body.withUnsafeBytes { body in
            JournalRecord.header(
                sequence: record.sequence, receiveTime: record.receiveTime, format: record.format,
                linePrecision: record.linePrecision, jsonPrecision: record.jsonPrecision, body: body) + record.body
        }
    }

    static func roundTrip(_ input: UnsafeRawBufferPointer) {
        var points: [Point] = [], errors: [PointError] = []
        LineProtocolDecoder(precision: .nanoseconds).decode(input, receiveTime: 42, into: &points, errors: &errors)
        JSONPointDecoder(precision: .nanoseconds).decode(input, receiveTime: 42, into: &points, errors: &errors)
        guard !points.isEmpty else { return }

        let lines = LineProtocolEncoder(precision: .nanoseconds).encode(points)
        let again = LineProtocolDecoder(precision: .nanoseconds).decode(lines, receiveTime: -1)
        check(
            again.errors.isEmpty, "round trip: line protocol the encoder wrote does not decode: \(again.errors.first!)")
        check(identical(again.points, points), "round trip: points differ after line protocol")

        var json: [UInt8] = []
        for point in points { JSONPointEncoder().encode(point, into: &json) }
        var back: [Point] = [], backErrors: [PointError] = []
        json.withUnsafeBytes {
            JSONPointDecoder(precision: .seconds).decode($0, receiveTime: -1, into: &back, errors: &backErrors)
        }
        check(backErrors.isEmpty, "round trip: JSON the encoder wrote does not decode: \(backErrors.first!)")
        // JSON numbers carry no signedness: an unsigned value that fits Int64 comes back an integer.
        check(identical(back, points.map(signedWherePossible)), "round trip: points differ after JSON")
    }

    static func signedWherePossible(_ point: Point) -> Point {
        var point = point
        for i in point.fields.indices {
            if case .uint(let v) = point.fields[i].value, v <= UInt64(Int64.max) {
                point.fields[i].value = .int(Int64(v))
            }
        }
        return point
    }

    // MARK: - Invariants

    /// Equality without Swift's own leniency: strings byte for byte (`==` on `String` compares
    /// canonical equivalence, so "é" precomposed equals "e" + U+0301), floats by bit pattern (`==`
    /// makes -0.0 equal 0.0).
    static func identical(_ a: [Point], _ b: [Point]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy(identical)
    }

    static func identical(_ a: Point, _ b: Point) -> Bool { a.isIdentical(to: b) }

    /// What every decoded point holds: a non-empty series not starting with `#`, at least one field,
    /// tags sorted by key and unique, non-empty names without control characters, keys in the limit.
    static func checkInvariants(_ point: Point, _ what: String) {
        check(!point.series.isEmpty && point.series.utf8.first != UInt8(ascii: "#"), "\(what): bad series")
        check(!point.fields.isEmpty, "\(what): a point without fields")
        for name in [point.series] + point.tags.flatMap({ [$0.key, $0.value] }) + point.fields.map(\.key) {
            check(!name.isEmpty, "\(what): an empty name")
            check(!name.unicodeScalars.contains(where: NameRules.isControl), "\(what): a control character in a name")
        }
        for i in point.tags.indices.dropFirst() {
            check(
                point.tags[i - 1].key.utf8.lexicographicallyPrecedes(point.tags[i].key.utf8), "\(what): tags unsorted")
        }
        let keys = Set(point.fields.map { Array($0.key.utf8) })
        check(keys.count == point.fields.count, "\(what): a field key twice")
        check(
            NameRules.seriesKeyLength(series: point.series, tags: point.tags) <= NameRules.maxKeyLength,
            "\(what): a series key over the limit")
    }

    /// Traps with `message` unless `condition` holds.
    static func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
        if !condition() { fatalError(message()) }
    }
}
