import Foundation
import Testing

@testable import Gateway

/// Installing it as a service: `scripts/install.sh` into a temporary prefix, and the Debian package
/// `scripts/build-deb.sh` makes (no container or systemd here: its contents, control data and
/// maintainer scripts are checked, and the binary it carries runs `check` on the configuration it
/// carries).
@Suite(.serialized, .tags(.slow)) struct PackagingTests {
    static let root = GatewayProcess.packageRoot

    @discardableResult
    static func run(_ tool: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (
        status: Int32, out: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.currentDirectoryURL = root
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, out)
    }

    static func temporary(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func installScript_putsTheBinaryAndConfiguration_inPlace_andTheyCheck() throws {
        let dir = try Self.temporary("install")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try Self.run(
            "/bin/bash",
            [
                "scripts/install.sh", "--prefix", dir.path + "/usr", "--confdir", dir.path + "/etc/gateway",
                "--statedir", dir.path + "/var/lib/gateway", "--no-systemd",
            ])
        #expect(result.status == 0, "\(result.out)")
        // Relative paths start at the configuration's folder: the installed copy names the state folder.
        #expect(result.out.contains("gateway data_dir"), "\(result.out)")
        #expect(result.out.contains(dir.path + "/var/lib/gateway\n"), "\(result.out)")
        #expect(!result.out.contains(dir.path + "/etc/gateway/data"), "\(result.out)")
        let binary = dir.path + "/usr/bin/gateway"
        #expect(FileManager.default.isExecutableFile(atPath: binary))
        for file in ["gateway.yaml", "plugins.d/proc.yaml", "plugins.d/dwmon.yaml", "plugins.d/jobdir.yaml"] {
            #expect(FileManager.default.fileExists(atPath: dir.path + "/etc/gateway/" + file), "\(file)")
        }
        #expect(try Self.run(binary, ["--version"]).out.contains(GatewayVersion.current))
        // An edited configuration survives a second install.
        try "# edited\n".write(toFile: dir.path + "/etc/gateway/gateway.yaml", atomically: true, encoding: .utf8)
        let again = try Self.run(
            "/bin/bash",
            [
                "scripts/install.sh", "--prefix", dir.path + "/usr", "--confdir", dir.path + "/etc/gateway",
                "--no-systemd",
            ])
        #expect(again.out.contains("kept the existing"), "\(again.out)")
        #expect(try String(contentsOfFile: dir.path + "/etc/gateway/gateway.yaml", encoding: .utf8) == "# edited\n")
    }

    @Test func debianPackage_holdsTheService_itsConfigurationAsConffiles_andSoundMaintainerScripts() throws {
        let dir = try Self.temporary("deb")
        defer { try? FileManager.default.removeItem(at: dir) }
        let built = try Self.run(
            "/bin/bash", ["scripts/build-deb.sh", "--out", dir.path],
            environment: ["GATEWAY_BINARY": GatewayProcess.releaseBinary.path])
        #expect(built.status == 0, "\(built.out)")
        let deb = try #require(built.out.split(separator: "\n").last.map(String.init))
        #expect(deb.hasSuffix(".deb"))

        let contents = try Self.run("/usr/bin/dpkg-deb", ["-c", deb]).out
        for path in [
            "./usr/bin/gateway", "./etc/gateway/gateway.yaml", "./etc/gateway/plugins.d/proc.yaml",
            "./lib/systemd/system/gateway.service",
        ] {
            #expect(contents.contains(path), "\(path) missing from the package")
        }
        #expect(contents.contains("root/root"), "files owned by root")
        let control = try Self.run("/usr/bin/dpkg-deb", ["-f", deb, "Package", "Version", "Depends"]).out
        #expect(control.contains("Package: gateway"))
        #expect(control.contains("Version: \(GatewayVersion.current)"))

        let extracted = dir.appendingPathComponent("root").path
        let meta = dir.appendingPathComponent("DEBIAN").path
        #expect(try Self.run("/usr/bin/dpkg-deb", ["-x", deb, extracted]).status == 0)
        #expect(try Self.run("/usr/bin/dpkg-deb", ["-e", deb, meta]).status == 0)
        let conffiles = try String(contentsOfFile: meta + "/conffiles", encoding: .utf8)
        #expect(
            conffiles.contains("/etc/gateway/gateway.yaml") && conffiles.contains("/etc/gateway/plugins.d/proc.yaml"))
        for script in ["postinst", "prerm"] {
            #expect(try Self.run("/bin/sh", ["-n", meta + "/" + script]).status == 0, "\(script) parses")
        }
        let postinst = try String(contentsOfFile: meta + "/postinst", encoding: .utf8)
        #expect(postinst.contains("adduser --system"))
        let unit = try String(contentsOfFile: extracted + "/lib/systemd/system/gateway.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/bin/gateway run --config /etc/gateway/gateway.yaml"))
        #expect(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"))
        #expect(unit.contains("User=gateway") && unit.contains("StateDirectory=gateway"))
        #expect(!unit.contains("@BINDIR@") && !unit.contains("@CONFDIR@"))
        // The packaged binary accepts the packaged configuration.
        let check = try Self.run(
            extracted + "/usr/bin/gateway", ["check", "--config", extracted + "/etc/gateway/gateway.yaml"])
        #expect(check.status == 0, "\(check.out)")
        #expect(check.out.contains("data_dir  ") && check.out.contains("/var/lib/gateway\n"), "\(check.out)")
        #expect(check.out.contains("/var/lib/gateway/spool/archive.db"), "\(check.out)")
    }
}
