/// A parsed JSON value. Numbers keep their text so that `1` stays an integer and `1.0` a float,
/// and so that a number used as a tag value keeps the spelling its sender chose.
public indirect enum JSONValue: Sendable, Equatable {
    case string(String)
    case number(String)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([JSONMember])

    public var kindName: String {
        switch self {
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

public struct JSONMember: Sendable, Equatable {
    public var key: String
    public var value: JSONValue
}

extension JSONValue {
    /// Parses one whole JSON document strictly (RFC 8259); the error names the byte offset.
    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        do {
            return try bytes.withUnsafeBufferPointer { buffer throws(JSONReader.Failure) -> JSONValue in
                var reader = JSONReader(bytes: buffer)
                let value = try reader.readValue()
                reader.skipWhitespace()
                guard reader.atEnd else {
                    throw JSONReader.Failure(position: reader.position, message: "unexpected text after the JSON value")
                }
                return value
            }
        } catch {
            throw JSONParseError(offset: error.position, message: error.message)
        }
    }

    /// The member `key` of an object (the last one when repeated); nil for other values.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.key == key })?.value
    }

    /// A number's value as a Double; nil for other values.
    public var double: Double? {
        guard case .number(let text) = self else { return nil }
        return Double(text)
    }
}

public struct JSONParseError: Error, CustomStringConvertible {
    public let offset: Int
    public let message: String
    public var description: String { "\(message) at byte \(offset)" }
}

/// A strict JSON reader (RFC 8259) over bytes, reporting line and column on error.
struct JSONReader {
    struct Failure: Error {
        var position: Int
        var message: String
    }

    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    var depth = 0
    static let maxDepth = 64
    /// Where the elements of the outermost array begin; the caller clears it before each value.
    var elementStarts: [Int] = []

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case ASCII.space, ASCII.tab, ASCII.newline, ASCII.carriageReturn: position += 1
            default: return
            }
        }
    }

    var atEnd: Bool { position >= bytes.count }

    mutating func readValue() throws(Failure) -> JSONValue {
        skipWhitespace()
        guard position < bytes.count else { throw Failure(position: position, message: "unexpected end of input") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try readObject()
        case UInt8(ascii: "["): return try readArray()
        case ASCII.quote: return .string(try readString())
        case UInt8(ascii: "t"): try readLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try readLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try readLiteral("null"); return .null
        case ASCII.minus, ASCII.zero...ASCII.nine: return .number(try readNumber())
        default:
            throw Failure(
                position: position, message: "unexpected character \(Self.show(bytes[position])): expected a value")
        }
    }

    static func show(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7f ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
    }

    mutating func readLiteral(_ word: StaticString) throws(Failure) {
        let length = word.utf8CodeUnitCount
        guard position + length <= bytes.count,
            UnsafeBufferPointer(rebasing: bytes[position..<(position + length)]).elementsEqual(
                UnsafeBufferPointer(start: word.utf8Start, count: length))
        else {
            throw Failure(position: position, message: "invalid literal: expected \(word)")
        }
        position += length
    }

    mutating func readObject() throws(Failure) -> JSONValue {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw Failure(position: position, message: "nesting deeper than 64") }
        position += 1
        var members: [JSONMember] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == ASCII.quote else {
                throw Failure(position: position, message: "expected a quoted key")
            }
            let key = try readString()
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                throw Failure(position: position, message: "expected ':' after key \"\(key)\"")
            }
            position += 1
            let value = try readValue()
            members.append(JSONMember(key: key, value: value))
            skipWhitespace()
            guard position < bytes.count else { throw Failure(position: position, message: "unterminated object") }
            if bytes[position] == ASCII.comma {
                position += 1
                continue
            }
            if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            throw Failure(position: position, message: "expected ',' or '}' in object")
        }
    }

    mutating func readArray() throws(Failure) -> JSONValue {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw Failure(position: position, message: "nesting deeper than 64") }
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            if depth == 1 { elementStarts.append(position) }
            elements.append(try readValue())
            skipWhitespace()
            guard position < bytes.count else { throw Failure(position: position, message: "unterminated array") }
            if bytes[position] == ASCII.comma {
                position += 1
                continue
            }
            if bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            throw Failure(position: position, message: "expected ',' or ']' in array")
        }
    }

    mutating func readNumber() throws(Failure) -> String {
        let start = position
        if bytes[position] == ASCII.minus { position += 1 }
        let digitsStart = position
        while position < bytes.count, bytes[position] >= ASCII.zero, bytes[position] <= ASCII.nine { position += 1 }
        if position == digitsStart { throw Failure(position: start, message: "invalid number") }
        if bytes[digitsStart] == ASCII.zero, position - digitsStart > 1 {
            throw Failure(position: start, message: "invalid number: leading zero")
        }
        if position < bytes.count, bytes[position] == ASCII.dot {
            position += 1
            let fractionStart = position
            while position < bytes.count, bytes[position] >= ASCII.zero, bytes[position] <= ASCII.nine { position += 1 }
            if position == fractionStart {
                throw Failure(position: start, message: "invalid number: no digits after '.'")
            }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == ASCII.plus || bytes[position] == ASCII.minus { position += 1 }
            let exponentStart = position
            while position < bytes.count, bytes[position] >= ASCII.zero, bytes[position] <= ASCII.nine { position += 1 }
            if position == exponentStart {
                throw Failure(position: start, message: "invalid number: no exponent digits")
            }
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    }

    mutating func readString() throws(Failure) -> String {
        let open = position
        position += 1
        var out: [UInt8] = []
        var segmentStart = position
        while position < bytes.count {
            let b = bytes[position]
            if b == ASCII.quote {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[segmentStart..<position]))
                position += 1
                guard let string = String(validating: out, as: UTF8.self) else {
                    throw Failure(position: open, message: "string is not valid UTF-8")
                }
                return string
            }
            if b < 0x20 {
                throw Failure(position: position, message: "control character in string (escape it)")
            }
            if b == ASCII.backslash {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[segmentStart..<position]))
                position += 1
                guard position < bytes.count else { break }
                let e = bytes[position]
                position += 1
                switch e {
                case ASCII.quote, ASCII.backslash, UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(ASCII.newline)
                case UInt8(ascii: "r"): out.append(ASCII.carriageReturn)
                case UInt8(ascii: "t"): out.append(ASCII.tab)
                case UInt8(ascii: "u"):
                    var scalar = try readHex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard position + 1 < bytes.count, bytes[position] == ASCII.backslash,
                            bytes[position + 1] == UInt8(ascii: "u")
                        else { throw Failure(position: position, message: "lone surrogate in \\u escape") }
                        position += 2
                        let low = try readHex4()
                        guard (0xDC00...0xDFFF).contains(low) else {
                            throw Failure(position: position, message: "invalid surrogate pair in \\u escape")
                        }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw Failure(position: position, message: "lone surrogate in \\u escape")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else {
                        throw Failure(position: position, message: "invalid \\u escape")
                    }
                    out.append(contentsOf: String(Character(unicode)).utf8)
                default:
                    throw Failure(position: position - 1, message: "invalid escape \\\(Character(Unicode.Scalar(e)))")
                }
                segmentStart = position
                continue
            }
            position += 1
        }
        throw Failure(position: open, message: "unterminated string")
    }

    mutating func readHex4() throws(Failure) -> UInt32 {
        guard position + 4 <= bytes.count else { throw Failure(position: position, message: "short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[position]
            let digit: UInt8
            switch b {
            case ASCII.zero...ASCII.nine: digit = b - ASCII.zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw Failure(position: position, message: "invalid hex digit in \\u escape")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }
}
