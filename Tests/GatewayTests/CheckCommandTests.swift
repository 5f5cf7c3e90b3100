import ConfigReading
import Foundation
import GatewayCore
import Plugins
import Sinks
import Testing

@testable import Gateway

@Suite struct ConfigTests {
    func write(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func problems(_ yaml: String, environment: [String: String] = [:]) throws -> [String] {
        let path = try write(yaml)
        do {
            _ = try ConfigLoader(environment: environment).load(path: path)
            return []
        } catch {
            return error.problems.map { $0.description.replacingOccurrences(of: path, with: "FILE") }
        }
    }

    @Test func misspeltKey_isReportedWithFileLineAndKeyPath() throws {
        let found = try problems(
            """
            sinks:
              out:
                type: stdout
                batch_sise: 10
            routes:
              - {to: [out]}
            """)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("FILE:4: sinks.out.batch_sise: unknown key \"batch_sise\"") == true, "\(found)")
    }

    @Test func wrongTypesAndUnits_areReportedEachWithItsPath() throws {
        let found = try problems(
            """
            listeners:
              u: {type: udp, listen: "nohost", receive_buffer: 8 megs}
            sinks:
              out: {type: stdout, batch_size: 5k, flush_interval: soon, when_full: explode}
            routes:
              - {to: [missing]}
            """)
        let text = found.joined(separator: "\n")
        #expect(text.contains("FILE:2: listeners.u.listen: expected HOST:PORT"))
        #expect(text.contains("FILE:2: listeners.u.receive_buffer: expected a size"))
        #expect(text.contains("FILE:4: sinks.out.batch_size: expected a positive integer, got \"5k\""))
        #expect(text.contains("FILE:4: sinks.out.flush_interval: expected a duration"))
        #expect(text.contains("FILE:4: sinks.out.when_full: expected one of block, drop_newest, drop_oldest"))
        #expect(text.contains("FILE:6: routes[0].to: unknown sink \"missing\""))
    }

    @Test func queueMaxBytes_isASize_ofAtLeastOneMiB_defaulting32MiB_packingOff() throws {
        let found = try problems(
            """
            sinks:
              a: {type: stdout, queue_max_bytes: lots}
              b: {type: stdout, queue_max_bytes: 512KiB}
            routes:
              - {to: [a, b]}
            """)
        let text = found.joined(separator: "\n")
        #expect(text.contains("FILE:2: sinks.a.queue_max_bytes: expected a size"), "\(found)")
        #expect(text.contains("FILE:3: sinks.b.queue_max_bytes: queue_max_bytes must be at least 1MiB"), "\(found)")
        let config = try ConfigLoader(environment: [:]).load(
            path: try write(
                """
                sinks:
                  a: {type: stdout, queue_max_bytes: 64MiB, queue_pack: true}
                  b: {type: stdout}
                routes:
                  - {to: [a, b]}
                """))
        #expect(config.sinks.map(\.queueMaxBytes) == [64 << 20, 32 << 20])
        #expect(config.sinks.map(\.queuePack) == [true, false])
    }

