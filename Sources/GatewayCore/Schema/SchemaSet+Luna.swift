extension SchemaSet {
    /// The LUNA services' series, from their monitoring documentation. Every point carries the tag
    /// `service`; handlers may add tags and fields beyond these, so extras are allowed.
    public static let lunaServices: [Schema] = {
        let subtaskTags = ["service", "task_id", "subtask_id", "task_type"]
        func optionalFloats(_ keys: [String]) -> [String: Schema.FieldRule] {
            Dictionary(uniqueKeysWithValues: keys.map { ($0, Schema.FieldRule(.float, required: false)) })
        }
        func optionalInts(_ keys: [String]) -> [String: Schema.FieldRule] {
            Dictionary(uniqueKeysWithValues: keys.map { ($0, Schema.FieldRule(.int, required: false)) })
        }
        return [
            Schema(
                series: "requests",
                requiredTags: ["service", "route", "status_code"],
                fields: ["request_id": .init(.string), "execution_time": .init(.float)]),
            Schema(
                series: "errors",
                requiredTags: ["service", "route", "status_code", "error_code"],
                fields: ["request_id": .init(.string)]),
            Schema(
                series: "subtask_errors",
                requiredTags: subtaskTags + ["error_code"],
                fields: ["error_code": .init(.int)]),
            Schema(
                series: "subtask_execution",
                requiredTags: subtaskTags,
                fields: optionalFloats(["save_result_time", "match_time", "clusterization_report_build_time"])
                    .merging(optionalInts(["linked_faces", "extracted_descriptors", "events"])) { a, _ in a }),
            Schema(
                series: "subtask_final",
                requiredTags: subtaskTags,
                fields: ["execution_time": .init(.float), "status": .init(.int)]),
            Schema(
                series: "worker_queue",
                requiredTags: subtaskTags,
                fields: ["transport_time": .init(.float)]),
            Schema(
                series: "worker_requests",
                requiredTags: ["service", "task_id", "subtask_id"],
                fields: ["transport_time": .init(.float)]),
            Schema(
                series: "licensing",
                requiredTags: ["service", "license_status"],
                tagValues: ["license_status": ["ok", "warning", "error"]],
                fields: [
                    "license_period_rest": .init(.int),
                    "warnings": .init(.string, required: false),
                    "errors": .init(.string, required: false),
                ]),
        ]
    }()
}
