import Foundation

/// JSON text for plugin answers, from plain values. Non-finite numbers become `null` (JSON has no
/// NaN), keys are sorted so answers are stable.
enum JSONText {
    static func encode(_ value: Any) -> [UInt8] {
        let clean = sanitise(value)
        guard JSONSerialization.isValidJSONObject(clean) || clean is NSNull || clean is String || clean is NSNumber,
            let data = try? JSONSerialization.data(withJSONObject: clean, options: [.sortedKeys, .fragmentsAllowed])
        else { return Array("null".utf8) }
        return Array(data)
    }

    static func sanitise(_ value: Any) -> Any {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let wrapped = mirror.children.first?.value else { return NSNull() }
            return sanitise(wrapped)
        }
        switch value {
        case let d as Double: return d.isFinite ? d : NSNull()
        case let f as Float: return f.isFinite ? Double(f) : NSNull()
        case let dict as [String: Any]: return dict.mapValues { sanitise($0) }
        case let dict as [String: any Sendable]: return dict.mapValues { sanitise($0) }
        case let array as [Any]: return array.map { sanitise($0) }
        default: return value
        }
    }
}
