/// Expands `${VAR}` and `${VAR:-default}` from the environment in configuration values.
/// `$$` is a literal `$`. A variable that is unset (or empty) with no default is an error, so a
/// missing secret is caught at start, not at the first write.
public enum EnvironmentExpansion {
    public struct Missing: Error {
        public var name: String
    }

    public static func expand(_ text: String, environment: [String: String]) throws(Missing) -> String {
        guard text.contains("$") else { return text }
        var out = ""
        var index = text.startIndex
        while index < text.endIndex {
            let c = text[index]
            let next = text.index(after: index)
            if c == "$", next < text.endIndex, text[next] == "$" {
                out.append("$")
                index = text.index(after: next)
                continue
            }
            if c == "$", next < text.endIndex, text[next] == "{", let close = text[next...].firstIndex(of: "}") {
                let body = text[text.index(after: next)..<close]
                let name: Substring
                var fallback: Substring?
                if let separator = body.range(of: ":-") {
                    name = body[..<separator.lowerBound]
                    fallback = body[separator.upperBound...]
                } else {
                    name = body
                }
                if let value = environment[String(name)], !value.isEmpty {
                    out += value
                } else if let fallback {
                    out += fallback
                } else {
                    throw Missing(name: String(name))
                }
                index = text.index(after: close)
                continue
            }
            out.append(c)
            index = next
        }
        return out
    }
}
