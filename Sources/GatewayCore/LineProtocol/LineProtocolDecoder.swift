/// Decodes InfluxDB line protocol, as InfluxDB's reference describes it:
///
///     measurement[,tag=value...] field=value[,field=value...] [timestamp]
///
/// - Measurement: `,` and space are escaped with `\`.
/// - Tag keys, tag values, field keys: `,`, `=` and space are escaped.
/// - `\\` is one backslash; a backslash before any other character is literal.
/// - String field values are double-quoted; `\"` and `\\` are escapes; they may span lines.
/// - Floats (`1`, `-1.5`, `1e-3`), integers (`1i`), unsigned (`1u`), booleans (`t`, `T`, `true`,
///   `True`, `TRUE`, `f`, `F`, `false`, `False`, `FALSE`).
/// - Optional integer timestamp in the decoder's precision; absent means the receive time.
/// - `#` comment lines and blank lines are skipped; `\r\n` line ends are accepted.
/// - Names follow ``NameRules``: no control characters, series keys and field keys within InfluxDB's
///   65,535 bytes.
///
/// A bad line yields a ``PointError`` naming its line and column; the other lines go on.
///
/// The parsing itself is ``LineParser``, split by section over `LineParser*.swift`.
public struct LineProtocolDecoder: Sendable {
    public var precision: Precision
    /// Longest string field value accepted, in bytes (InfluxDB's limit is 64 KiB).
    public var maxStringLength: Int
    /// Longest series key, and series key + separator + field key, in bytes (see ``NameRules``).
    public var maxKeyLength: Int
    /// Whether names with control characters are refused (see ``NameRules``).
    public var refusesControlCharacters: Bool
    /// Tags added to every point that lacks them (the gateway's default tags, such as `host`), kept
    /// sorted with the others. Adding them here, once per series when a ``SeriesCache`` is used, spares
    /// normalisation a copy of every point's tag array.
    public var defaultTags: [Tag]

    public init(
        precision: Precision = .nanoseconds, maxStringLength: Int = 65_536, maxKeyLength: Int = NameRules.maxKeyLength,
        refusesControlCharacters: Bool = true, defaultTags: [Tag] = []
    ) {
        self.precision = precision
        self.maxStringLength = maxStringLength
        self.maxKeyLength = maxKeyLength
        self.refusesControlCharacters = refusesControlCharacters
        self.defaultTags = defaultTags
    }

    /// A decoder for line protocol the gateway wrote itself (its spool): no input limits, since
    /// what was accepted once is delivered as it was, whatever the rules were then.
    public static func storedData(precision: Precision) -> LineProtocolDecoder {
        LineProtocolDecoder(
            precision: precision, maxStringLength: .max, maxKeyLength: .max, refusesControlCharacters: false)
    }

    /// Decodes every line of `input`, appending good points to `points` and one error per bad line
    /// to `errors`. Points without a timestamp get `receiveTime` (nanoseconds).
    ///
    /// With a `cache`, the series and tags of key sections seen before are taken from it; the cache
    /// must have been made with this decoder's ``defaultTags``.
    public func decode(
        _ input: UnsafeRawBufferPointer,
        receiveTime: Int64,
        into points: inout [Point],
        errors: inout [PointError],
        cache: SeriesCache? = nil
    ) {
        guard let base = input.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        precondition(cache == nil || cache!.defaultTags == defaultTags, "SeriesCache made for other default tags")
        var parser = LineParser(
            bytes: UnsafeBufferPointer(start: base, count: input.count),
            precision: precision,
            maxStringLength: maxStringLength,
            maxKeyLength: maxKeyLength,
            refusesControlCharacters: refusesControlCharacters,
            receiveTime: receiveTime,
            defaultTags: defaultTags,
            cache: cache
        )
        parser.run(points: &points, errors: &errors)
    }

    /// Convenience for byte arrays.
    public func decode(_ bytes: [UInt8], receiveTime: Int64 = 0) -> (points: [Point], errors: [PointError]) {
        var points: [Point] = []
        var errors: [PointError] = []
        bytes.withUnsafeBytes { decode($0, receiveTime: receiveTime, into: &points, errors: &errors) }
        return (points, errors)
    }

    /// Convenience for strings (tests, the CLI).
    public func decode(_ text: String, receiveTime: Int64 = 0) -> (points: [Point], errors: [PointError]) {
        decode(Array(text.utf8), receiveTime: receiveTime)
    }
}

/// Byte constants used by the codecs.
@usableFromInline
enum ASCII {
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let comma = UInt8(ascii: ",")
    static let equals = UInt8(ascii: "=")
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let hash = UInt8(ascii: "#")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let dot = UInt8(ascii: ".")
    static let zero = UInt8(ascii: "0")
    static let nine = UInt8(ascii: "9")
}
