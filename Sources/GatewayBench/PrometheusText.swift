/// Reads one counter out of a Prometheus text exposition: both targets report what they ingested
/// there (`gateway_points_written_total`, `vm_rows_inserted_total`), so the benchmark counts what
/// the target itself says it took, not what the sender hoped.
enum PrometheusText {
    /// Sum of the samples named `name` that carry every label in `labels`; nil when there is none.
    static func value(in text: String, name: String, labels: [String: String] = [:]) -> Double? {
        let wanted = labels.map { "\($0.key)=\"\($0.value)\"" }
        var total: Double?
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let rest = line.dropFirst(name.count)
            guard let first = rest.first, first == "{" || first == " " else { continue }  // not a longer name
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            var labelText = Substring("")
            if first == "{", let close = rest.lastIndex(of: "}") { labelText = rest[rest.startIndex...close] }
            // Label sets are matched as `key="value"` text; VictoriaMetrics puts a space after commas.
            guard wanted.allSatisfy({ labelText.contains($0) }) else { continue }
            total = (total ?? 0) + value
        }
        return total
    }
}
