import ConfigReading

/// `type: blackhole`: points counted and discarded (benchmarks, muting a route).
public struct BlackholeSettings: SinkSettings {
    public static let factory = SinkFactory(type: "blackhole", batchSize: 5000, queueSize: 1_000_000) { _, _ in
        BlackholeSettings()
    }

    public func make(_ context: SinkContext) throws -> SinkParts {
        SinkParts(sink: BlackholeSink())
    }
}
