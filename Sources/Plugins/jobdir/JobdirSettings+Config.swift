import ConfigReading

extension JobdirSettings: PluginSettings {
    /// `type: jobdir` (see `plugins.d/jobdir.yaml`). Relative paths start at gateway.yaml's folder
    /// and are made absolute (processors get them in claimed jobs).
    public static let factory = PluginFactory(type: "jobdir") { map, context in read(map, context) }

    public var paths: [(key: String, path: String)] {
        [
            ("storage_root", storageRoot), ("deferred_storage_root", deferredStorageRoot), ("success_dir", successDir),
            ("failed_dir", failedDir), ("state", statePath),
        ].filter { !$0.1.isEmpty }
    }

    public func make(name: String, context: PluginContext) throws -> any GatewayPlugin {
        try JobdirPlugin(name: name, settings: self, context: context)
    }

    static func read(_ map: ConfigMap, _ context: ConfigContext) -> JobdirSettings {
        let rootNode = map.required(
            "storage_root", what: "the directory collectors drop <uuid>.json + <uuid>.dump pairs in")
        let root = context.path(rootNode?.string() ?? "")
        var s = JobdirSettings(storageRoot: root, statePath: context.dataPath("jobdir/\(context.name).db"))
        if let v = map["deferred_storage_root"]?.string() { s.deferredStorageRoot = context.path(v) }
        if let v = map["success_dir"]?.string() { s.successDir = context.path(v) }
        if let v = map["failed_dir"]?.string() { s.failedDir = context.path(v) }
        for (key, keyPath) in [
            ("json_suffix", \JobdirSettings.jsonSuffix), ("dump_suffix", \JobdirSettings.dumpSuffix),
        ] {
            guard let node = map[key], let text = node.string() else { continue }
            if text.isEmpty || text.contains("/") {
                node.problem("expected a file name ending such as .json, got \"\(text)\"")
            } else {
                s[keyPath: keyPath] = text
            }
        }
        if let node = map["id_pattern"], let pattern = node.string() {
            do {
                s.idRule = try JobdirIDRule(pattern)
            } catch {
                node.problem("expected uuid or a regular expression a job's whole file name matches: \(error)")
            }
        }
        if let v = map["scan_interval"]?.positiveDuration() { s.scanInterval = v }
        if let v = map["cleanup_interval"]?.positiveDuration() { s.cleanupInterval = v }
        if let v = map["priority_interval"]?.positiveDuration() { s.priorityInterval = v }
        if let v = map["processor_check_in"]?.positiveDuration() { s.processorCheckIn = v }
        if let v = map["history_retention"]?.positiveDuration() { s.historyRetention = v }
        if let v = map["job_timeout"]?.duration() { s.jobTimeout = v > .zero ? v : nil }
        if let v = map["state"]?.string() { s.statePath = context.path(v) }
        if let zone = map["timezone"]?.timeZone() { s.timeZone = zone }
        if s.jsonSuffix == s.dumpSuffix {
            (map["dump_suffix"] ?? map.node).problem(
                "json_suffix and dump_suffix are both \"\(s.jsonSuffix)\": a pair needs two files")
        }
        if !root.isEmpty {
            let others = [
                ("deferred_storage_root", s.deferredStorageRoot), ("success_dir", s.successDir),
                ("failed_dir", s.failedDir),
            ]
            for (key, path) in others where path == root {
                (map[key] ?? map.node).problem("\(key) is storage_root itself (\(root)): it must be another directory")
            }
            if !s.deferredStorageRoot.isEmpty, s.deferredStorageRoot.hasPrefix(root + "/") {
                (map["deferred_storage_root"] ?? map.node).problem(
                    "deferred_storage_root is under storage_root: its pairs would be scanned and queued as normal jobs")
            }
        }
        return s
    }
}
