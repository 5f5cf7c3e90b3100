import Foundation
import GatewayCore
import Logging
import Synchronization

/// How log lines look: JSON objects, or a template of `{time}`, `{level}`, `{label}`, `{message}`,
/// `{metadata}` (`key=value ...`), `{source}` and `{location}` (file:line) with literal text between.
enum LogFormat: Sendable, Equatable {
    case json
    case template([Piece])

    enum Piece: Sendable, Equatable {
        case literal(String)
        case time, level, label, message, metadata, source, location
    }

    static let placeholders: [String: Piece] = [
        "time": .time, "level": .level, "label": .label, "message": .message, "metadata": .metadata,
        "source": .source, "location": .location,
    ]

    static let textTemplate = "{time} {level} {label}: {message} {metadata}"
    static let text = try! parse("text").get()

    /// `text`, `json`, or a template; an unknown `{name}` is an error naming the known ones.
    static func parse(_ spec: String) -> Result<LogFormat, LogFormatError> {
        if spec == "json" { return .success(.json) }
        let template = spec == "text" ? textTemplate : spec
        var pieces: [Piece] = []
        var literal = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            literal += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "}") else {
                return .failure(LogFormatError(message: "unclosed { in the log format \"\(spec)\""))
            }
            let name = String(rest[rest.index(after: open)..<close])
            guard let piece = placeholders[name] else {
                return .failure(
                    LogFormatError(
                        message:
                            "unknown placeholder {\(name)} in the log format (known: \(placeholders.keys.sorted().map { "{\($0)}" }.joined(separator: " ")); or text, json)"
                    ))
            }
            if !literal.isEmpty { pieces.append(.literal(literal)) }
            literal = ""
            pieces.append(piece)
            rest = rest[rest.index(after: close)...]
        }
        literal += rest
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        guard pieces.contains(.message) else {
            return .failure(LogFormatError(message: "the log format \"\(spec)\" has no {message}"))
        }
        return .success(.template(pieces))
    }

    struct Record {
        var time: Date
        var level: Logger.Level
        var label: String
        var message: String
        var metadata: Logger.Metadata
        var source: String
        var file: String
        var line: UInt
    }

    /// One line, newline included.
    func render(_ record: Record) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160)
        switch self {
        case .json:
            out.append(UInt8(ascii: "{"))
            func member(_ key: String, _ value: String) {
                if out.count > 1 { out.append(UInt8(ascii: ",")) }
                JSONPointEncoder.appendJSONString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                JSONPointEncoder.appendJSONString(value, to: &out)
            }
            member("time", Self.timestamp(record.time))
            member("level", record.level.rawValue)
            member("label", record.label)
            member("message", record.message)
            member("source", record.source)
            for (key, value) in record.metadata.sorted(by: { $0.key < $1.key }) where !Self.reserved.contains(key) {
                member(key, "\(value)")
            }
            out.append(UInt8(ascii: "}"))
        case .template(let pieces):
            for piece in pieces {
                switch piece {
                case .literal(let text): out.append(contentsOf: text.utf8)
                case .time: out.append(contentsOf: Self.timestamp(record.time).utf8)
                case .level: out.append(contentsOf: record.level.rawValue.utf8)
                case .label: out.append(contentsOf: record.label.utf8)
                case .message: out.append(contentsOf: Self.oneLine(record.message).utf8)
                case .metadata: out.append(contentsOf: Self.metadataText(record.metadata).utf8)
                case .source: out.append(contentsOf: record.source.utf8)
                case .location:
                    out.append(contentsOf: "\((record.file as NSString).lastPathComponent):\(record.line)".utf8)
                }
            }
            while out.last == UInt8(ascii: " ") { out.removeLast() }
        }
        out.append(10)
        return out
    }

    static let reserved: Set<String> = ["time", "level", "label", "message", "source"]

    /// A message on one line: newlines become `\n` (a log line is one record).
    static func oneLine(_ text: String) -> String {
        text.contains(where: \.isNewline)
            ? text.replacingOccurrences(of: "\r\n", with: "\\n").replacingOccurrences(of: "\n", with: "\\n")
                .replacingOccurrences(of: "\r", with: "\\n")
            : text
    }

    /// Metadata as `key=value` pairs sorted by key, values quoted where needed.
    static func metadataText(_ metadata: Logger.Metadata) -> String {
        metadata.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\(quoted("\($0.value)"))" }
            .joined(separator: " ")
    }

    /// A metadata value, quoted when it holds a space, a quote, `=` or a newline.
    static func quoted(_ text: String) -> String {
        guard text.isEmpty || text.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) else {
            return text
        }
        var out: [UInt8] = []
        JSONPointEncoder.appendJSONString(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// ISO 8601 in UTC with milliseconds: `2026-11-21T16:33:40.123Z`.
    static func timestamp(_ date: Date) -> String {
        // Whole seconds and milliseconds apart: scaled to nanoseconds first, a Double such as
        // x.25 can land a hair below (…249999) and print .249.
        let interval = date.timeIntervalSince1970
        let seconds = interval.rounded(.down)
        let millis = Int64((interval - seconds) * 1000)
        return ISO8601.format(nanoseconds: Int64(seconds) * 1_000_000_000 + millis * 1_000_000, fractionDigits: 3)
    }
}

