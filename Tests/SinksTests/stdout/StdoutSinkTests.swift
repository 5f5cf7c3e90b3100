import Foundation
import GatewayCore
import Testing

@testable import Sinks

@Suite struct StdoutSinkTests {
    /// Writes a batch through the sink into a pipe and returns what came out.
    func output(_ format: StdoutSink.Format, _ batch: [Point]) async throws -> String {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        try await StdoutSink(format: format, fileDescriptor: fds[1]).write(PointBatch(batch))
        close(fds[1])
        return String(decoding: FileHandle(fileDescriptor: fds[0]).readDataToEndOfFile(), as: UTF8.self)
    }

    static let point = Point(
        series: "cpu", time: 1_700_000_000_000_000_000, tags: [Tag("host", "a b"), Tag("region", "eu")],
        fields: [Field("usage", .float(0.5)), Field("n", .int(3)), Field("s", .string("x \"y\""))])

    @Test func lineFormat_printsOneLineProtocolLinePerPoint() async throws {
        let text = try await output(.line, [Self.point, Self.point])
        let line = #"cpu,host=a\ b,region=eu usage=0.5,n=3i,s="x \"y\"" 1700000000000000000"#
        #expect(text == line + "\n" + line + "\n")
    }

    @Test func jsonFormat_printsOneJSONPointPerLine_thatDecodesBackToThePoint() async throws {
        let text = try await output(.json, [Self.point])
        let lines = text.split(separator: "\n")
        #expect(lines.count == 1)
        let decoded = JSONPointDecoder().decode(String(lines[0]))  // time in seconds with a decimal fraction
        #expect(decoded.errors.isEmpty)
        #expect(decoded.points == [Self.point])
    }

    @Test func aWriteThatFails_throwsNamingTheReason() async throws {
        let sink = StdoutSink(format: .line, fileDescriptor: -1)
        await #expect(throws: StdoutError.self) { try await sink.write(PointBatch([Self.point])) }
        let error = StdoutError(errno: EBADF)
        #expect(error.description == "writing to stdout failed: Bad file descriptor")
    }

    @Test func settings_readTheFormat_andRefuseAnUnknownOne() throws {
        let (json, none) = try readSinkSettings(StdoutSettings.factory, "format: json")
        #expect(none.isEmpty)
        #expect((json as? StdoutSettings)?.format == .json)
        let (plain, _) = try readSinkSettings(StdoutSettings.factory, "{}")
        #expect((plain as? StdoutSettings)?.format == .line)
        let (_, problems) = try readSinkSettings(StdoutSettings.factory, "format: xml")
        #expect(problems == [#"1: format: expected one of line, json, got "xml""#])
        #expect(StdoutSettings.factory.batchSize == 1000 && StdoutSettings.factory.queueSize == 100_000)
    }
}
