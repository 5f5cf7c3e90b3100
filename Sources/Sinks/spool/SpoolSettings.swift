import ConfigReading
import CoreMetrics

/// A spool file's settings: the `spool` sink's own, and the `spool:` key of network sinks.
public struct SpoolFileSettings: Sendable {
    public var enabled = true
    /// Absolute; defaults to `<data_dir>/spool/<sink>.db`.
    public var path = ""
    public var maxSize = 1 << 30
    public var whenFull = SpoolStore.FullPolicy.dropOldest
    public var sync = SpoolStore.SyncMode.normal

    public init(path: String) {
        self.path = path
    }

    public var options: SpoolStore.Options { .init(maxBytes: maxSize, whenFull: whenFull, sync: sync) }

    /// `path`, `max_size`, `when_full`, `sync`.
    public mutating func read(_ map: ConfigMap, _ context: ConfigContext) {
        if let v = map["path"]?.string() { path = context.path(v) }
        if let v = map["max_size"]?.size() {
            if v < 1 << 20 { map["max_size"]?.problem("expected at least 1MiB, got \(v) bytes") } else { maxSize = v }
        }
        if let v = map["when_full"]?.oneOf(SpoolStore.FullPolicy.allCases.map { ($0.rawValue, $0) }) { whenFull = v }
        if let v = map["sync"]?.oneOf(SpoolStore.SyncMode.allCases.map { ($0.rawValue, $0) }) { sync = v }
    }

    /// The default spool file of sink `name`.
    public static func defaultPath(_ context: ConfigContext) -> String {
        context.dataPath("spool/\(context.name).db")
    }
}

/// `type: spool`: an archive that keeps every point in a spool file (`gateway spool export`).
public struct SpoolSettings: SinkSettings {
    public var file: SpoolFileSettings

    public static let factory = SinkFactory(type: "spool", batchSize: 5000, queueSize: 500_000) { map, context in
        var file = SpoolFileSettings(path: SpoolFileSettings.defaultPath(context))
        file.read(map, context)
        return SpoolSettings(file: file)
    }

    public var spoolFile: SpoolFileSettings? { file }

    public func make(_ context: SinkContext) throws -> SinkParts {
        let delivery = DeliveryMetrics(sink: context.name, factory: context.factory)
        let store = try SpoolStore(path: file.path, options: file.options, logger: context.logger)
        let sink = SpoolSink(store: store, metrics: context.metrics, delivery: delivery, logger: context.logger)
        return SinkParts(sink: sink, spool: .init(store: store, delivery: delivery, replayer: nil))
    }
}
