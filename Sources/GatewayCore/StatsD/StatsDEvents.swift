/// DogStatsD events and service checks, as points (they are not aggregated):
///
/// - `_e{title_len,text_len}:title|text|d:ts|h:host|p:priority|t:alert_type|k:key|s:source|#tags` becomes
///   series `statsd_event`, fields `title` and `text` (strings, `\n` in the text unescaped), tags
///   `alert_type` (default `info`), `priority` (default `normal`), `host`, `aggregation_key`,
///   `source_type_name` when given, and the `#` tags.
/// - `_sc|name|status|d:ts|h:host|#tags|m:message` becomes series `statsd_service_check`, field
///   `status` (integer 0 OK, 1 warning, 2 critical, 3 unknown) and `message` when given, tag `check`
///   (the name), `host` when given, and the `#` tags.
///
/// The time is `d:` (Unix seconds) when given, else 0: the aggregator gives it the flush time.
enum StatsDEvents {
    typealias Failure = StatsDParser.Failure

    static func event(_ text: String) throws -> Point {
        let bytes = Array(text.utf8)
        // `_e{` digits `,` digits `}:`
        var i = 3
        func digits() throws -> Int {
            var value = 0
            let start = i
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39, i - start < 7 {
                value = value * 10 + Int(bytes[i] - 0x30)
                i += 1
            }
            guard i > start else { throw Failure(.badEvent, "expected _e{TITLE_LENGTH,TEXT_LENGTH}:") }
            return value
        }
        let titleLength = try digits()
        guard i < bytes.count, bytes[i] == UInt8(ascii: ",") else {
            throw Failure(.badEvent, "expected _e{TITLE_LENGTH,TEXT_LENGTH}:")
        }
        i += 1
        let textLength = try digits()
        guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "}"), bytes[i + 1] == UInt8(ascii: ":") else {
            throw Failure(.badEvent, "expected _e{TITLE_LENGTH,TEXT_LENGTH}:")
        }
        i += 2
        guard titleLength > 0, i + titleLength + 1 + textLength <= bytes.count,
            bytes[i + titleLength] == UInt8(ascii: "|")
        else {
            throw Failure(.badEvent, "the title and text are shorter than their stated lengths")
        }
        guard let title = String(validating: bytes[i..<(i + titleLength)], as: UTF8.self),
            let body = String(
                validating: bytes[(i + titleLength + 1)..<(i + titleLength + 1 + textLength)], as: UTF8.self)
        else {
            throw Failure(.badEvent, "the stated lengths cut a character")
        }
        i += titleLength + 1 + textLength
        var tags = [Tag("alert_type", "info"), Tag("priority", "normal")]
        var time: Int64 = 0
        if i < bytes.count {
            guard bytes[i] == UInt8(ascii: "|") else { throw Failure(.badEvent, "expected '|' after the text") }
            let rest = String(decoding: bytes[(i + 1)...], as: UTF8.self)
            for part in rest.split(separator: "|", omittingEmptySubsequences: false) {
                let value = String(part.dropFirst(2))
                switch part.prefix(2) {
                case "d:": time = try seconds(value, .badEvent)
                case "h:": set(&tags, "host", value)
                case "p:": set(&tags, "priority", value)
                case "t:": set(&tags, "alert_type", value)
                case "k:": set(&tags, "aggregation_key", value)
                case "s:": set(&tags, "source_type_name", value)
                default:
                    guard part.first == "#" else {
                        throw Failure(.badEvent, "unknown event section \"\(part.prefix(20))\"")
                    }
                    for tag in try StatsDParser.dogTags(part.dropFirst()) { set(&tags, tag.key, tag.value) }
                }
            }
        }
        for tag in tags { try StatsDParser.checkTag(tag) }
        let unescaped = body.replacingOccurrences(of: "\\n", with: "\n")
        return Point(
            series: "statsd_event", time: time, tags: tags,
            fields: [Field("title", .string(title)), Field("text", .string(unescaped))])
    }

    static func serviceCheck(_ text: String) throws -> Point {
        let parts = text.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count >= 3, !parts[1].isEmpty else {
            throw Failure(.badServiceCheck, "expected _sc|NAME|STATUS")
        }
        guard let status = Int64(parts[2]), (0...3).contains(status) else {
            throw Failure(.badServiceCheck, "expected a status 0 (ok), 1 (warning), 2 (critical) or 3 (unknown)")
        }
        var tags = [Tag("check", String(parts[1]))]
        var fields = [Field("status", .int(status))]
        var time: Int64 = 0
        for (index, part) in parts.dropFirst(3).enumerated() {
            switch part.prefix(2) {
            case "d:": time = try seconds(String(part.dropFirst(2)), .badServiceCheck)
            case "h:": set(&tags, "host", String(part.dropFirst(2)))
            case "m:":
                // The message is last; a `|` in it belongs to it.
                let message = parts.dropFirst(3 + index).joined(separator: "|").dropFirst(2)
                fields.append(Field("message", .string(String(message))))
            default:
                guard part.first == "#" else {
                    throw Failure(.badServiceCheck, "unknown service check section \"\(part.prefix(20))\"")
                }
                for tag in try StatsDParser.dogTags(part.dropFirst()) { set(&tags, tag.key, tag.value) }
            }
            if part.hasPrefix("m:") { break }
        }
        for tag in tags { try StatsDParser.checkTag(tag) }
        return Point(series: "statsd_service_check", time: time, tags: tags, fields: fields)
    }

    static func seconds(_ raw: String, _ reason: RejectReason) throws -> Int64 {
        guard let value = Int64(raw), value >= 0, value < 100_000_000_000 else {
            throw Failure(reason, "expected Unix seconds after 'd:'")
        }
        return value * 1_000_000_000
    }

    static func set(_ tags: inout [Tag], _ key: String, _ value: String) {
        tags.removeAll { $0.key == key }
        tags.append(Tag(key, value))
    }
}
