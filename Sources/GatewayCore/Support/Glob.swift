/// A shell-style glob over bytes: `*` any run, `?` one byte, `[abc]`, `[a-z]`, `[!x]` one of a set,
/// `\` escapes. Patterns without metacharacters compare for equality; `*` matches everything.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    @usableFromInline let kind: Kind
    private let bytes: [UInt8]

    @usableFromInline enum Kind: Hashable, Sendable {
        case everything, exact, pattern
    }

    public init(_ pattern: String) {
        self.pattern = pattern
        self.bytes = Array(pattern.utf8)
        if pattern == "*" {
            kind = .everything
        } else if pattern.utf8.contains(where: {
            $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "\\")
        }) {
            kind = .pattern
        } else {
            kind = .exact
        }
    }

    public var description: String { pattern }
    public var matchesEverything: Bool { kind == .everything }

    @inlinable
    public func matches(_ text: String) -> Bool {
        switch kind {
        case .everything: return true
        case .exact: return text == pattern
        case .pattern:
            var text = text
            return text.withUTF8 { matchBytes($0) }
        }
    }

    @usableFromInline
    func matchBytes(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        // Iterative matcher with single-star backtracking (linear for typical patterns).
        var p = 0
        var t = 0
        var starP = -1
        var starT = 0
        while t < text.count {
            if p < bytes.count {
                let c = bytes[p]
                if c == UInt8(ascii: "*") {
                    starP = p
                    starT = t
                    p += 1
                    continue
                }
                if let next = matchOne(at: p, byte: text[t]) {
                    p = next
                    t += 1
                    continue
                }
            }
            guard starP >= 0 else { return false }
            p = starP + 1
            starT += 1
            t = starT
        }
        while p < bytes.count, bytes[p] == UInt8(ascii: "*") { p += 1 }
        return p == bytes.count
    }

    /// If the pattern element at `p` matches `byte`, the index after that element.
    private func matchOne(at p: Int, byte: UInt8) -> Int? {
        let c = bytes[p]
        switch c {
        case UInt8(ascii: "?"):
            return p + 1
        case UInt8(ascii: "\\") where p + 1 < bytes.count:
            return bytes[p + 1] == byte ? p + 2 : nil
        case UInt8(ascii: "["):
            var i = p + 1
            var negate = false
            if i < bytes.count, bytes[i] == UInt8(ascii: "!") || bytes[i] == UInt8(ascii: "^") {
                negate = true
                i += 1
            }
            var matched = false
            var first = true
            while i < bytes.count, bytes[i] != UInt8(ascii: "]") || first {
                first = false
                let low = bytes[i]
                if i + 2 < bytes.count, bytes[i + 1] == UInt8(ascii: "-"), bytes[i + 2] != UInt8(ascii: "]") {
                    if byte >= low && byte <= bytes[i + 2] { matched = true }
                    i += 3
                } else {
                    if byte == low { matched = true }
                    i += 1
                }
            }
            guard i < bytes.count else { return c == byte ? p + 1 : nil }  // no closing ']': literal '['
            return matched != negate ? i + 1 : nil
        default:
            return c == byte ? p + 1 : nil
        }
    }
}
