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

    /// A fresh server; with `httpPort` and `storagePath`, one that takes over a stopped one's
    /// (an outage ending).
    static func start(label: String, settings: ServerSettings, httpPort: Int? = nil, storagePath: String? = nil)
        throws -> VictoriaMetricsServer
    {
        guard let executable = settings.victoriaMetricsPath else { throw BenchError("victoria-metrics path not set") }
        let httpPort = try httpPort ?? Sockets.freePort(tcp: true, udp: false)
        let influxPort = try Sockets.freePort(tcp: true, udp: true)
        let storagePath = storagePath ?? "\(settings.workDirectory)/vm-\(label)"
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

    /// Rows are samples, one per field: `vm_rows_inserted_total` over fields per line, of line protocol
    /// (`type="influx"`) and remote write (`type="promremotewrite"`: the gateway's
    /// prometheus_remote_write sink and vmagent write it).
    func pointsCounted() throws -> Int {
        let text = try metricsText()
        guard let rows = PrometheusText.value(in: text, name: "vm_rows_inserted_total", labels: ["type": "influx"])
        else {
            throw BenchError("no vm_rows_inserted_total{type=\"influx\"} in VictoriaMetrics' /metrics")
        }
        let remote =
            PrometheusText.value(in: text, name: "vm_rows_inserted_total", labels: ["type": "promremotewrite"]) ?? 0
        return Int(rows + remote) / LineGenerator.fieldsPerLine
    }

    /// Samples of `metric` VictoriaMetrics has stored (and would answer a query with), after making
    /// it write out what it holds in memory: `sum(count_over_time(metric[3d]))`. The benchmark's
    /// timestamps begin a day ago, so three days cover them all. A cross-check of its row counter.
    func storedSamples(of metric: String) throws -> Int {
        let flush = try HTTPConnection.get(port: httpPort, "/internal/force_flush", timeout: 60)
        guard flush.status == 200 else { throw BenchError("/internal/force_flush answered HTTP \(flush.status)") }
        let query = "sum(count_over_time(\(metric)[3d]))"
        let encoded = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? query
        let response = try HTTPConnection.get(port: httpPort, "/api/v1/query?query=\(encoded)", timeout: 60)
        guard response.status == 200,
            let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let data = object["data"] as? [String: Any], let result = data["result"] as? [[String: Any]]
        else {
            throw BenchError("query \(query) answered HTTP \(response.status): \(response.text.prefix(200))")
        }
        guard let first = result.first else { return 0 }
        guard let value = first["value"] as? [Any], value.count == 2, let text = value[1] as? String,
            let count = Double(text)
        else {
            throw BenchError("query \(query): unexpected answer \(response.text.prefix(200))")
        }
        return Int(count)
    }

    func stop() {
        process.stop()
        try? FileManager.default.removeItem(atPath: storagePath)
    }

    /// Stops the process and keeps its storage (an outage).
    func halt() { process.stop() }
}
