import Foundation
import Glibc

/// The gateway under test: `gateway run --config FILE` with a configuration written for the run
/// (UDP and HTTP listeners on free loopback ports, everything routed to one `blackhole` sink).
final class GatewayServer: TargetServer {
    static let sinkName = "blackhole"
    /// Points per sink batch; the last partial batch waits for the flush interval.
    static let batchSize = 5000

    let kind = TargetKind.gateway
    let process: ChildProcess
    let httpPort: Int
    let udpPort: Int

    private init(process: ChildProcess, httpPort: Int, udpPort: Int) {
        self.process = process
        self.httpPort = httpPort
        self.udpPort = udpPort
    }

    static func start(label: String, settings: ServerSettings) throws -> GatewayServer {
        let udpPort = try Sockets.freePort(tcp: false, udp: true)
        let httpPort = try Sockets.freePort(tcp: true, udp: false)
        let configPath = "\(settings.workDirectory)/gateway-\(label).yaml"
        try Files.write(
            configPath,
            configuration(
                udpPort: udpPort, httpPort: httpPort, receiveBuffer: settings.udpReceiveBuffer,
                dataDirectory: "\(settings.workDirectory)/gateway-data"))
        let process = try ChildProcess.spawn(
            name: "gateway", executable: settings.gatewayPath, arguments: ["run", "--config", configPath],
            logPath: "\(settings.workDirectory)/gateway-\(label).log", cpu: settings.targetCPU,
            returnToCPU: settings.benchCPU)
        let server = GatewayServer(process: process, httpPort: httpPort, udpPort: udpPort)
        do {
            try server.waitUntilReady()
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    /// The run's configuration. The queue is large and blocking so that a burst is absorbed rather
    /// than dropped inside the gateway; batches of 5,000 as a real sink would write; a short flush
    /// interval so the written count settles quickly once the load stops.
    static func configuration(udpPort: Int, httpPort: Int, receiveBuffer: Int, dataDirectory: String) -> String {
        """
        # Written by gateway-bench for one measurement.
        gateway:
          name: bench
          data_dir: "\(dataDirectory)"
          log_level: info
        listeners:
          udp:
            type: udp
            listen: "127.0.0.1:\(udpPort)"
            receive_buffer: \(receiveBuffer)
            max_datagram: 64KiB
          http:
            type: http
            listen: "127.0.0.1:\(httpPort)"
            max_body: 32MiB
        sinks:
          \(sinkName):
            type: blackhole
            queue_size: 4000000
            batch_size: \(batchSize)
            flush_interval: 200ms
            when_full: block
        routes:
          - name: everything
            to: [\(sinkName)]

        """
    }

    func pointsCounted() throws -> Int {
        let text = try metricsText()
        guard
            let value = PrometheusText.value(
                in: text, name: "gateway_points_written_total", labels: ["sink": Self.sinkName])
        else {
            // The counter appears with the first batch written.
            return 0
        }
        return Int(value)
    }

    func stop() {
        process.stop()
    }
}