    @Test func environmentVariables_expandWithDefaults_andAMissingOneIsAnError() throws {
        let yaml = """
            gateway: {name: "${NODE_NAME:-fallback}"}
            listeners:
              h: {type: http, listen: "127.0.0.1:0", token: "${TOKEN}"}
            sinks: {out: {type: blackhole}}
            routes: [{to: [out]}]
            """
        let path = try write(yaml)
        let config = try ConfigLoader(environment: ["TOKEN": "abc"]).load(path: path)
        #expect(config.name == "fallback")
        #expect(config.defaultTags.contains { $0.key == "host" && $0.value == "fallback" })
        guard let http = config.listeners.first?.settings as? HTTPListenerConfig else {
            Issue.record("no http listener"); return
        }
        #expect(http.token == "abc")
        let missing = try problems(yaml)
        #expect(
            missing == [
                "FILE:3: listeners.h.token: environment variable TOKEN is not set (write ${TOKEN:-default} for a default)"
            ])
    }

    @Test func unitsParse() {
        #expect(Units.duration("500ms") == .milliseconds(500))
        #expect(Units.duration("1m30s") == .seconds(90))
        #expect(Units.duration("10") == nil)
        #expect(Units.size("64MiB") == 64 << 20)
        #expect(Units.size("1GiB") == 1 << 30)
        #expect(Units.size("100KB") == 100_000)
        #expect(Units.size("12 parsecs") == nil)
        #expect(Units.duration("200000d") == nil)
        #expect(Units.duration("100000d") != nil)
    }

    @Test func pluginFiles_areIncluded_andAnUnknownTypeIsNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plugins-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try "proc:\n  type: proc\n  interval: 5s\n".write(
            to: dir.appendingPathComponent("proc.yaml"), atomically: true, encoding: .utf8)
        try "jobs:\n  type: jobqueue\n".write(
            to: dir.appendingPathComponent("jobqueue.yaml"), atomically: true, encoding: .utf8)
        let found = try problems(
            """
            sinks: {out: {type: blackhole}}
            routes: [{to: [out]}]
            plugins:
              include: \(dir.path)/*.yaml
            """)
        #expect(
            found == [
                "\(dir.path)/jobqueue.yaml:2: jobs.type: unknown plugin type \"jobqueue\" (known: dwmon, jobdir, proc)"
            ])
    }

    @Test func influxSink_readsEveryKey_andDefaults() throws {
        let path = try write(
            """
            gateway: {data_dir: /var/lib/gw}
            sinks:
              influx:
                type: influx2
                url: "${INFLUX_URL}"
                org: o
                bucket: b
                token: "${INFLUX_TOKEN}"
                precision: ms
                gzip: false
                timeout: 3s
                max_in_flight: 4
                retry: {max_retries: 5, initial_backoff: 200ms, max_backoff: 1m, max_wait: 2s, max_retry_after: 10m}
                spool: {max_size: 64MiB, when_full: block, sync: full}
              plain: {type: influx2, url: "http://h:8086", org: o, bucket: b, spool: false}
              archive: {type: spool}
            routes:
              - {to: [influx, plain, archive]}
            """)
        let config = try ConfigLoader(environment: ["INFLUX_URL": "http://127.0.0.1:8086", "INFLUX_TOKEN": "tok"]).load(
            path: path)
        guard let influx = config.sinks[0].settings as? Influx2Settings,
            let plain = config.sinks[1].settings as? Influx2Settings,
            let archive = config.sinks[2].settings as? SpoolSettings
        else {
            Issue.record("sink types: \(config.sinks.map(\.type))")
            return
        }
        #expect(influx.target.url == "http://127.0.0.1:8086")
        #expect(influx.target.token == "tok")
        #expect(influx.target.gzip == false)
        #expect(influx.target.timeout == .seconds(3))
        #expect(influx.maxInFlight == 4)
        #expect(plain.maxInFlight == 2)
        #expect(influx.precision == .milliseconds)
        #expect(influx.retry.maxRetries == 5)
        #expect(influx.retry.maxBackoff == .seconds(60))
        #expect(influx.retry.maxRetryAfter == .seconds(600))
        #expect(
            influx.spool.enabled && influx.spool.maxSize == 64 << 20 && influx.spool.whenFull == .block
                && influx.spool.sync == .full)
        #expect(influx.spool.path == "/var/lib/gw/spool/influx.db")
        #expect(config.sinks[0].batchSize == 5000)
        #expect(!plain.spool.enabled)
        #expect(config.sinks[1].spoolPath == nil)
        #expect(archive.file.path == "/var/lib/gw/spool/archive.db")
    }

    @Test func influxSink_problemsAreNamed() throws {
        let found = try problems(
            """
            sinks:
              a: {type: influx2, url: "ftp://x", org: o, bucket: b, retry: {max_retry: 1}, max_in_flight: 17}
              b: {type: influx2, url: "http://x:8086", bucket: b, spool: {path: /tmp/same.db, when_full: wait}}
              c: {type: spool, path: /tmp/same.db}
            routes:
              - {to: [a, b, c]}
            """)
        let text = found.joined(separator: "\n")
        #expect(text.contains("sinks.a.url: expected an http:// or https:// URL, got \"ftp://x\""), "\(text)")
        #expect(text.contains("sinks.a.retry.max_retry: unknown key"), "\(text)")
        #expect(text.contains("sinks.a.max_in_flight: expected 1 to 16 batches on the wire at once, got 17"), "\(text)")
        #expect(text.contains("sinks.b: missing required key \"org\""), "\(text)")
        #expect(text.contains("sinks.b.spool.when_full:"), "\(text)")
        #expect(text.contains("sinks \"b\" and \"c\" both use the spool file /tmp/same.db"), "\(text)")
    }

    @Test func influxSinkV1_needsADatabase_andRefusesAnUnknownAPI() throws {
        let missing = try problems(
            """
            sinks: {influx: {type: influx2, api: v1, url: "http://h:8086", org: o}}
            routes: [{to: [influx]}]
            """)
        #expect(
            missing.contains { $0.hasPrefix("FILE:1: sinks.influx: missing required key \"database\"") }, "\(missing)")
        #expect(missing.contains { $0.contains("sinks.influx.org: unknown key \"org\"") }, "\(missing)")
        let unknown = try problems(
            """
            sinks: {influx: {type: influx2, api: v3, url: "http://h:8086", org: o, bucket: b}}
            routes: [{to: [influx]}]
            """)
        #expect(unknown.contains { $0.contains("sinks.influx.api: expected one of v1, v2, got \"v3\"") }, "\(unknown)")
    }

    @Test func theShippedInfluxExample_isValidOnceUncommented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let shipped = try String(contentsOfFile: root.appendingPathComponent("gateway.yaml").path, encoding: .utf8)
        let uncommented = shipped.replacingOccurrences(of: "  # influx:", with: "  influx:")
            .replacingOccurrences(of: "  #   ", with: "    ").replacingOccurrences(
                of: "  # influx1:", with: "  influx1:")
        let config = try ConfigLoader(environment: ["INFLUX_URL": "http://127.0.0.1:8086", "INFLUX_TOKEN": "t"])
            .load(
                path: try write(uncommented.replacingOccurrences(of: "include: plugins.d/*.yaml", with: "include: []")))
        #expect(config.sinks.map(\.type).contains("influx2"))
        let v1 = try #require(config.sinks.first { $0.name == "influx1" }?.settings as? Influx2Settings)
        #expect(v1.target.api == .v1 && v1.target.database == "monitoring")
        #expect(
            v1.target.writeURL(precision: .milliseconds) == "http://127.0.0.1:8086/write?db=monitoring&precision=ms")
    }

    @Test func theShippedConfiguration_isValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let config = try ConfigLoader(environment: [:]).load(path: root.appendingPathComponent("gateway.yaml").path)
        #expect(config.listeners.count == 2)
        #expect(!config.routes.isEmpty)
        // With no environment at all, the host tag is the machine's host name, not localhost.
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        let host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(config.defaultTags.first { $0.key == "host" }?.value == host)
        // Plugin points go to the archive only; what users send goes to the console too.
        let plugins = try #require(config.routes.first)
        #expect(plugins.sources == ["plugin:*"] && plugins.to == ["archive"] && plugins.stop)
    }
}

