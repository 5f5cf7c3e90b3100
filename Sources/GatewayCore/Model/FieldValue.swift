/// A typed field value, as InfluxDB line protocol knows them.
public enum FieldValue: Sendable, Hashable {
    case float(Double)
    case int(Int64)
    case uint(UInt64)
    case string(String)
    case bool(Bool)

    public var type: FieldType {
        switch self {
        case .float: return .float
        case .int: return .int
        case .uint: return .uint
        case .string: return .string
        case .bool: return .bool
        }
    }
}

/// The type of a field value, used by schemas and error messages.
public enum FieldType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case float, int, uint, string, bool

    public var description: String { rawValue }
}
