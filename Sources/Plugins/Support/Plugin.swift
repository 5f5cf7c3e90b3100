import CoreMetrics
import Foundation
import GatewayCore
import Logging

/// A built-in plugin instance, as the runtime sees it: a long-running task that may emit points,
/// HTTP routes served by every HTTP listener, taps that receive copies of routed points, and a
/// status for `/api/v1/status`.
public protocol GatewayPlugin: Sendable {
    var name: String { get }
    var type: String { get }
    /// Routes under `/api/v1/<plugin>/...` (and any legacy paths the plugin keeps alive).
    var routes: [PluginRoute] { get }
    /// Series whose points the plugin wants a copy of, wherever they came from.
    var taps: [PluginTap] { get }
    /// Runs until the task is cancelled, which the runtime does when graceful shutdown begins.
    func run() async throws
    /// The plugin's state for `/api/v1/status`: an object whose keys include `type`.
    func status() -> any PluginStatus
}

/// A plugin's state as `/api/v1/status` shows it under `plugins.<name>` (the runtime adds `enabled`).
public protocol PluginStatus: Encodable, Sendable {}

extension GatewayPlugin {
    public var routes: [PluginRoute] { [] }
    public var taps: [PluginTap] { [] }
}

/// What the runtime hands a plugin when it makes it.
public struct PluginContext: Sendable {
    /// Sends points into the pipeline (default tags, schemas, routes), counted as received from
    /// `plugin:<name>`. Waits while `block` sink queues are full. Returns how many passed their
    /// schemas (the others were counted, logged and dead-lettered as any rejected input).
    public let emit: @Sendable ([Point]) async -> Int
    public let logger: Logger
    public let metrics: any MetricsFactory
    /// What plugins wait on (scan, flush and alarm intervals, schedules): tests drive it by hand.
    public let clock: any Clock<Duration>
    /// The calendar time (schedules aligned to the minute, job and check timestamps, when a
    /// processor was last seen): tests give a fake one that moves with their clock.
    public let now: @Sendable () -> Date

    public init(
        emit: @escaping @Sendable ([Point]) async -> Int, logger: Logger, metrics: any MetricsFactory,
        clock: any Clock<Duration> = ContinuousClock(), now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.emit = emit
        self.logger = logger
        self.metrics = metrics
        self.clock = clock
        self.now = now
    }
}

/// A copy of every routed point whose series matches one of `series` (globs), delivered
/// synchronously from the router: the receiver must be quick and must not block.
public struct PluginTap: Sendable {
    public let series: [String]
    public let receive: @Sendable ([Point]) -> Void

    public init(series: [String], receive: @escaping @Sendable ([Point]) -> Void) {
        self.series = series
        self.receive = receive
    }
}

/// One HTTP route of a plugin, independent of the HTTP server the gateway uses.
public struct PluginRoute: Sendable {
    public enum Method: String, Sendable { case get = "GET", put = "PUT", post = "POST", delete = "DELETE" }

    public let method: Method
    /// A path with `:name` parameters, e.g. `/ressources-usage/get-all/:ip`.
    public let path: String
    /// Writes need the listener's token when one is configured; reads do not (as `/api/v1/status`).
    public let isWrite: Bool
    public let handler: @Sendable (PluginRequest) async -> PluginResponse

    public init(
        _ method: Method, _ path: String, isWrite: Bool = false,
        handler: @escaping @Sendable (PluginRequest) async -> PluginResponse
    ) {
        self.method = method
        self.path = path
        self.isWrite = isWrite
        self.handler = handler
    }
}

public struct PluginRequest: Sendable {
    public var parameters: [String: String]
    public var query: [String: String]
    public var body: [UInt8]

    public init(parameters: [String: String] = [:], query: [String: String] = [:], body: [UInt8] = []) {
        self.parameters = parameters
        self.query = query
        self.body = body
    }
}

public struct PluginResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]

    public init(status: Int, contentType: String = "application/json; charset=utf-8", body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// A JSON answer from an `Encodable` value (see ``JSONBody``).
    public static func json(_ status: Int, _ value: some Encodable) -> PluginResponse {
        PluginResponse(status: status, body: JSONBody.encode(value))
    }

    /// An error in the shape the gateway's other endpoints use: `{"code", "message"}`.
    public static func error(_ status: Int, code: String, message: String) -> PluginResponse {
        json(status, ErrorAnswer(code: code, message: message))
    }
}
