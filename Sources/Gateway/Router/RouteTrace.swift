import GatewayCore

/// What the router does with one point, rule by rule (`gateway check --trace`): the same matching as
/// ``Router/split(_:source:)``, kept beside it so the two cannot drift.
struct RouteTrace: Sendable, Equatable {
    enum Outcome: Sendable, Equatable {
        /// The rule's `match` held: it adds `sinks`; `stop` ends the search there.
        case matched(sinks: [String], stop: Bool)
        /// The rule's series or tag conditions did not hold.
        case notMatched
        /// The rule takes points of other sources only.
        case otherSource
        /// An earlier rule's `stop` ended the search before this one.
        case notReached
    }

    struct Step: Sendable, Equatable {
        var route: String
        var outcome: Outcome
    }

    var steps: [Step]
    /// The default route's name when no rule sent the point anywhere and there is one.
    var defaultRoute: String?
    /// Every sink the point reaches, in the configuration's order; empty: unrouted.
    var sinks: [String]

    var unrouted: Bool { sinks.isEmpty }
}

extension Router {
    /// The rules `point` (from `source`) meets in order, and where it ends up.
    func trace(_ point: Point, source: String) -> RouteTrace {
        var steps: [RouteTrace.Step] = []
        var mask: UInt64 = 0
        var stopped = false
        for rule in rules {
            let outcome: RouteTrace.Outcome
            if stopped {
                outcome = .notReached
            } else if !rule.matchesSource(source) {
                outcome = .otherSource
            } else if rule.unconditional || rule.matches(point) {
                mask |= rule.sinkMask
                stopped = rule.stop
                outcome = .matched(sinks: names(rule.sinkMask), stop: rule.stop)
            } else {
                outcome = .notMatched
            }
            steps.append(.init(route: rule.name, outcome: outcome))
        }
        var defaultRoute: String?
        if mask == 0, defaultMask != 0 {
            mask = defaultMask
            defaultRoute = defaultName
        }
        return RouteTrace(steps: steps, defaultRoute: defaultRoute, sinks: names(mask))
    }

    private func names(_ mask: UInt64) -> [String] {
        targets.indices.filter { mask & (1 << UInt64($0)) != 0 }.map { targets[$0].name }
    }
}
