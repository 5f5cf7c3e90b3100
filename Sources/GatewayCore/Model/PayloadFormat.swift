/// The two payload formats a listener accepts. The first non-blank byte tells them apart:
/// `{` or `[` is JSON, anything else line protocol.
public enum PayloadFormat: String, Sendable {
    case lineProtocol = "line"
    case json

    public static func detect(_ bytes: UnsafeRawBufferPointer) -> PayloadFormat {
        for b in bytes {
            switch b {
            case ASCII.space, ASCII.tab, ASCII.newline, ASCII.carriageReturn: continue
            case UInt8(ascii: "{"), UInt8(ascii: "["): return .json
            default: return .lineProtocol
            }
        }
        return .lineProtocol
    }
}