/// `gateway check`, the real binary.
@Suite struct CheckCommandTests {
    @Test func checkOnAMisspeltKey_printsFileLineAndKeyPath_andExits1() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("gateway.yaml")
        try "sinks:\n  out: {type: stdout}\nroutes:\n  - {to: [out], stpo: true}\n".write(
            to: file, atomically: true, encoding: .utf8)
        let (status, output) = try run(["check", "--config", file.path])
        #expect(status == 1)
        #expect(output.contains("\(file.path):4: routes[0].stpo: unknown key \"stpo\""), "\(output)")
        try "sinks:\n  out: {type: stdout}\nroutes:\n  - {to: [out], stop: true}\n".write(
            to: file, atomically: true, encoding: .utf8)
        let (okStatus, okOutput) = try run(["check", "--config", file.path])
        #expect(okStatus == 0, "\(okOutput)")
    }

    func run(_ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = GatewayProcess.binary
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

@Suite struct ProcPluginConfigTests {
    func problems(_ yaml: String) throws -> [String] { try ConfigTests().problems(yaml) }

    @Test func badProcSettings_areEachReportedWithTheirPath() throws {
        let text = try problems(
            """
            plugins:
              proc:
                type: proc
                interval: 0s
                group_by: thread
                intervall: 10s
                top: -1
                alarms: {cpu_threshold: hot, horizon: 5 minutes}
            """
        ).joined(separator: "\n")
        #expect(text.contains("FILE:4: plugins.proc.interval: expected a duration above zero"), "\(text)")
        #expect(text.contains("FILE:5: plugins.proc.group_by: expected one of name, pid, got \"thread\""), "\(text)")
        #expect(text.contains("FILE:6: plugins.proc.intervall: unknown key \"intervall\""), "\(text)")
        #expect(text.contains("FILE:7: plugins.proc.top: expected an integer of at least 0"), "\(text)")
        #expect(text.contains("plugins.proc.alarms.cpu_threshold: expected a percentage"), "\(text)")
        #expect(text.contains("plugins.proc.alarms.horizon: expected a duration"), "\(text)")
    }

    @Test func pluginNames_becomeAPIPaths_soTheyMustBePathSafe() throws {
        let text = try problems("plugins:\n  \"my proc\": {type: proc}\n  spool: {type: proc}\n").joined(
            separator: "\n")
        #expect(text.contains("plugin name \"my proc\" must be letters, digits"), "\(text)")
        #expect(text.contains("plugin name \"spool\""), "\(text)")
    }

    @Test func theShippedProcFile_isValid_andItsValuesAreTheDefaults() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let config = try ConfigLoader(environment: [:]).load(path: root.appendingPathComponent("gateway.yaml").path)
        let proc = try #require(config.plugins.first { $0.type == "proc" })
        #expect(proc.enabled)
        guard let settings = proc.settings as? ProcSettings else { Issue.record("not proc settings"); return }
        let defaults = ProcSettings()
        #expect(settings.interval == defaults.interval)
        #expect(settings.top == defaults.top)
        #expect(settings.window == defaults.window)
        #expect(settings.meanWindow == defaults.meanWindow)
        #expect(settings.cpuThreshold == defaults.cpuThreshold)
        #expect(settings.horizon == defaults.horizon)
        #expect(settings.trendMinSamples == defaults.trendMinSamples)
        #expect(settings.trendMinSpan == defaults.trendMinSpan)
        #expect(settings.maxSeries == defaults.maxSeries)
    }
}