struct LogFormatError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Where log lines go: standard error, or a file rotated by size (`gateway.log` becomes
/// `gateway.log.1`, `.1` becomes `.2`, ... up to `backups`; the oldest goes).
final class LogOutput: Sendable {
    enum Kind: Sendable {
        case standardError
        case file(path: String, maxSize: Int, backups: Int)
    }

    let kind: Kind
    private struct State {
        var fd: Int32
        var size: Int
        var failed = false
    }
    private let state: Mutex<State>

    static let standardError = LogOutput()

    private init() {
        kind = .standardError
        state = Mutex(State(fd: 2, size: 0))
    }

    /// Opens (creating it and its folder) the file for appending; fails with the reason.
    init(path: String, maxSize: Int, backups: Int) throws(LogFormatError) {
        kind = .file(path: path, maxSize: maxSize, backups: backups)
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw LogFormatError(
                    message: "cannot create the log folder \(directory): \(error.localizedDescription)")
            }
        }
        let fd = Self.open(path)
        guard fd >= 0 else {
            throw LogFormatError(message: "cannot open the log file \(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        fstat(fd, &info)
        state = Mutex(State(fd: fd, size: Int(info.st_size)))
    }

    private static func open(_ path: String) -> Int32 {
        Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    }

    func write(_ line: [UInt8]) {
        state.withLock { s in
            if case .file(let path, let maxSize, let backups) = kind, s.size > 0, s.size + line.count > maxSize {
                rotate(&s, path: path, backups: backups)
            }
            guard s.fd >= 0 else { return }
            let written = line.withUnsafeBytes { Glibc.write(s.fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if !s.failed, case .file(let path, _, _) = kind {
                    s.failed = true
                    let note =
                        "log file \(path): write failed: \(String(cString: strerror(errno))); logging to it may be incomplete\n"
                    _ = note.withCString { Glibc.write(2, $0, strlen($0)) }
                }
            } else {
                s.size += written
                s.failed = false
            }
        }
    }

    private func rotate(_ s: inout State, path: String, backups: Int) {
        close(s.fd)
        if backups > 0 {
            unlink("\(path).\(backups)")
            for index in stride(from: backups - 1, through: 1, by: -1) {
                rename("\(path).\(index)", "\(path).\(index + 1)")
            }
            rename(path, "\(path).1")
        } else {
            unlink(path)
        }
        s.fd = Self.open(path)
        s.size = 0
        if s.fd < 0 {
            let note = "log file \(path): cannot reopen after rotation: \(String(cString: strerror(errno)))\n"
            _ = note.withCString { Glibc.write(2, $0, strlen($0)) }
        }
    }
}

/// A swift-log handler writing formatted lines to one output at its own level.
struct GatewayLogHandler: LogHandler {
    let label: String
    let output: LogOutput
    let format: LogFormat
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
        file: String, function: String, line: UInt
    ) {
        var all = metadata
        if let explicit { all.merge(explicit) { $1 } }
        output.write(
            format.render(
                .init(
                    time: Date(), level: level, label: label, message: message.description, metadata: all,
                    source: source,
                    file: file, line: line)))
    }
}

/// The gateway's logging, from `logging:` in gateway.yaml.
struct LoggingConfig: Sendable {
    var level: Logger.Level = .info
    var format: LogFormat = .text
    var file: FileConfig?

    struct FileConfig: Sendable {
        var path: String
        var maxSize = 10 * 1024 * 1024
        var backups = 5
        var level: Logger.Level = .info
        var format: LogFormat = .text
    }

    /// Installs the handlers (stderr, and the file when configured) for every logger of the process.
    /// `stderrLevel` overrides the configured level (`--log-level`).
    func bootstrap(stderrLevel: Logger.Level? = nil) throws(LogFormatError) {
        let stderrLevel = stderrLevel ?? level
        let format = self.format
        // Warnings and errors are also kept for the status page (RecentLog).
        guard let file else {
            LoggingSystem.bootstrap { label in
                MultiplexLogHandler([
                    GatewayLogHandler(label: label, output: .standardError, format: format, logLevel: stderrLevel),
                    RecentLogHandler(log: .shared),
                ])
            }
            return
        }
        let output = try LogOutput(path: file.path, maxSize: file.maxSize, backups: file.backups)
        LoggingSystem.bootstrap { label in
            MultiplexLogHandler([
                GatewayLogHandler(label: label, output: .standardError, format: format, logLevel: stderrLevel),
                GatewayLogHandler(label: label, output: output, format: file.format, logLevel: file.level),
                RecentLogHandler(log: .shared),
            ])
        }
    }
}
