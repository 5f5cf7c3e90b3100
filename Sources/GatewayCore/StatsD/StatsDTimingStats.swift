import Foundation

/// The samples of one timing, histogram or distribution series in one interval, in bounded memory.
///
/// Count, sum, lower, upper, mean and stddev (population, as Telegraf's) are exact. Percentiles and
/// the median are exact, computed as numpy's default (linear interpolation between closest ranks),
/// while the series holds at most `exactLimit` samples; past that the samples move into a
/// log-bucketed sketch (DDSketch's mapping) whose percentiles are within ``relativeError`` (1 %) of
/// the sample at the requested rank, in at most a few thousand buckets whatever the sample count.
///
/// A sample sent with rate `r` weighs `1/r` in `count`, `sum`, `mean` and `stddev`; percentiles use
/// each sample once (a uniform rate does not move them).
public struct StatsDTimingStats: Sendable {
    public static let relativeError = 0.01
    static let gamma = (1 + relativeError) / (1 - relativeError)
    static let logGamma = Foundation.log(gamma)
    /// Magnitudes below this count as zero in the sketch.
    static let smallest = 1e-9

    let exactLimit: Int
    public private(set) var count = 0.0
    public private(set) var sum = 0.0
    public private(set) var lower = Double.infinity
    public private(set) var upper = -Double.infinity
    /// Weighted sums of (v - shift) and (v - shift)^2, shifted by the first value for precision.
    private var shift = 0.0
    private var shiftedSum = 0.0
    private var shiftedSquares = 0.0
    private var samples: [Double] = []
    private var sketch: [Int32: UInt32]? = nil
    private var sketchZeros = 0

    public init(exactLimit: Int) {
        self.exactLimit = max(1, exactLimit)
    }

    public var isExact: Bool { sketch == nil }

    public mutating func add(_ value: Double, weight: Double = 1) {
        if count == 0 { shift = value }
        count += weight
        sum += value * weight
        lower = Swift.min(lower, value)
        upper = Swift.max(upper, value)
        let d = value - shift
        shiftedSum += d * weight
        shiftedSquares += d * d * weight
        if sketch == nil {
            samples.append(value)
            if samples.count > exactLimit {
                sketch = [:]
                for sample in samples { insert(sample) }
                samples = []
            }
        } else {
            insert(value)
        }
    }

    public var mean: Double { count > 0 ? sum / count : 0 }

    /// Population standard deviation.
    public var stddev: Double {
        guard count > 0 else { return 0 }
        let m = shiftedSum / count
        return (Swift.max(0, shiftedSquares / count - m * m)).squareRoot()
    }

    /// Key of a magnitude: positive keys for positive values, negative for negative ones.
    private static func key(_ value: Double) -> Int32 {
        let k = Int32((Foundation.log(Swift.abs(value)) / logGamma).rounded(.up))
        // Shifted so that every magnitude from 1e-9 up has a key of at least 1.
        let positive = k + 2_000
        return value > 0 ? positive : -positive
    }

    private static func value(ofKey key: Int32) -> Double {
        let k = Double(Swift.abs(key) - 2_000)
        let magnitude = 2 * Foundation.pow(gamma, k) / (gamma + 1)
        return key > 0 ? magnitude : -magnitude
    }

    private mutating func insert(_ value: Double) {
        if Swift.abs(value) < Self.smallest {
            sketchZeros += 1
        } else {
            sketch![Self.key(value), default: 0] += 1
        }
    }

    /// The `p`th percentile (0-100).
    public func percentile(_ p: Double) -> Double {
        percentiles([p])[0]
    }

    /// From the sketch: the representative value of the bucket holding rank q·(n−1).
    private func sketchPercentile(_ p: Double) -> Double {
        let q = Swift.min(1, Swift.max(0, p / 100))
        if let sketch {
            let total = sketch.values.reduce(0) { $0 + Int($1) } + sketchZeros
            let rank = q * Double(total - 1)
            var seen = 0
            // Keys order as their values do: the most negative first, zeros (key 0), then positives.
            var ordered = sketch.map { ($0.key, Int($0.value)) }
            ordered.append((0, sketchZeros))
            ordered.sort { $0.0 < $1.0 }
            for (key, n) in ordered {
                seen += n
                if Double(seen) > rank {
                    return Swift.min(upper, Swift.max(lower, key == 0 ? 0 : Self.value(ofKey: key)))
                }
            }
            return upper
        }
        return percentiles([p])[0]
    }

    /// Several percentiles, sorting the samples once.
    public func percentiles(_ ps: [Double]) -> [Double] {
        if sketch != nil { return ps.map(sketchPercentile) }
        let sorted = samples.sorted()
        return ps.map { p in
            guard !sorted.isEmpty else { return 0 }
            let position = Swift.min(1, Swift.max(0, p / 100)) * Double(sorted.count - 1)
            let below = Int(position.rounded(.down))
            let above = Swift.min(below + 1, sorted.count - 1)
            return sorted[below] + (sorted[above] - sorted[below]) * (position - Double(below))
        }
    }
}
