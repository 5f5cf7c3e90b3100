/// What a series must look like: required tags, typed fields, and whether extras are allowed.
public struct Schema: Sendable, Hashable {
    public struct FieldRule: Sendable, Hashable {
        public var type: FieldType
        public var required: Bool

        public init(_ type: FieldType, required: Bool = true) {
            self.type = type
            self.required = required
        }
    }

    public var series: String
    public var requiredTags: [String]
    /// Allowed values of some tags (e.g. `license_status`: ok, warning, error).
    public var tagValues: [String: [String]]
    public var fields: [String: FieldRule]
    public var extraTags: Bool
    public var extraFields: Bool

    public init(
        series: String,
        requiredTags: [String] = [],
        tagValues: [String: [String]] = [:],
        fields: [String: FieldRule] = [:],
        extraTags: Bool = true,
        extraFields: Bool = true
    ) {
        self.series = series
        self.requiredTags = requiredTags
        self.tagValues = tagValues
        self.fields = fields
        self.extraTags = extraTags
        self.extraFields = extraFields
    }

    /// Checks `point` against this schema. An integer where a float is required is converted
    /// (senders often write `0` for `0.0`; InfluxDB would otherwise see a type conflict).
    /// Returns the reason the point fails, naming the series, the key and what was expected.
    public func validate(_ point: inout Point) -> String? {
        for key in requiredTags where point.tag(key) == nil {
            return "series \"\(series)\": missing required tag \"\(key)\""
        }
        for (key, allowed) in tagValues {
            if let value = point.tag(key), !allowed.contains(value) {
                return
                    "series \"\(series)\": tag \"\(key)\" is \"\(value)\", expected one of \(allowed.joined(separator: ", "))"
            }
        }
        if !extraTags {
            for tag in point.tags where !requiredTags.contains(tag.key) && tagValues[tag.key] == nil {
                return "series \"\(series)\": tag \"\(tag.key)\" is not allowed by the schema"
            }
        }
        for (key, rule) in fields {
            guard let index = point.fields.firstIndex(where: { $0.key == key }) else {
                if rule.required { return "series \"\(series)\": missing required field \"\(key)\" (\(rule.type))" }
                continue
            }
            let value = point.fields[index].value
            if value.type == rule.type { continue }
            switch (rule.type, value) {
            case (.float, .int(let v)): point.fields[index].value = .float(Double(v))
            case (.float, .uint(let v)): point.fields[index].value = .float(Double(v))
            default:
                return "series \"\(series)\": field \"\(key)\" is \(value.type), expected \(rule.type)"
            }
        }
        if !extraFields {
            for field in point.fields where fields[field.key] == nil {
                return "series \"\(series)\": field \"\(field.key)\" is not allowed by the schema"
            }
        }
        return nil
    }
}

/// The schemas in force, by series.
public struct SchemaSet: Sendable {
    public private(set) var schemas: [String: Schema] = [:]

    public init(_ schemas: [Schema] = []) {
        for schema in schemas { self.schemas[schema.series] = schema }
    }

    public var isEmpty: Bool { schemas.isEmpty }

    /// Adds or replaces schemas; later ones win.
    public mutating func add(_ more: [Schema]) {
        for schema in more { schemas[schema.series] = schema }
    }

    /// The reason `point` fails its series' schema, or nil (also when its series has none).
    @inlinable
    public func validate(_ point: inout Point) -> String? {
        if schemas.isEmpty { return nil }
        return schemas[point.series]?.validate(&point)
    }

    /// Names of the built-in sets, for config validation.
    public static let builtinNames = ["luna"]

    public static func builtin(_ name: String) -> [Schema]? {
        switch name {
        case "luna": return lunaServices
        default: return nil
        }
    }
}
