import ConfigReading
import Foundation
import GatewayCore
import Logging
import Plugins
import ServiceLifecycle
import Sinks
import Synchronization
import Testing

@testable import Gateway

/// The three registry tables: every built-in type is documented, sampled and tested where users and
/// maintainers look for it, an unknown type is an error naming the known ones, and a new type is
/// found through its table alone (no switch to edit).
@Suite struct RegistryTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ relative: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
    }

    static func isDirectoryWithTests(_ relative: String) -> Bool {
        let files =
            (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(relative).path)) ?? []
        return files.contains { $0.hasSuffix("Tests.swift") }
    }

    static func hasReadmeSection(_ readme: String, kind: String, type: String) -> Bool {
        readme.split(separator: "\n").contains { line in
            line.hasPrefix("#") && line.contains("\(kind) `\(type)`")
        }
    }

    /// A kind's table and where each of its types must be found.
    struct Kind: Sendable, CustomTestStringConvertible {
        var name: String
        var types: [String]
        var sample: @Sendable (String) -> String
        var tests: @Sendable (String) -> String
        var sources: @Sendable (String) -> String
        var testDescription: String { name }
    }

    static let kinds = [
        Kind(
            name: "Listener", types: ListenerRegistry.builtin.types, sample: { _ in "gateway.yaml" },
            tests: { "Tests/GatewayTests/Listeners/\($0)" }, sources: { "Sources/Gateway/Listeners/\($0)" }),
        Kind(
            name: "Sink", types: SinkRegistry.builtin.types, sample: { _ in "gateway.yaml" },
            tests: { "Tests/SinksTests/\($0)" }, sources: { "Sources/Sinks/\($0)" }),
        Kind(
            name: "Plugin", types: PluginRegistry.builtin.types, sample: { "plugins.d/\($0).yaml" },
            tests: { "Tests/PluginsTests/\($0)" }, sources: { "Sources/Plugins/\($0)" }),
    ]

    @Test(arguments: kinds) func everyType_hasAFolderASampleAReadmeSectionAndTests(kind: Kind) throws {
        let readme = try Self.text("README.md")
        #expect(!kind.types.isEmpty)
        for type in kind.types {
            let sample = try Self.text(kind.sample(type))
            #expect(sample.contains("type: \(type)"), "\(kind.sample(type)) has no sample of \(kind.name) \(type)")
            #expect(
                Self.hasReadmeSection(readme, kind: kind.name, type: type),
                "README has no section \(kind.name) `\(type)`")
            #expect(Self.isDirectoryWithTests(kind.tests(type)), "no tests in \(kind.tests(type))")
            let folder = Self.root.appendingPathComponent(kind.sources(type)).path
            #expect(FileManager.default.fileExists(atPath: folder), "no folder \(kind.sources(type))")
        }
    }

    @Test func anUnknownTypeOfEachKind_isReportedWithFileLineAndTheKnownTypes() throws {
        let found = try ConfigTests().problems(
            """
            listeners:
              in: {type: nosuch, listen: "127.0.0.1:0"}
            sinks:
              out: {type: nosuch}
              ok: {type: stdout}
            routes: [{to: [ok]}]
            plugins:
              p: {type: nosuch}
            """)
        let listeners = ListenerRegistry.builtin.types.joined(separator: ", ")
        let sinks = SinkRegistry.builtin.types.joined(separator: ", ")
        let plugins = PluginRegistry.builtin.types.joined(separator: ", ")
        #expect(
            found == [
                "FILE:2: listeners.in.type: unknown listener type \"nosuch\" (known: \(listeners))",
                "FILE:4: sinks.out.type: unknown sink type \"nosuch\" (known: \(sinks))",
                "FILE:8: plugins.p.type: unknown plugin type \"nosuch\" (known: \(plugins))",
            ], "\(found)")
    }

    // MARK: A type added through the tables alone

    /// What the fake types saw, so the test can tell they were read and made.
    final class Seen: Sendable {
        let events = Mutex<[String]>([])
        func add(_ event: String) { events.withLock { $0.append(event) } }
        var all: [String] { events.withLock { $0 } }
    }

    struct FakeListenerSettings: ListenerSettings {
        var greeting: String
        let seen: Seen
        var socket: (proto: String, address: HostPort) { ("tcp", HostPort(host: "127.0.0.1", port: 0)) }
        func make(_ context: ListenerContext) throws -> any Service {
            seen.add("listener \(context.name) made: \(greeting)")
            return Idle()
        }
    }

    struct FakeSinkSettings: SinkSettings {
        var greeting: String
        let seen: Seen
        func make(_ context: SinkContext) throws -> SinkParts {
            seen.add("sink \(context.name) made: \(greeting)")
            return SinkParts(sink: BlackholeSink())
        }
    }

    struct FakePluginSettings: PluginSettings {
        var greeting: String
        let seen: Seen
        func make(name: String, context: PluginContext) throws -> any GatewayPlugin {
            seen.add("plugin \(name) made: \(greeting)")
            return FakePlugin(name: name)
        }
    }

    struct FakePlugin: GatewayPlugin {
        let name: String
        var type: String { "fake" }
        func run() async throws {}
        struct Status: PluginStatus {}
        func status() -> any PluginStatus { Status() }
    }

    struct Idle: Service {
        func run() async throws {}
    }

    @Test func aTypeAddedToEachTable_isReadAndMadeWithoutEditingAnySwitch() throws {
        let seen = Seen()
        var registries = Registries()
        registries.listeners.add(
            ListenerFactory(type: "fake") { map, context in
                FakeListenerSettings(greeting: "\(context.name): \(map["greeting"]?.string() ?? "")", seen: seen)
            })
        registries.sinks.add(
            SinkFactory(type: "fake") { map, context in
                FakeSinkSettings(greeting: "\(context.name): \(map["greeting"]?.string() ?? "")", seen: seen)
            })
        registries.plugins.add(
            PluginFactory(type: "fake") { map, context in
                FakePluginSettings(greeting: "\(context.name): \(map["greeting"]?.string() ?? "")", seen: seen)
            })
        let path = try ConfigTests().write(
            """
            listeners:
              fin: {type: fake, greeting: hello}
            sinks:
              fout: {type: fake, greeting: world}
            routes: [{to: [fout]}]
            plugins:
              fp: {type: fake, greeting: again}
            """)
        // The built-in tables do not know the type...
        #expect(throws: ConfigErrors.self) { try ConfigLoader().load(path: path) }
        // ...the extended ones do, and the runtime makes each through its settings alone.
        var config = try ConfigLoader(registries: registries).load(path: path)
        config.dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("reg-\(UUID().uuidString)").path
        #expect(config.listeners.map(\.type) == ["fake"] && config.sinks.map(\.type) == ["fake"])
        #expect(config.plugins.map(\.type) == ["fake"])
        _ = try Runtime(config: config, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        #expect(
            seen.all.sorted() == [
                "listener fin made: fin: hello", "plugin fp made: fp: again", "sink fout made: fout: world",
            ])
    }
}
