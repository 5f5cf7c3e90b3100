extension Point {
    /// Equality without Swift's own leniency, for round-trip checks (tests, fuzzing): strings byte for
    /// byte (`==` on `String` compares canonical equivalence, so "é" precomposed equals "e" + U+0301),
    /// floats by bit pattern (`==` makes -0.0 equal 0.0).
    public func isIdentical(to other: Point) -> Bool {
        func same(_ x: String, _ y: String) -> Bool { x.utf8.elementsEqual(y.utf8) }
        func same(_ x: FieldValue, _ y: FieldValue) -> Bool {
            switch (x, y) {
            case (.float(let l), .float(let r)): return l.bitPattern == r.bitPattern
            case (.string(let l), .string(let r)): return same(l, r)
            default: return x == y
            }
        }
        return same(series, other.series) && time == other.time && tags.count == other.tags.count
            && fields.count == other.fields.count
            && zip(tags, other.tags).allSatisfy { same($0.key, $1.key) && same($0.value, $1.value) }
            && zip(fields, other.fields).allSatisfy { same($0.key, $1.key) && same($0.value, $1.value) }
    }
}
