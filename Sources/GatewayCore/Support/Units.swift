/// Parses the unit-named values of the configuration.
public enum Units {
    /// `500ms`, `10s`, `5m`, `1h`, `1d`, `1m30s`; a bare `0` is zero.
    public static func duration(_ text: String) -> Duration? {
        let text = trimmed(text)
        if text == "0" { return .zero }
        var total = Duration.zero
        var index = text.startIndex
        var any = false
        while index < text.endIndex {
            let numberStart = index
            while index < text.endIndex, text[index].isNumber || text[index] == "." { index = text.index(after: index) }
            guard index > numberStart, let value = Double(text[numberStart..<index]) else { return nil }
            let unitStart = index
            while index < text.endIndex, text[index].isLetter || text[index] == "µ" { index = text.index(after: index) }
            let nanosPerUnit: Double
            switch text[unitStart..<index] {
            case "ns": nanosPerUnit = 1
            case "us", "µs": nanosPerUnit = 1e3
            case "ms": nanosPerUnit = 1e6
            case "s": nanosPerUnit = 1e9
            case "m": nanosPerUnit = 60e9
            case "h": nanosPerUnit = 3600e9
            case "d": nanosPerUnit = 86400e9
            default: return nil
            }
            // Beyond about 292 years a duration no longer fits in Int64 nanoseconds: not a duration.
            let nanos = value * nanosPerUnit
            guard nanos < 9.2e18, Double(total.components.seconds) + nanos / 1e9 < 9.2e9 else { return nil }
            total += .nanoseconds(Int64(nanos))
            any = true
        }
        return any ? total : nil
    }

    /// `512`, `64KiB`, `32MiB`, `1GiB` (binary) or `100KB`, `8MB`, `1GB` (decimal); `B` allowed.
    public static func size(_ text: String) -> Int? {
        let text = trimmed(text)
        var index = text.startIndex
        while index < text.endIndex, text[index].isNumber || text[index] == "." { index = text.index(after: index) }
        guard index > text.startIndex, let value = Double(text[text.startIndex..<index]), value >= 0 else { return nil }
        let multiplier: Double
        switch trimmed(text[index...]) {
        case "", "B": multiplier = 1
        case "KiB": multiplier = 1024
        case "MiB": multiplier = 1024 * 1024
        case "GiB": multiplier = 1024 * 1024 * 1024
        case "KB", "kB": multiplier = 1000
        case "MB": multiplier = 1_000_000
        case "GB": multiplier = 1_000_000_000
        default: return nil
        }
        let bytes = value * multiplier
        guard bytes < Double(Int.max) else { return nil }
        return Int(bytes)
    }

    /// A duration as whole nanoseconds (durations here are far below Int64's 292 years).
    public static func nanoseconds(_ duration: Duration) -> Int64 {
        Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    /// A duration as people write it, in the configuration's units and rounded: `84ms`, `1.2s`,
    /// `5m30s`, `2h`. For log lines and messages (Swift's own form is `0.08386767761489934 seconds`).
    public static func text(_ duration: Duration) -> String {
        let nanos = nanoseconds(duration)
        if nanos < 0 { return "-" + text(.nanoseconds(-nanos)) }
        if nanos < 1_000 { return "\(nanos)ns" }
        if nanos < 1_000_000 { return "\(nanos / 1_000)us" }
        if nanos < 1_000_000_000 { return "\(Int((Double(nanos) / 1e6).rounded()))ms" }
        if nanos < 60_000_000_000 {
            let tenths = Int((Double(nanos) / 1e8).rounded())
            return tenths % 10 == 0 ? "\(tenths / 10)s" : "\(tenths / 10).\(tenths % 10)s"
        }
        let seconds = Int((Double(nanos) / 1e9).rounded())
        let (hours, minutes, rest) = (seconds / 3600, seconds % 3600 / 60, seconds % 60)
        var out = hours > 0 ? "\(hours)h" : ""
        if minutes > 0 { out += "\(minutes)m" }
        if rest > 0 || out.isEmpty { out += "\(rest)s" }
        return out
    }

    static func trimmed<S: StringProtocol>(_ text: S) -> String {
        String(
            text.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed()
        )
    }
}
