import Testing

@testable import GatewayCore

/// The point model's tag, not Swift Testing's `Tag`.
typealias Tag = GatewayCore.Tag

/// A small, fast, seeded generator (SplitMix64) so property and fuzz tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Decodes line protocol from a string.
func lp(_ text: String, precision: Precision = .nanoseconds, receiveTime: Int64 = 0) -> (
    points: [Point], errors: [PointError]
) {
    LineProtocolDecoder(precision: precision).decode(text, receiveTime: receiveTime)
}

/// Decodes line protocol from raw bytes.
func lp(bytes: [UInt8], precision: Precision = .nanoseconds, receiveTime: Int64 = 0) -> (
    points: [Point], errors: [PointError]
) {
    LineProtocolDecoder(precision: precision).decode(bytes, receiveTime: receiveTime)
}

/// Decodes exactly one good point, recording an issue otherwise.
func onePoint(
    _ text: String, precision: Precision = .nanoseconds, receiveTime: Int64 = 0,
    sourceLocation: SourceLocation = #_sourceLocation
) -> Point? {
    let (points, errors) = lp(text, precision: precision, receiveTime: receiveTime)
    #expect(errors.isEmpty, "unexpected errors: \(errors)", sourceLocation: sourceLocation)
    #expect(points.count == 1, "expected one point, got \(points)", sourceLocation: sourceLocation)
    return points.count == 1 ? points[0] : nil
}

/// Decodes exactly one error and no points, recording an issue otherwise.
func oneError(
    _ text: String, precision: Precision = .nanoseconds, maxStringLength: Int = 65_536,
    sourceLocation: SourceLocation = #_sourceLocation
) -> PointError? {
    oneError(
        bytes: Array(text.utf8), precision: precision, maxStringLength: maxStringLength, sourceLocation: sourceLocation)
}

func oneError(
    bytes: [UInt8], precision: Precision = .nanoseconds, maxStringLength: Int = 65_536,
    sourceLocation: SourceLocation = #_sourceLocation
) -> PointError? {
    let (points, errors) = LineProtocolDecoder(precision: precision, maxStringLength: maxStringLength).decode(bytes)
    #expect(points.isEmpty, "unexpected points: \(points)", sourceLocation: sourceLocation)
    #expect(errors.count == 1, "expected one error, got \(errors)", sourceLocation: sourceLocation)
    return errors.first
}

/// The value of the only field of the only point of `text`.
func fieldValue(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> FieldValue? {
    guard let point = onePoint(text, sourceLocation: sourceLocation) else { return nil }
    #expect(point.fields.count == 1, sourceLocation: sourceLocation)
    return point.fields.first?.value
}

/// Decodes JSON points.
func json(_ text: String, precision: Precision = .seconds, receiveTime: Int64 = 0, maxStringLength: Int = 65_536)
    -> (points: [Point], errors: [PointError])
{
    JSONPointDecoder(precision: precision, maxStringLength: maxStringLength).decode(text, receiveTime: receiveTime)
}

func json(bytes: [UInt8], receiveTime: Int64 = 0) -> (points: [Point], errors: [PointError]) {
    var points: [Point] = []
    var errors: [PointError] = []
    bytes.withUnsafeBytes { JSONPointDecoder().decode($0, receiveTime: receiveTime, into: &points, errors: &errors) }
    return (points, errors)
}

/// Exactly one good JSON point.
func oneJSONPoint(
    _ text: String, precision: Precision = .seconds, receiveTime: Int64 = 0,
    sourceLocation: SourceLocation = #_sourceLocation
) -> Point? {
    let (points, errors) = json(text, precision: precision, receiveTime: receiveTime)
    #expect(errors.isEmpty, "unexpected errors: \(errors)", sourceLocation: sourceLocation)
    #expect(points.count == 1, "expected one point, got \(points)", sourceLocation: sourceLocation)
    return points.count == 1 ? points[0] : nil
}

/// Exactly one JSON error and no points.
func oneJSONError(
    _ text: String, maxStringLength: Int = 65_536, sourceLocation: SourceLocation = #_sourceLocation
) -> PointError? {
    let (points, errors) = json(text, maxStringLength: maxStringLength)
    #expect(points.isEmpty, "unexpected points: \(points)", sourceLocation: sourceLocation)
    #expect(errors.count == 1, "expected one error, got \(errors)", sourceLocation: sourceLocation)
    return errors.first
}

/// Equality that Swift's `==` does not give (``Point/isIdentical(to:)``).
func identical(_ a: Point, _ b: Point) -> Bool { a.isIdentical(to: b) }

/// A point with one float field `f`, for tests that only care about names.
func pointF(_ series: String, tags: [Tag] = [], time: Int64 = 0, _ value: FieldValue = .float(1)) -> Point {
    Point(series: series, time: time, tags: tags, fields: [Field("f", value)])
}
