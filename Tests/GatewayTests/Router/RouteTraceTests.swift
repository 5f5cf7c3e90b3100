import Foundation
import GatewayCore
import Sinks
import Testing

@testable import Gateway

/// `Router.trace` must say what `Router.split` does: both are run over many points and rule sets.
@Suite struct RouteTraceTests {
    let helper = RouterTests()

    @Test func trace_agreesWithSplit_forEveryPoint_overRandomRuleSets() {
        var generator = SystemRandomNumberGenerator()
        let series = ["requests", "cpu", "mem", "subtask_final"]
        let services = ["luna-tasks", "other", nil]
        let sinks = ["a", "b", "c"]
        for _ in 0..<200 {
            var routes: [RouteConfig] = []
            for index in 0..<Int.random(in: 1...4, using: &generator) {
                routes.append(
                    helper.route(
                        "r\(index)", series: Bool.random() ? [] : [series.randomElement()!, "sub*"],
                        tags: Bool.random() ? [] : [("service", "luna-*")],
                        sources: Bool.random() ? [] : ["udp"],
                        to: sinks.filter { _ in Bool.random() }, stop: Bool.random()))
            }
            if Bool.random() { routes.append(helper.route("fallback", to: ["c"], isDefault: true)) }
            let (router, _) = helper.makeRouter(routes, sinks: sinks)
            for source in ["udp", "http"] {
                for name in series {
                    for service in services {
                        let point = helper.point(name, service.map { [GatewayCore.Tag("service", $0)] } ?? [])
                        let split = router.split([point], source: source)
                        let reached = sinks.indices.filter { !split[$0].isEmpty }.map { sinks[$0] }
                        let trace = router.trace(point, source: source)
                        #expect(trace.sinks == reached, "\(routes.map(\.name)) \(source) \(name) \(service ?? "-")")
                        #expect(trace.steps.count == routes.filter { !$0.isDefault }.count)
                    }
                }
            }
        }
    }

    @Test func trace_namesEachRuleOutcome_andTheDefaultRoute() {
        let (router, _) = helper.makeRouter(
            [
                helper.route("udp-only", sources: ["udp"], to: ["a"]),
                helper.route("luna", series: ["requests"], tags: [("service", "luna-*")], to: ["a", "b"], stop: true),
                helper.route("after", to: ["b"]),
                helper.route("rest", to: ["c"], isDefault: true),
            ], sinks: ["a", "b", "c"])
        let luna = router.trace(helper.point("requests", [GatewayCore.Tag("service", "luna-x")]), source: "http")
        #expect(
            luna.steps == [
                .init(route: "udp-only", outcome: .otherSource),
                .init(route: "luna", outcome: .matched(sinks: ["a", "b"], stop: true)),
                .init(route: "after", outcome: .notReached),
            ])
        #expect(luna.sinks == ["a", "b"] && luna.defaultRoute == nil)
        let noRule = RouterTests().makeRouter(
            [helper.route("luna", series: ["requests"], to: ["a"]), helper.route("rest", to: ["c"], isDefault: true)],
            sinks: ["a", "b", "c"]
        ).0.trace(helper.point("cpu"), source: "udp")
        #expect(noRule.steps == [.init(route: "luna", outcome: .notMatched)])
        #expect(noRule.defaultRoute == "rest" && noRule.sinks == ["c"])
        let unrouted = RouterTests().makeRouter([helper.route("luna", series: ["requests"], to: ["a"])], sinks: ["a"])
            .0.trace(helper.point("cpu"), source: "udp")
        #expect(unrouted.unrouted && unrouted.defaultRoute == nil)
    }
}

/// `gateway check --trace`, the real binary on the shipped configuration.
@Suite struct CheckTraceTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let shipped = root.appendingPathComponent("gateway.yaml").path

    func trace(_ arguments: [String], stdin: String? = nil) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = GatewayProcess.binary
        process.arguments = ["check", "--config", Self.shipped, "--trace"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The lines of the report between `point N:` headers, without the column padding.
    func blocks(_ text: String) -> [[String]] {
        var blocks: [[String]] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("point ") { blocks.append([]) }
            let cells = line.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            if !blocks.isEmpty { blocks[blocks.count - 1].append(cells) }
        }
        return blocks
    }

    @Test func aLunaRequest_aPointNoRouteTakes_andASchemaRejection_onTheShippedConfiguration() throws {
        let (status, text) = try trace([
            #"requests,service=luna-tasks,route=GET:/version,status_code=200 request_id="r1",execution_time=0.01 1700000000000000000"#,
            "cpu,core=1 usage=0.5 1700000000000000000",
            "requests,service=luna-tasks value=1 1700000000000000000",
        ])
        #expect(status == 0, "\(text)")
        let points = blocks(text)
        try #require(points.count == 3, "\(text)")
        let luna = points[0]
        #expect(luna.contains("source udp"))
        #expect(luna.contains { $0.hasPrefix("normalised requests,host=") && $0.contains(",service=luna-tasks,") })
        #expect(luna.contains("schema ok (requests)"))
        #expect(luna.contains("route plugins not matched (other sources)"))
        #expect(luna.contains("route luna matched -> console, archive; stop"))
        #expect(luna.contains("sinks console, archive"), "\(luna)")
        let other = points[1]
        #expect(other.contains("schema none for this series"))
        #expect(other.contains("route luna not matched"))
        #expect(other.contains("default route everything: no other route took the point"))
        #expect(other.contains("sinks console, archive"), "\(other)")
        let refused = points[2]
        #expect(refused.contains(#"schema rejected: series "requests": missing required tag "route""#), "\(refused)")
        #expect(refused.contains { $0.hasPrefix("sinks none: refused before any route") })
        #expect(!refused.contains { $0.hasPrefix("route ") })
    }

    @Test func pointsFromStandardInput_JSON_badLines_andAPluginSource() throws {
        let (status, text) = try trace(
            ["--source", "plugin:proc"],
            stdin: """
                process_usage,name=nginx cpu=1.5
                {"series": "process_usage", "tags": {"name": "x"}, "fields": {"cpu": 2}}
                not line protocol

                """)
        #expect(status == 0, "\(text)")
        let points = blocks(text)
        try #require(points.count == 3, "\(text)")
        for point in points.prefix(2) {
            #expect(point.contains("source plugin:proc"))
            #expect(point.contains("route plugins matched -> archive; stop"))
            #expect(point.contains("route luna not reached (an earlier route stopped the search)"))
            #expect(point.contains("sinks archive"), "\(point)")
        }
        #expect(points[2].contains { $0.hasPrefix("decoded rejected (syntax):") }, "\(points[2])")
    }

    @Test func anUnknownSource_isRefusedWithTheKnownOnes() throws {
        let (status, text) = try trace(["--source", "nope", "cpu v=1"])
        #expect(status == 1)
        #expect(text.contains("--source nope: no such listener or plugin (known: udp, http, plugin:proc"), "\(text)")
    }
}
