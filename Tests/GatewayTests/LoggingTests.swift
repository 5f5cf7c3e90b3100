import Foundation
import GatewayCore
import Logging
import Testing

@testable import Gateway

@Suite("logging: formats, rotating file, configuration")
struct LoggingTests {
    let record = LogFormat.Record(
        time: Date(timeIntervalSince1970: 1_795_000_000.25), level: .warning, label: "gateway",
        message: "disk \"full\"\nsecond line", metadata: ["path": "/var/x y", "plugin": "jobdir"], source: "Plugins",
        file: "/src/Plugins/JobdirPlugin.swift", line: 42)

    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func textFormat_isOneLineWithUTCTimeLevelLabelMessageAndSortedMetadata() throws {
        let line = text(LogFormat.text.render(record))
        #expect(
            line
                == "2026-11-18T11:06:40.250Z warning gateway: disk \"full\"\\nsecond line path=\"/var/x y\" plugin=jobdir\n"
        )
    }

    @Test func jsonFormat_isOneObjectPerLine() throws {
        let line = text(LogFormat.json.render(record))
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1)
        let value = try JSONValue.parse(Array(line.dropLast().utf8))
        #expect(value["level"] == .string("warning"))
        #expect(value["message"] == .string("disk \"full\"\nsecond line"))
        #expect(value["plugin"] == .string("jobdir"))
        #expect(value["time"] == .string("2026-11-18T11:06:40.250Z"))
    }

    @Test func templates_placeThePieces_andUnknownPlaceholdersAreErrors() throws {
        let format = try LogFormat.parse("[{level}] {location} {message}").get()
        #expect(text(format.render(record)) == "[warning] JobdirPlugin.swift:42 disk \"full\"\\nsecond line\n")
        guard case .failure(let error) = LogFormat.parse("{time} {lvl} {message}") else {
            Issue.record("accepted {lvl}")
            return
        }
        #expect(error.message.contains("unknown placeholder {lvl}"))
        #expect(throws: LogFormatError.self) { try LogFormat.parse("{time} only").get() }
        #expect(throws: LogFormatError.self) { try LogFormat.parse("{message").get() }
    }

    @Test func theFile_isRotatedBySize_keepingBackups() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/sub/gateway.log"
        let output = try LogOutput(path: path, maxSize: 4096, backups: 2)
        let line = Array(String(repeating: "x", count: 99).utf8) + [10]
        for _ in 0..<200 { output.write(line) }  // 20,000 bytes: five files' worth
        let fm = FileManager.default
        for file in [path, "\(path).1", "\(path).2"] {
            let size = try #require(try fm.attributesOfItem(atPath: file)[.size] as? Int)
            #expect(size > 0 && size <= 4096, "\(file): \(size)")
            #expect(size % 100 == 0, "whole lines only")
        }
        #expect(!fm.fileExists(atPath: "\(path).3"), "no more than `backups` rotated files")
        // Reopened: appends.
        let before = try #require(try fm.attributesOfItem(atPath: path)[.size] as? Int)
        let again = try LogOutput(path: path, maxSize: 1 << 20, backups: 2)
        again.write(line)
        #expect(try fm.attributesOfItem(atPath: path)[.size] as? Int == before + 100)
        #expect(throws: LogFormatError.self) {
            _ = try LogOutput(path: "/proc/no/such/gateway.log", maxSize: 4096, backups: 1)
        }
    }

    @Test func loggingSettings_areReadStrictly() throws {
        let path = try ConfigTests().write(
            """
            logging:
              level: warning
              format: "{level} {message}"
              file: {path: /tmp/g.log, max_size: 1MiB, backups: 3, format: json}
            sinks: {out: {type: blackhole}}
            routes: [{to: [out]}]
            """)
        let config = try ConfigLoader().load(path: path)
        #expect(config.logging.level == .warning)
        #expect(config.logging.format == .template([.level, .literal(" "), .message]))
        let file = try #require(config.logging.file)
        #expect(file.path == "/tmp/g.log" && file.maxSize == 1 << 20 && file.backups == 3)
        #expect(file.level == .warning, "the file's level defaults to logging.level")
        #expect(file.format == .json)
        let problems = try ConfigTests().problems(
            """
            gateway: {log_level: debug}
            logging:
              level: info
              format: "{when} {message}"
              file: {max_size: 1KiB, backups: -1, rotate: daily}
            sinks: {out: {type: blackhole}}
            routes: [{to: [out]}]
            """
        ).joined(separator: "\n")
        for expected in [
            "logging.level: the stderr level is set twice",
            "logging.format: unknown placeholder {when}",
            "logging.file: missing required key \"path\"",
            "logging.file.max_size: expected at least 4KiB",
            "logging.file.backups:",
            "logging.file.rotate: unknown key",
        ] {
            #expect(problems.contains(expected), "\(expected) in:\n\(problems)")
        }
    }

    @Test func theRunningGateway_writesItsLogToTheFile_atTheFilesLevelAndFormat() async throws {
        let gateway = try GatewayProcess(
            config: testConfig(
                extra: """
                    logging:
                      file: {path: $DIR/logs/gateway.log, level: debug, format: json}
                    """))
        try await gateway.start()
        try gateway.sendUDP("cpu value=1")
        _ = try await gateway.waitForMetric("gateway_points_written_total", ["sink": "out"], atLeast: 1)
        #expect(try await gateway.stop() == 0)
        let file = try String(
            contentsOfFile: gateway.directory.appendingPathComponent("logs/gateway.log").path, encoding: .utf8)
        let lines = file.split(separator: "\n")
        #expect(lines.contains { $0.contains("\"message\":\"gateway stopped\"") })
        #expect(lines.contains { $0.contains("\"level\":\"debug\"") }, "the file takes debug lines")
        #expect(lines.allSatisfy { (try? JSONValue.parse(Array($0.utf8))) != nil }, "every line is a JSON object")
        #expect(!gateway.stderr.contains(" debug "), "stderr stays at info")
        #expect(gateway.stderr.contains(" info gateway: gateway stopped"))
    }
}
