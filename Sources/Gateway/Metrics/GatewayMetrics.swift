import CoreMetrics
import Foundation
import Metrics
import Prometheus
import Synchronization

/// The gateway's self-metrics: one Prometheus registry per runtime (so tests can run several
/// gateways in one process), fed through swift-metrics handles made by its factory.
final class GatewayMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    /// Refreshers run before every export (kernel drop counts, queue depths).
    private let refreshers = Mutex<[@Sendable () -> Void]>([])
    let startTime = Date()

    init() {
        factory = PrometheusMetricsFactory(registry: registry)
    }

    func addRefresher(_ refresh: @escaping @Sendable () -> Void) {
        refreshers.withLock { $0.append(refresh) }
    }

    /// Prometheus text exposition.
    func exposition() -> [UInt8] {
        for refresh in refreshers.withLock({ $0 }) { refresh() }
        return registry.emitToBuffer()
    }

    /// The current samples, parsed back from the exposition: one source of truth for `/metrics`,
    /// `/api/v1/status` and tests.
    func snapshot() -> MetricsSnapshot {
        MetricsSnapshot(text: String(decoding: exposition(), as: UTF8.self))
    }
}

/// Parsed Prometheus samples.
struct MetricsSnapshot: Sendable {
    struct Sample: Sendable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var samples: [Sample] = []

    init(text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let head = line[..<space]
            var labels: [String: String] = [:]
            var name = String(head)
            if let brace = head.firstIndex(of: "{"), head.hasSuffix("}") {
                name = String(head[..<brace])
                labels = Self.parseLabels(head[head.index(after: brace)..<head.index(before: head.endIndex)])
            }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
    }

    static func parseLabels(_ text: Substring) -> [String: String] {
        var labels: [String: String] = [:]
        var index = text.startIndex
        while index < text.endIndex {
            guard let equals = text[index...].firstIndex(of: "=") else { break }
            let key = String(text[index..<equals]).trimmingCharacters(in: CharacterSet(charactersIn: ", "))
            var i = text.index(equals, offsetBy: 2, limitedBy: text.endIndex) ?? text.endIndex  // past ="
            var value = ""
            while i < text.endIndex, text[i] != "\"" {
                if text[i] == "\\", text.index(after: i) < text.endIndex {
                    i = text.index(after: i)
                    value.append(text[i] == "n" ? "\n" : text[i])
                } else {
                    value.append(text[i])
                }
                i = text.index(after: i)
            }
            labels[key] = value
            index = i < text.endIndex ? text.index(after: i) : i
        }
        return labels
    }

    /// Sum of the samples named `name` whose labels include `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples.filter { sample in
            sample.name == name && labels.allSatisfy { key, v in sample.labels[key] == v }
        }.reduce(0) { $0 + $1.value }
    }
}