/// Offline spool commands read the configuration for paths only: they need none of the sinks' secrets.
@Suite struct OfflineSpoolCommandTests {
    @Test func spoolStats_onTheShippedConfigWithInfluxEnabled_runsWithNoEnvironment() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let shipped = try String(contentsOfFile: root.appendingPathComponent("gateway.yaml").path, encoding: .utf8)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("offline-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = shipped.replacingOccurrences(of: "  # influx:", with: "  influx:")
            .replacingOccurrences(of: "  #   ", with: "    ")
            .replacingOccurrences(of: "include: plugins.d/*.yaml", with: "include: []")
            .replacingOccurrences(of: "data_dir: ./data", with: "data_dir: \(dir.path)/data")
        let path = dir.appendingPathComponent("gateway.yaml").path
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = GatewayProcess.binary
        process.arguments = ["spool", "stats", "--config", path]
        process.environment = [:]  // no INFLUX_URL, no INFLUX_TOKEN, no HOME
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)\(errors)")
        #expect(text.contains("influx"), "\(text)")
        // Sending needs the secrets: an offline replay says what is missing.
        let replay = Process()
        replay.executableURL = GatewayProcess.binary
        replay.arguments = ["spool", "replay", "--config", path, "--sink", "influx"]
        replay.environment = [:]
        let replayErr = Pipe()
        replay.standardError = replayErr
        replay.standardOutput = Pipe()
        try replay.run()
        let said = String(decoding: replayErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        replay.waitUntilExit()
        #expect(replay.terminationStatus != 0)
        #expect(said.contains("has no URL"), "\(said)")
    }
}
