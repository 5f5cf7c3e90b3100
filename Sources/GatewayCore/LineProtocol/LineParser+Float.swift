// Line protocol decoding, part of the hot path (see LineParser.swift): the float grammar and its
// exact fast path.

extension LineParser {
    // MARK: - Floats

    /// Exact powers of ten, for the fast path of ``parseFloat(_:)``.
    static let powersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
        1e19, 1e20, 1e21, 1e22,
    ]

    /// Strict float grammar: `-?(digits[.digits*]|.digits)([eE][+-]?digits)?`, finite.
    ///
    /// Values whose significant digits fit 2^53 and whose decimal exponent is within ±22 are computed
    /// with one exact multiplication or division (Clinger's fast path: correctly rounded); the rest go
    /// to the C library's strtod.
    static func parseFloat(_ token: UnsafeBufferPointer<UInt8>) -> Double? {
        var i = 0
        let n = token.count
        let negative = i < n && token[i] == ASCII.minus
        if negative { i += 1 }
        var mantissa: UInt64 = 0
        var significant = 0
        var decimalExponent = 0
        var exact = true
        var digits = 0
        while i < n, token[i] >= ASCII.zero, token[i] <= ASCII.nine {
            let d = UInt64(token[i] &- ASCII.zero)
            if mantissa == 0 && d == 0 {
                // leading zero
            } else if significant < 19 {
                mantissa = mantissa &* 10 &+ d
                significant += 1
            } else {
                exact = false
                decimalExponent += 1
            }
            digits += 1
            i += 1
        }
        if i < n, token[i] == ASCII.dot {
            i += 1
            while i < n, token[i] >= ASCII.zero, token[i] <= ASCII.nine {
                let d = UInt64(token[i] &- ASCII.zero)
                if mantissa == 0 && d == 0 {
                    decimalExponent -= 1
                } else if significant < 19 {
                    mantissa = mantissa &* 10 &+ d
                    significant += 1
                    decimalExponent -= 1
                } else {
                    exact = false
                }
                digits += 1
                i += 1
            }
        }
        guard digits > 0 else { return nil }
        if i < n, token[i] == UInt8(ascii: "e") || token[i] == UInt8(ascii: "E") {
            i += 1
            var exponentNegative = false
            if i < n, token[i] == ASCII.plus || token[i] == ASCII.minus {
                exponentNegative = token[i] == ASCII.minus
                i += 1
            }
            let expStart = i
            var exponent = 0
            while i < n, token[i] >= ASCII.zero, token[i] <= ASCII.nine {
                if exponent < 100_000 { exponent = exponent * 10 + Int(token[i] &- ASCII.zero) }
                i += 1
            }
            guard i > expStart else { return nil }
            decimalExponent += exponentNegative ? -exponent : exponent
        }
        guard i == n else { return nil }
        if mantissa == 0 { return negative ? -0.0 : 0.0 }
        if exact, mantissa <= 1 << 53, decimalExponent >= -22, decimalExponent <= 22 {
            var value = Double(mantissa)
            if decimalExponent >= 0 {
                value *= powersOfTen[decimalExponent]
            } else {
                value /= powersOfTen[-decimalExponent]
            }
            return negative ? -value : value
        }
        guard let value = Double(String(decoding: token, as: UTF8.self)), value.isFinite else { return nil }
        return value
    }
}
