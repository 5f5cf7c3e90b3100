/// A kind's factory (a listener, sink or plugin type), named by the `type` users write.
public protocol ComponentFactory: Sendable {
    var type: String { get }
}

/// One table per kind: `type` → factory. The gateway reads and makes components only through these
/// (no switch over types); tests add their own types to a copy.
public struct ComponentTable<Factory: ComponentFactory>: Sendable {
    public private(set) var factories: [String: Factory] = [:]

    public init(_ factories: [Factory]) {
        for factory in factories { add(factory) }
    }

    public mutating func add(_ factory: Factory) {
        precondition(factories[factory.type] == nil, "type \(factory.type) registered twice")
        factories[factory.type] = factory
    }

    public subscript(type: String) -> Factory? { factories[type] }

    /// The known types, sorted (for error messages and docs).
    public var types: [String] { factories.keys.sorted() }
}
