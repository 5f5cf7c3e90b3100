/// A configured secret (a token, a password): its text is only reachable through `value`, so a
/// struct holding one can be logged, dumped or described without showing it. Every textual form
/// (`description`, `debugDescription`, a mirror) is `<redacted>`, or empty when nothing is set.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable, ExpressibleByStringLiteral
{
    /// The secret itself: pass it only to what needs it (a comparison, an Authorization header).
    public let value: String

    public init(_ value: String) { self.value = value }
    public init(stringLiteral value: String) { self.value = value }

    public var isEmpty: Bool { value.isEmpty }
    public var description: String { value.isEmpty ? "" : "<redacted>" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// Compares in time that does not depend on where the texts first differ.
    public func matches(_ candidate: some StringProtocol) -> Bool {
        let a = Array(value.utf8), b = Array(candidate.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0 && !a.isEmpty
    }
}

/// Secrets out of URLs before they reach logs, status and API answers.
public enum Redact {
    /// `scheme://host[:port]/path`: no user, password, query string or fragment (tokens, user names
    /// and passwords live there). Text without `scheme://` is returned unchanged.
    public static func url(_ text: String) -> String {
        guard let colon = schemeSeparator(in: text) else { return text }
        let scheme = text[..<colon]
        var rest = text[text.index(colon, offsetBy: 3)...]
        // A password may hold `/`, `?` or `#`: the authority ends at the last `@` when there is one.
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        let cut = rest.firstIndex { $0 == "?" || $0 == "#" } ?? rest.endIndex
        return "\(scheme)://\(rest[..<cut])"
    }

    /// Where `://` starts, when the text before it is a scheme (letters, digits, `+`, `-`, `.`).
    static func schemeSeparator(in text: String) -> String.Index? {
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == ":" {
                return text[i...].hasPrefix("://") && i > text.startIndex ? i : nil
            }
            guard c.isLetter || c.isNumber || c == "+" || c == "-" || c == "." else { return nil }
            i = text.index(after: i)
        }
        return nil
    }
}
