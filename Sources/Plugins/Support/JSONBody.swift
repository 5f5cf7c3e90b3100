import Foundation

/// The control plane's JSON: answers are `Encodable` types, encoded with sorted keys so they are
/// stable; key names are spelled out in each type's `CodingKeys` (never derived, so names such as
/// sink names inside dictionaries stay as written).
public enum JSONBody {
    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return Array(try encoder.encode(value))
        } catch {
            // Only a type's own encode(to:) can throw here: a defect, answered as JSON all the same.
            return Array(#"{"code":"internal error","message":"the answer could not be encoded"}"#.utf8)
        }
    }

    public static func string<T: Encodable>(_ value: T) -> String {
        String(decoding: encode(value), as: UTF8.self)
    }
}

/// An optional written as `null` when absent (synthesised `Encodable` leaves the key out), for
/// answers whose shape always has the key.
@propertyWrapper
public struct Nullable<Value: Codable & Sendable>: Codable, Sendable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }
}

extension Nullable: Equatable where Value: Equatable {}

/// A number written as `null` when it is not finite or absent (JSON has no NaN).
public struct JSONNumber: Codable, Sendable, Equatable {
    public var value: Double?

    public init(_ value: Double?) { self.value = value.flatMap { $0.isFinite ? $0 : nil } }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value { try container.encode(value) } else { try container.encodeNil() }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        value = container.decodeNil() ? nil : try container.decode(Double.self)
    }
}

/// The gateway's error answer: `{"code": ..., "message": ...}`.
public struct ErrorAnswer: Codable, Sendable, Equatable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}
