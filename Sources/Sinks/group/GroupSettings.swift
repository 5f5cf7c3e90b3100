import ConfigReading
import GatewayCore

/// `type: group`: hands each point to one or more of other sinks defined in the same file (its
/// `members`, by name), each with its own queue, spool and health. `mode: shard` places every
/// series on the same member(s) by rendezvous hashing; `mode: failover` sends everything to the
/// first healthy member in order.
///
/// Members are ordinary sinks (any type but `group`); routes send to the group, never to a member
/// directly (a point routed both ways would be stored twice on one member).
public struct GroupSettings: ComposedSinkSettings {
    public enum Mode: String, Sendable, CaseIterable {
        case shard
        case failover
    }

    /// A member as written, with where (for problems found once every sink is read).
    public struct Member: Sendable {
        public var name: String
        var file: String
        var line: Int
        var path: String
    }

    public var mode = Mode.shard
    public var members: [Member] = []
    /// `shard`: distinct members each series is written to.
    public var replicas = 1
    /// `shard`: a down member's series go to the next healthy member in their ranking instead of
    /// its spool.
    public var rerouteWhenDown = false

    public init() {}

    public static let factory = SinkFactory(type: "group", batchSize: 5000, queueSize: 500_000) { map, context in
        read(map, context)
    }

    public var memberNames: [String] { members.map(\.name) }

    static func read(_ map: ConfigMap, _ context: ConfigContext) -> GroupSettings {
        var settings = GroupSettings()
        if let mode = map["mode"]?.oneOf(Mode.allCases.map { ($0.rawValue, $0) }) { settings.mode = mode }
        if let node = map.required("members", what: "the sinks of the group, e.g. [vm_a, vm_b, vm_c]"),
            let items = node.sequence()
        {
            var seen = Set<String>()
            for item in items {
                guard let name = item.string() else { continue }
                if !seen.insert(name).inserted {
                    item.problem("sink \"\(name)\" is a member twice")
                    continue
                }
                settings.members.append(Member(name: name, file: item.file, line: item.line, path: item.path))
            }
            if items.isEmpty { node.problem("a group needs at least one member") }
        }
        if let node = map["replicas"], let replicas = node.int(min: 1) {
            if settings.mode == .failover, replicas != 1 {
                node.problem("replicas is for mode: shard (failover writes each point to one member)")
            } else if replicas > settings.members.count, !settings.members.isEmpty {
                node.problem("replicas (\(replicas)) is more than the group's \(settings.members.count) members")
            } else {
                settings.replicas = replicas
            }
        }
        if let node = map["reroute_when_down"], let reroute = node.bool() {
            if settings.mode == .failover, reroute {
                node.problem("reroute_when_down is for mode: shard (failover always moves to a healthy member)")
            }
            settings.rerouteWhenDown = reroute
        }
        return settings
    }

    public func checkMembers(_ sinks: [String: String], problems: ProblemList) {
        for member in members {
            var message: String?
            if let type = sinks[member.name] {
                if type == Self.factory.type {
                    message = "sink \"\(member.name)\" is itself a group: a group's members are sinks of other types"
                }
            } else {
                let defined = sinks.keys.sorted().joined(separator: ", ")
                message = "unknown sink \"\(member.name)\" (defined: \(defined))"
            }
            if let message {
                problems.add(ConfigProblem(file: member.file, line: member.line, path: member.path, message: message))
            }
        }
    }

    public func make(_ context: SinkContext) throws -> SinkParts {
        let handles = try members.map { member -> SinkHandle in
            guard let handle = context.sinks[member.name] else {
                throw GroupError(message: "group member \"\(member.name)\" was not made before its group")
            }
            return handle
        }
        let sink = GroupSink(
            name: context.name, mode: mode, members: handles, replicas: replicas, rerouteWhenDown: rerouteWhenDown,
            metrics: context.metrics, factory: context.factory)
        return SinkParts(sink: sink, refresh: { sink.recordHealth() })
    }
}

struct GroupError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
