import Foundation
import PackagePlugin

/// Before each build of the gateway, `scripts/build-info.sh` writes `BuildInfo.swift` (the commit and
/// the build day) into the plugin's work folder, which the target compiles. The file is rewritten
/// only when the commit or the day changes, so incremental builds stay incremental.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "generated")
        let script = context.package.directoryURL.appending(path: "scripts/build-info.sh")
        return [
            .prebuildCommand(
                displayName: "Recording the commit and build day",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, context.package.directoryURL.path, output.path],
                outputFilesDirectory: output)
        ]
    }
}
