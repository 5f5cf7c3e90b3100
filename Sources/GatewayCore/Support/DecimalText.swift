/// Decimal digits written straight into memory, without `String` formatting or allocation: the
/// line-protocol encoder's numbers and timestamps, the proc plugin's `/proc/<pid>/stat` paths.
public enum DecimalText {
    /// Writes the digits of `value` at `out` (room for 20 bytes); returns how many were written.
    @inlinable
    public static func write(_ value: UInt64, to out: UnsafeMutablePointer<UInt8>) -> Int {
        var length = 1
        var rest = value / 10
        while rest > 0 {
            length += 1
            rest /= 10
        }
        var v = value
        var i = length - 1
        while i >= 0 {
            out[i] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
            i -= 1
        }
        return length
    }
}
