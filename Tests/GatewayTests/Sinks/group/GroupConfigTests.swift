import Foundation
import Testing

@testable import Gateway

/// `gateway check` of a `group` sink: every problem with file, line and key path.
@Suite struct GroupConfigTests {
    func config(_ group: String, routes: String = "- {to: [g]}") -> String {
        """
        sinks:
          a: {type: influx2, url: "http://127.0.0.1:1", org: o, bucket: b, spool: false}
          b: {type: influx2, url: "http://127.0.0.1:2", org: o, bucket: b, spool: false}
          inner: {type: group, members: [a, b]}
          g:
        \(group)
        routes:
          \(routes)
        """
    }

    @Test func aValidShardGroup_hasNoProblems() throws {
        let found = try ConfigTests().problems(
            config(
                "    type: group\n    mode: shard\n    members: [a, b]\n    replicas: 2\n    reroute_when_down: true",
                routes: "- {to: [g, inner]}"))
        // `inner` shares members with `g`: allowed (each group places its own points).
        #expect(found == [], "\(found)")
    }

    @Test func anUnknownMember_isReportedWithFileLineAndTheDefinedSinks() throws {
        let found = try ConfigTests().problems(config("    type: group\n    members: [a, nosuch]"))
        #expect(found.count == 1, "\(found)")
        #expect(
            found.first?.hasPrefix("FILE:7: sinks.g.members[1]: unknown sink \"nosuch\" (defined: a, b, g, inner)")
                == true, "\(found)")
    }

    @Test func aMemberThatIsAGroup_isReported() throws {
        let found = try ConfigTests().problems(config("    type: group\n    members: [a, inner]"))
        #expect(found.count == 1, "\(found)")
        #expect(
            found.first?.hasPrefix("FILE:7: sinks.g.members[1]: sink \"inner\" is itself a group") == true, "\(found)")
    }

    @Test func aGroupThatIsItsOwnMember_isReported() throws {
        let found = try ConfigTests().problems(config("    type: group\n    members: [a, g]"))
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.hasPrefix("FILE:7: sinks.g.members[1]: sink \"g\" is itself a group") == true, "\(found)")
    }

    @Test func aDuplicateMember_isReported() throws {
        let found = try ConfigTests().problems(config("    type: group\n    members:\n      - a\n      - b\n      - a"))
        #expect(found == ["FILE:10: sinks.g.members[2]: sink \"a\" is a member twice"], "\(found)")
    }

    @Test func moreReplicasThanMembers_isReported() throws {
        let found = try ConfigTests().problems(config("    type: group\n    members: [a, b]\n    replicas: 3"))
        #expect(found == ["FILE:8: sinks.g.replicas: replicas (3) is more than the group's 2 members"], "\(found)")
    }

    @Test func failoverWithReplicasOrReroute_isReported() throws {
        let found = try ConfigTests().problems(
            config(
                "    type: group\n    mode: failover\n    members: [a, b]\n    replicas: 2\n    reroute_when_down: true"
            ))
        #expect(found.count == 2, "\(found)")
        #expect(found.contains { $0.hasPrefix("FILE:9: sinks.g.replicas: replicas is for mode: shard") }, "\(found)")
        #expect(
            found.contains { $0.hasPrefix("FILE:10: sinks.g.reroute_when_down: reroute_when_down is for mode: shard") },
            "\(found)")
    }

    @Test func noMembers_andAnUnknownMode_areReported() throws {
        let found = try ConfigTests().problems(config("    type: group\n    mode: round_robin\n    members: []"))
        #expect(found.count == 2, "\(found)")
        #expect(found.contains { $0.hasPrefix("FILE:7: sinks.g.mode:") }, "\(found)")
        #expect(
            found.contains { $0.hasPrefix("FILE:8: sinks.g.members: a group needs at least one member") }, "\(found)")
    }

    @Test func aRouteToAMember_isReported() throws {
        let found = try ConfigTests().problems(
            config("    type: group\n    members: [a, b]", routes: "- {to: [g, a]}"))
        #expect(found.count == 1, "\(found)")
        #expect(
            found.first?.hasPrefix("FILE:9: routes[0].to: sink \"a\" is a member of group") == true, "\(found)")
    }
}

extension GroupConfigTests {
    @Test func theShippedGroupSample_isValidOnceUncommented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shipped = try String(contentsOfFile: root.appendingPathComponent("gateway.yaml").path, encoding: .utf8)
        let sample = shipped.split(separator: "\n").filter { $0.hasPrefix("  # store") }
            .map { "  " + $0.dropFirst(4) }
        #expect(sample.count == 4, "\(sample)")
        let found = try ConfigTests().problems(
            (["sinks:"] + sample + ["routes:", "  - {to: [stores]}"]).joined(separator: "\n"))
        #expect(found == [], "\(found)")
    }
}
