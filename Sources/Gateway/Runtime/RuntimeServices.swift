import Foundation
import GatewayCore
import Logging
import Plugins
import ServiceLifecycle
import Sinks
import Synchronization

/// Signals an operator or a log-rotation script may send that would otherwise end the process at
/// once (their default action), losing what memory holds. SIGTERM and SIGINT start the graceful
/// shutdown (once; repeats are ignored); SIGHUP reloads the configuration
/// (``Runtime/requestReload(origin:)``); SIGUSR1 and SIGUSR2 are logged and the gateway goes on.
/// SIGPIPE is ignored (a peer that went away is an error on that connection, not a reason to stop).
final class OperatorSignals: @unchecked Sendable {  // sources are set once, in init
    private let sources: [any DispatchSourceSignal]

    init(logger: Logger, reload: @escaping @Sendable () -> Void, shutdown: @escaping @Sendable () -> Void) {
        signal(SIGPIPE, SIG_IGN)
        var sources: [any DispatchSourceSignal] = []
        let signals = [
            (SIGTERM, "SIGTERM"), (SIGINT, "SIGINT"), (SIGHUP, "SIGHUP"), (SIGUSR1, "SIGUSR1"), (SIGUSR2, "SIGUSR2"),
        ]
        for (number, name) in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if number == SIGTERM || number == SIGINT {
                    logger.notice("signal received: shutting down", metadata: ["signal": "\(name)"])
                    shutdown()
                } else if number == SIGHUP {
                    logger.notice("SIGHUP received: reloading the configuration")
                    reload()
                } else {
                    logger.notice(
                        "signal received and ignored: the gateway keeps running", metadata: ["signal": "\(name)"])
                }
            }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}

/// Bounds a graceful shutdown (init systems and Kubernetes kill a process that takes longer than
/// about 30 s). After `timeout`, the Influx sinks give up the requests on the wire and send what is
/// left to their spools; 5 s later the process exits whatever remains (logged with what the queues
/// still held: with `ack: durable`, HTTP points among them are still in the journal).
struct ShutdownWatchdog: Sendable {
    let timeout: Duration
    let logger: Logger

    /// Starts the clock on the sinks running now.
    func arm(expedites: [@Sendable () -> Void], queues: [(String, SinkQueue)]) {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let (logger, timeout) = (self.logger, self.timeout)
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
            logger.error(
                "shutdown_timeout passed: giving up requests on the wire, the rest goes to the spools",
                metadata: ["shutdown_timeout": "\(Units.text(timeout))"])
            for expedite in expedites { expedite() }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds + 5) {
            let held = queues.map { "\($0.0)=\($0.1.count)" }.joined(separator: ",")
            logger.critical(
                "shutdown did not finish 5 s after shutdown_timeout; exiting now",
                metadata: ["points_in_queues": "\(held)"])
            exit(3)
        }
    }
}

/// Runs a plugin in its unit's service group; graceful shutdown cancels it.
struct PluginService: Service {
    let plugin: any GatewayPlugin

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await plugin.run()
        }
    }
}

/// Where a plugin's points enter the pipeline; bound to its Ingest once the router exists.
final class PluginEmitter: Sendable {
    private let ingest = Mutex<Ingest?>(nil)

    func bind(_ ingest: Ingest) { self.ingest.withLock { $0 = ingest } }

    /// Returns the points that passed their schemas.
    func emit(_ points: [Point]) async -> Int {
        guard let ingest = ingest.withLock({ $0 }), !points.isEmpty else { return 0 }
        var points = points
        ingest.metrics.received.increment(by: Int64(points.count))
        ingest.addDefaultTags(&points)
        ingest.normalise(&points, receiveTime: Ingest.now())
        await ingest.router.push(points, source: ingest.source)
        return points.count
    }
}
