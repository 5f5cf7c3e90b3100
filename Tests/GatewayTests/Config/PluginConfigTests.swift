import ConfigReading
import Foundation
import GatewayCore
import Plugins
import Sinks
import Testing

@testable import Gateway

// The dwmon and jobdir plugins' settings and files, as `gateway check` reads them.
@Suite struct DwmonPluginConfigTests {
    func problems(_ yaml: String) throws -> [String] { try ConfigTests().problems(yaml) }

    /// A checkers directory with the given `.dwmon` files.
    func checkers(_ files: [String: String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("checkers-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8) }
        return dir
    }

    @Test func everyCheckerFileProblem_isReportedAsFileLineToken_evenWhenThePluginIsOff() throws {
        let dir = try checkers([
            "good.dwmon":
                "__QUERY__\nSELECT id AS dwmon_unique_key, ts AS dwmon_timestamp FROM t\n__REQUIREMENTS__\nCHECKHOURS0-23 CHECKMINUTES*/20 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60\n__SOURCE__\nwh\n__EXTRA__\n",
            "bad.dwmon":
                "__QUERY__\nSELECT 1\n__REQUIREMENTS__\nCHECKHOURS0-23 CHECKMINUTES*/0 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60\n__SOURCE__\nwh\n__EXTRA__\n",
            "orphan.dwmon":
                "__QUERY__\nSELECT 1\n__REQUIREMENTS__\nCHECKHOURS0-23 CHECKMINUTES0-59 WEEKENDS MINNUM1 MAXNUM2 LOOKBACKSECONDS60\n__SOURCE__\nelsewhere\n__EXTRA__\n",
            "columns.dwmon":
                "__QUERY__\nSELECT id AS dwmon_unique_key FROM t\n__REQUIREMENTS__\nCHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MAXNUM2 LOOKBACKSECONDS60\n__SOURCE__\nwh\n__EXTRA__\n",
            "notes.txt": "not a checker",
        ])
        let found = try problems(
            """
            sinks: {out: {type: blackhole}}
            routes: [{to: [out]}]
            plugins:
              dwmon:
                type: dwmon
                enabled: false
                checkers_dir: \(dir)
                sources: {wh: {type: sqlite, path: /tmp/wh.db}}
            """)
        #expect(
            found == [
                "\(dir)/bad.dwmon:4: token CHECKMINUTES*/0: expected CHECKMINUTES*/N with N from 1 to 58",
                "\(dir)/bad.dwmon:4: missing token CHECKMINUTESa-b or CHECKMINUTES*/N",
                "\(dir)/columns.dwmon:1: the query does not name dwmon_timestamp: it must return the columns dwmon_unique_key and dwmon_timestamp (e.g. SELECT id AS dwmon_unique_key, created AS dwmon_timestamp ...)",
                "\(dir)/orphan.dwmon:6: __SOURCE__ names \"elsewhere\", which the plugin's sources do not define (defined: wh)",
            ], "\(found)")
    }

    @Test func badDwmonSettings_areEachReportedWithTheirPath() throws {
        let dir = try checkers([:])
        let text = try problems(
            """
            plugins:
              dwmon:
                type: dwmon
                checkers_dir: \(dir)
                timezone: Mars/Olympus
                query_timeout: 0s
                sources:
                  pg: {type: postgres, url: "mysql://u@h/db"}
                  cmd: {type: command, command: []}
                  web: {type: http, url: "ftp://h/x"}
                  odd: {type: oracle}
                checkers: {missing: {retention: 1d}}
                webhook: {url: "http://hooks/x", attempts: 0}
            """
        ).joined(separator: "\n")
        #expect(text.contains("FILE:5: plugins.dwmon.timezone: unknown time zone \"Mars/Olympus\""), "\(text)")
        #expect(text.contains("FILE:6: plugins.dwmon.query_timeout: expected a duration above zero"), "\(text)")
        #expect(text.contains("FILE:8: plugins.dwmon.sources.pg.url: expected a URL such as postgres://"), "\(text)")
        #expect(
            text.contains("FILE:9: plugins.dwmon.sources.cmd.command: expected the program and its arguments"),
            "\(text)")
        #expect(text.contains("FILE:10: plugins.dwmon.sources.web.url: expected an http:// or https:// URL"), "\(text)")
        #expect(
            text.contains("FILE:11: plugins.dwmon.sources.odd.type: expected one of sqlite, postgres, command, http"),
            "\(text)")
        #expect(text.contains("plugins.dwmon.checkers.missing: no checker file missing.dwmon in \(dir)"), "\(text)")
        #expect(text.contains("plugins.dwmon.webhook.attempts: expected a positive integer"), "\(text)")
        let missingDir = try problems("plugins:\n  dwmon: {type: dwmon, checkers_dir: /nonexistent/dwmon}\n").joined()
        #expect(missingDir.contains("checkers_dir /nonexistent/dwmon is not a directory"), "\(missingDir)")
    }

    @Test func theShippedDwmonFiles_areValid_andRelativePathsFollowTheConfigFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let config = try ConfigLoader(environment: [:]).load(path: root.appendingPathComponent("gateway.yaml").path)
        let dwmon = try #require(config.plugins.first { $0.type == "dwmon" })
        guard let settings = dwmon.settings as? DwmonSettings else { Issue.record("not dwmon settings"); return }
        #expect(settings.checkersDir == root.appendingPathComponent("plugins.d").path)
        #expect(settings.statePath == root.appendingPathComponent("data/dwmon/dwmon.db").path)
        #expect(
            settings.sources["warehouse"]
                == .init(kind: .sqlite(path: root.appendingPathComponent("data/warehouse.db").path)))
        #expect(settings.retention == .seconds(7 * 86_400))
        let files = try FileManager.default.contentsOfDirectory(atPath: settings.checkersDir).filter {
            $0.hasSuffix(".dwmon")
        }
        #expect(!files.isEmpty)
    }

    /// A checker file the original dwmon accepts with a token given twice passes `gateway check`,
    /// which prints a warning naming the file, line and token; `fetch` takes when_due or every_minute.
    @Test func aTokenGivenTwice_isAWarningNotAProblem_andFetchIsChecked() throws {
        let dir = try checkers([
            "twice.dwmon":
                "__QUERY__\nSELECT id AS dwmon_unique_key, ts AS dwmon_timestamp FROM t\n__REQUIREMENTS__\nCHECKHOURS0-23 CHECKMINUTES0-59 WEEKDAYS MINNUM1 MINNUM3 MAXNUM5 LOOKBACKSECONDS2592000\n__SOURCE__\nwh\n__EXTRA__\n"
        ])
        let yaml = """
            sinks: {out: {type: blackhole}}
            routes: [{to: [out]}]
            plugins:
              dwmon:
                type: dwmon
                checkers_dir: \(dir)
                retention: 40d
                fetch: every_minute
                checkers: {twice: {fetch: when_due}}
                sources: {wh: {type: sqlite, path: /tmp/wh.db}}
            """
        let path = try ConfigTests().write(yaml)
        let config = try ConfigLoader(environment: [:]).load(path: path)
        #expect(
            config.warnings.map(\.description) == [
                "\(dir)/twice.dwmon:4: token MINNUM3: MINNUM given twice on one line; the first (MINNUM1) is used, as the original dwmon does"
            ])
        // `gateway check` (the binary) passes and prints the warning.
        let check = try runGateway(["check", "--config", path])
        #expect(check.status == 0, "\(check.out)\(check.err)")
        #expect(
            check.out.contains(
                "warning: \(dir)/twice.dwmon:4: token MINNUM3: MINNUM given twice on one line; the first (MINNUM1) is used"
            ),
            "\(check.out)")
        let settings = try #require(config.plugins.first?.settings as? DwmonSettings)
        #expect(settings.fetch == .everyMinute && settings.fetch(of: "twice") == .whenDue)
        let bad = try problems(yaml.replacingOccurrences(of: "fetch: every_minute", with: "fetch: sometimes"))
        #expect(bad.contains { $0.contains("plugins.dwmon.fetch: expected one of when_due, every_minute") }, "\(bad)")
    }
}

