import Foundation
import Glibc

/// VictoriaMetrics single-node, the reference: its own InfluxDB line-protocol ingest over UDP
/// (`-influxListenAddr`) and HTTP (`/api/v2/write`), fresh storage for every run.
final class VictoriaMetricsServer: TargetServer {
    let kind = TargetKind.vm
    let process: ChildProcess
    let httpPort: Int
    let udpPort: Int
    let storagePath: String

    private init(process: ChildProcess, httpPort: Int, udpPort: Int, storagePath: String) {
        self.process = process
        self.httpPort = httpPort
        self.udpPort = udpPort
        self.storagePath = storagePath
    }

    static func start(label: String, settings: ServerSettings) throws -> VictoriaMetricsServer {
        guard let executable = settings.victoriaMetricsPath else { throw BenchError("victoria-metrics path not set") }
        let httpPort = try Sockets.freePort(tcp: true, udp: false)
        let influxPort = try Sockets.freePort(tcp: true, udp: true)
        let storagePath = "\(settings.workDirectory)/vm-\(label)"
        // VictoriaMetrics has no option for its UDP receive buffer: it gets the system default, which
        // is raised while it starts so both targets read from the same size. The default is used as
        // is, while the gateway's SO_RCVBUF request is doubled by the kernel: hence twice the size.
        let previous = try ReceiveBufferDefault.raise(to: 2 * settings.udpReceiveBuffer)
        defer { ReceiveBufferDefault.restore(previous) }
        let process = try ChildProcess.spawn(
            name: "victoria-metrics", executable: executable,
            arguments: [
                "-storageDataPath", storagePath, "-httpListenAddr", "127.0.0.1:\(httpPort)",
                "-influxListenAddr", "127.0.0.1:\(influxPort)", "-retentionPeriod", "100y",
            ],
            logPath: "\(settings.workDirectory)/vm-\(label).log", cpu: settings.targetCPU,
            returnToCPU: settings.benchCPU)
        let server = VictoriaMetricsServer(
            process: process, httpPort: httpPort, udpPort: influxPort, storagePath: storagePath)
        do {
            try server.waitUntilReady()
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    /// Rows are samples, one per field: `vm_rows_inserted_total{type="influx"}` over fields per line.
    func pointsCounted() throws -> Int {
        let text = try metricsText()
        guard let rows = PrometheusText.value(in: text, name: "vm_rows_inserted_total", labels: ["type": "influx"])
        else {
            throw BenchError("no vm_rows_inserted_total{type=\"influx\"} in VictoriaMetrics' /metrics")
        }
        return Int(rows) / LineGenerator.fieldsPerLine
    }

    func stop() {
        process.stop()
        try? FileManager.default.removeItem(atPath: storagePath)
    }
}
