import ConfigReading
import Foundation
import Sinks

/// Reads one sink's mapping through its type's factory, as the gateway's loader does; returns the
/// settings and the problems (`LINE: key.path: message`).
func readSinkSettings(_ factory: SinkFactory, _ yaml: String, name: String = "s") throws -> (any SinkSettings, [String])
{
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sink-settings-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let path = folder.appendingPathComponent("sink.yaml").path
    try yaml.write(toFile: path, atomically: true, encoding: .utf8)
    let problems = ProblemList()
    let context = ConfigContext(
        name: name, base: folder.path, dataDir: folder.path + "/data", problems: problems, environment: [:])
    guard let map = ConfigFile.parse(file: path, problems: problems, environment: [:])?.map() else {
        throw CocoaError(.fileReadCorruptFile)
    }
    let settings = factory.read(map, context)
    map.finish()
    return (settings, problems.problems.map { "\($0.line): \($0.path): \($0.message)" })
}