@Suite struct JobdirPluginConfigTests {
    func problems(_ yaml: String) throws -> [String] { try ConfigTests().problems(yaml) }

    @Test func badJobdirSettings_areEachReportedWithTheirPath() throws {
        let text = try problems(
            """
            sinks: {out: {type: blackhole}}
            routes: [{to: [out]}]
            plugins:
              jobdir:
                type: jobdir
                enabled: false
                deferred_storage_root: /srv/crashes/deferred
                success_dir: /srv/crashes/standard
                json_suffix: ""
                dump_suffix: .json
                scan_interval: 0s
                processor_check_in: soon
                timezone: Mars/Olympus
                colour: red
                id_pattern: "report-(["
            """
        ).joined(separator: "\n")
        for expected in [
            "plugins.jobdir.id_pattern: expected uuid or a regular expression a job's whole file name matches",
            "plugins.jobdir: missing required key \"storage_root\"",
            "plugins.jobdir.json_suffix: expected a file name ending such as .json, got \"\"",
            "plugins.jobdir.scan_interval:",
            "plugins.jobdir.processor_check_in:",
            "plugins.jobdir.timezone: unknown time zone \"Mars/Olympus\"",
            "plugins.jobdir.colour:",
        ] {
            #expect(text.contains(expected), "\(expected) in:\n\(text)")
        }
        let same = try problems(
            """
            sinks: {out: {type: blackhole}}
            routes: [{to: [out]}]
            plugins:
              jobdir:
                type: jobdir
                storage_root: /srv/crashes/standard
                deferred_storage_root: /srv/crashes/standard/deferred
                failed_dir: /srv/crashes/standard/
                dump_suffix: .json
            """
        ).joined(separator: "\n")
        #expect(same.contains("plugins.jobdir.failed_dir: failed_dir is storage_root itself"), "\(same)")
        #expect(
            same.contains("plugins.jobdir.deferred_storage_root: deferred_storage_root is under storage_root"),
            "\(same)")
        #expect(same.contains("plugins.jobdir.dump_suffix: json_suffix and dump_suffix are both \".json\""), "\(same)")
    }

    @Test func jobdirDefaults_areTheDocumentedOnes_andPathsAbsoluteFromTheConfigFilesFolder() throws {
        let path = try ConfigTests().write(
            """
            gateway: {data_dir: /var/lib/gateway}
            sinks: {out: {type: blackhole}}
            routes: [{to: [out]}]
            plugins:
              crashes: {type: jobdir, storage_root: data/crashes}
            """)
        let config = try ConfigLoader().load(path: path)
        guard let s = try #require(config.plugins.first).settings as? JobdirSettings else {
            Issue.record("not a jobdir plugin")
            return
        }
        let folder = URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent().path
        #expect(s.storageRoot == folder + "/data/crashes")
        #expect(s.statePath == "/var/lib/gateway/jobdir/crashes.db")
        #expect(s.scanInterval == .seconds(300) && s.cleanupInterval == .seconds(300))
        #expect(s.priorityInterval == .seconds(60) && s.processorCheckIn == .seconds(300))
        #expect(s.jsonSuffix == ".json" && s.dumpSuffix == ".dump")
        #expect(s.successDir.isEmpty && s.failedDir.isEmpty && s.deferredStorageRoot.isEmpty)
    }
}
