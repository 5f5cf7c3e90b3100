import ArgumentParser
import Foundation
import Logging

@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "A monitoring gateway: points in over UDP and HTTP, normalised, routed to sinks.",
        version: GatewayVersion.description,
        subcommands: [
            RunCommand.self, CheckCommand.self, SendCommand.self, SpoolCommand.self, TapCommand.self, TopCommand.self,
        ],
        defaultSubcommand: RunCommand.self
    )
}

enum GatewayVersion {
    static let current = "0.1.0"
    /// `0.1.0 (commit 1a2b3c4d5e6f, built 2026-12-07)`: the commit and day come from
    /// `scripts/build-info.sh`, run before each build.
    static let description = "\(current) (commit \(BuildInfo.commit), built \(BuildInfo.date))"
}

/// Options shared by the commands that read the configuration.
struct ConfigOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The configuration file.")
    var config: String = "gateway.yaml"
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Start the gateway (the default command).")

    @OptionGroup var options: ConfigOptions

    @Option(
        help:
            "Standard error's log level, overriding logging.level: trace, debug, info, notice, warning, error, critical."
    )
    var logLevel: Logger.Level?

    func run() async throws {
        let config: GatewayConfig
        do {
            config = try ConfigLoader().load(path: options.config)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
        do {
            try config.logging.bootstrap(stderrLevel: logLevel)
        } catch {
            FileHandle.standardError.write(Data("\(options.config): logging: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let logger = Logger(label: "gateway")
        let runtime = try Runtime(config: config, logger: logger)
        try await runtime.run()
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
