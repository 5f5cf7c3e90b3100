import ArgumentParser
import CoreMetrics
import Foundation
import GatewayCore
import Logging
import Sinks

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the configuration and every included plugin file without starting anything.",
        discussion: """
            Prints each problem as FILE:LINE: key.path: message and exits 1 if there is any.

            With --trace, each POINT (line protocol or JSON; read from standard input, one per line, when \
            none is given) is followed through the configuration as the running gateway would: its \
            normalised form (default tags added), the schema verdict, every route in order (matched, not \
            matched, other source, or not reached after a `stop`), and the sinks it reaches. Nothing is \
            started or sent.
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Trace points through the routes instead of only validating.")
    var trace = false

    @Option(help: "With --trace: the listener (or plugin:<name>) the points arrive from; default the first listener.")
    var source: String?

    @Argument(help: "With --trace: points to trace (line protocol or JSON).")
    var points: [String] = []

    func validate() throws {
        if !trace && (!points.isEmpty || source != nil) {
            throw ValidationError("points and --source are for --trace")
        }
    }

    func run() throws {
        let config: GatewayConfig
        do {
            config = try ConfigLoader().load(path: options.config)
        } catch {
            for problem in error.problems { print(problem) }
            throw ExitCode(1)
        }
        guard trace else {
            print(
                "\(options.config): ok (\(config.listeners.count) listeners, \(config.sinks.count) sinks, "
                    + "\(config.routes.count) routes, \(config.plugins.count) plugins)")
            print(config.pathReport())
            for warning in config.warnings { print("warning: \(warning)") }
            return
        }
        let tracer: PointTracer
        do {
            tracer = try PointTracer(config: config, source: source)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
        var inputs = points
        if inputs.isEmpty {
            while let line = readLine() {
                if !line.trimmingCharacters(in: .whitespaces).isEmpty { inputs.append(line) }
            }
        }
        var number = 0
        for input in inputs {
            print(tracer.report(input, numberingFrom: &number), terminator: "")
        }
    }
}

/// Follows points through a configuration as its runtime would: the same decoding and default tags
/// (an ``Ingest`` of the source), the same schemas, and the same ``Router`` rules, with no sink,
/// listener or plugin started.
struct PointTracer {
    let source: String
    let ingest: Ingest
    let deadLetter: String

    struct UnknownSource: Error, CustomStringConvertible {
        var source: String
        var known: [String]
        var description: String {
            "--source \(source): no such listener or plugin (known: \(known.joined(separator: ", ")))"
        }
    }

    init(config: GatewayConfig, source: String?) throws {
        let known = config.listeners.map(\.name) + config.plugins.filter(\.enabled).map { "plugin:\($0.name)" }
        let source = source ?? config.listeners.first?.name ?? "cli"
        guard known.isEmpty || known.contains(source) else { throw UnknownSource(source: source, known: known) }
        self.source = source
        deadLetter = config.schemas.deadLetter
        let factory = NOOPMetricsHandler.instance
        let targets = config.sinks.map {
            Router.Target(
                name: $0.name, queue: SinkQueue(capacity: 1, policy: .block),
                metrics: SinkMetrics(sink: $0.name, factory: factory))
        }
        let router = Router(routes: config.routes, targets: targets, factory: factory)
        ingest = Ingest(
            source: source, metrics: ListenerMetrics(listener: source, factory: factory),
            defaultTags: config.defaultTags, schemas: config.schemas.schemaSet, router: router, deadLetter: nil,
            logger: Logger(label: "trace", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// The trace of every point `input` holds, as text; points are numbered on from `number`.
    func report(_ input: String, numberingFrom number: inout Int) -> String {
        var decoded: [Point] = []
        let bytes = Array(input.utf8)
        let errors = bytes.withUnsafeBytes {
            ingest.decode($0, jsonPrecision: .seconds, receiveTime: Ingest.now(), into: &decoded)
        }
        var out = ""
        for error in errors {
            number += 1
            out += "point \(number): \(error.text.isEmpty ? input : error.text)\n"
            out += row("decoded", "rejected (\(error.reason)): \(error.message)")
        }
        for point in decoded {
            number += 1
            out += "point \(number): \(input.count > 200 ? String(input.prefix(200)) + "..." : input)\n"
            out += trace(point)
        }
        return out
    }

    private func trace(_ original: Point) -> String {
        var point = original
        let encoder = LineProtocolEncoder()
        var out = row("source", source)
        let verdict = ingest.schemas.validate(&point)
        out += row("normalised", encoder.line(point))
        if !ingest.defaultTags.isEmpty {
            let tags = ingest.defaultTags.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            out += row("default tags", tags + " (added where the point lacks them)")
        }
        if let verdict {
            out += row("schema", "rejected: \(verdict)")
            let kept = deadLetter.isEmpty ? "not kept: schemas.dead_letter is empty" : "kept in \(deadLetter)"
            out += row("sinks", "none: refused before any route (counted as reason=schema; \(kept))")
            return out
        }
        out += row(
            "schema", ingest.schemas.schemas[point.series] != nil ? "ok (\(point.series))" : "none for this series")
        let result = ingest.router.trace(point, source: source)
        for step in result.steps {
            let text: String
            switch step.outcome {
            case .matched(let sinks, let stop):
                text =
                    "matched -> \(sinks.isEmpty ? "(no sinks)" : sinks.joined(separator: ", "))\(stop ? "; stop" : "")"
            case .notMatched: text = "not matched"
            case .otherSource: text = "not matched (other sources)"
            case .notReached: text = "not reached (an earlier route stopped the search)"
            }
            out += row("route \(step.route)", text)
        }
        if let name = result.defaultRoute {
            out += row("default", "route \(name): no other route took the point")
        }
        out += row(
            "sinks",
            result.unrouted
                ? "none: unrouted (counted in gateway_points_unrouted_total)" : result.sinks.joined(separator: ", "))
        return out
    }

    private func row(_ label: String, _ value: String) -> String {
        let pad = max(1, 16 - label.count)
        return "  " + label + String(repeating: " ", count: pad) + value + "\n"
    }
}
