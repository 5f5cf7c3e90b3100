import ConfigReading

extension ProcSettings: PluginSettings {
    /// `type: proc` (see `plugins.d/proc.yaml`).
    public static let factory = PluginFactory(type: "proc") { map, _ in read(map) }

    public func make(name: String, context: PluginContext) throws -> any GatewayPlugin {
        ProcPlugin(name: name, settings: self, context: context)
    }

    static func read(_ map: ConfigMap) -> ProcSettings {
        var s = ProcSettings()
        if let v = map["collect"]?.bool() { s.collect = v }
        if let v = map["interval"]?.positiveDuration() { s.interval = v }
        if let v = map["group_by"]?.oneOf(Grouping.allCases.map { ($0.rawValue, $0) }) { s.groupBy = v }
        if let v = map["cpu_per_core"]?.bool() { s.cpuPerCore = v }
        if let v = map["include"]?.stringList() { s.include = v }
        if let v = map["exclude"]?.stringList() { s.exclude = v }
        if let v = map["top"]?.int(min: 0) { s.top = v }
        if let v = map["format"]?.oneOf(Format.allCases.map { ($0.rawValue, $0) }) { s.format = v }
        if let v = map["host"]?.string() { s.host = v }
        if let v = map["ip"]?.string() { s.ip = v }
        if let v = map["proc_root"]?.string() { s.procRoot = v }
        if let v = map["serve"]?.bool() { s.serve = v }
        if let v = map["window"]?.positiveDuration() { s.window = v }
        if let v = map["max_series"]?.positiveInt() { s.maxSeries = v }
        if let v = map["max_samples_per_series"]?.positiveInt() { s.maxSamplesPerSeries = v }
        if let v = map["mean_window"]?.positiveDuration() { s.meanWindow = v }
        if let alarms = map["alarms"]?.map() {
            readAlarms(alarms, into: &s)
            alarms.finish()
        }
        if s.meanWindow > s.window {
            map.node.problem(
                "mean_window (\(s.meanWindow)) is longer than window (\(s.window)): the store would not hold it")
        }
        if s.trendMinSpan >= s.meanWindow {
            map.node.problem(
                "alarms.min_span (\(s.trendMinSpan)) must be shorter than mean_window (\(s.meanWindow)): no trend could ever be fitted, so nothing would be AMBER"
            )
        }
        if !s.collect && !s.serve {
            map.node.problem("collect and serve are both off: the plugin would do nothing (use enabled: false)")
        }
        return s
    }

    private static func readAlarms(_ alarms: ConfigMap, into s: inout ProcSettings) {
        if let node = alarms["cpu_threshold"], let text = node.string() {
            if let value = Double(text), value > 0, value <= 10_000 {
                s.cpuThreshold = value
            } else {
                node.problem("expected a percentage above 0, got \"\(text)\"")
            }
        }
        if let node = alarms["mem_threshold"], let text = node.string() {
            if let value = Double(text), value > 0, value <= 100 {
                s.memThreshold = value
            } else {
                node.problem("expected a percentage above 0 and at most 100, got \"\(text)\"")
            }
        }
        if let value = alarms["horizon"]?.positiveDuration() { s.horizon = value }
        if let v = alarms["min_samples"]?.int(min: 2) { s.trendMinSamples = v }
        if let node = alarms["min_span"], let value = node.duration() { s.trendMinSpan = value }
        if let value = alarms["interval"]?.positiveDuration() { s.alarmInterval = value }
    }
}
