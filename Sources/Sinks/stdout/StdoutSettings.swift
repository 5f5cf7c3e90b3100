import ConfigReading

/// `type: stdout`: points printed as line protocol or JSON lines.
public struct StdoutSettings: SinkSettings {
    public var format = StdoutSink.Format.line

    public static let factory = SinkFactory(type: "stdout") { map, _ in
        var settings = StdoutSettings()
        if let v = map["format"]?.oneOf(StdoutSink.Format.allCases.map { ($0.rawValue, $0) }) { settings.format = v }
        return settings
    }

    public func make(_ context: SinkContext) throws -> SinkParts {
        SinkParts(sink: StdoutSink(format: format))
    }
}
