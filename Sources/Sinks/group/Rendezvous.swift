import GatewayCore

/// Where a series goes in a `shard` group: rendezvous (highest random weight) hashing.
///
/// A series' key is its name and its sorted tags, each part followed by a zero byte:
/// `series 0 key1 0 value1 0 key2 0 value2 0 ...` (UTF-8). The key is hashed once with FNV-1a 64;
/// each member's score is `splitmix64(hash XOR fnv1a64(member name))`, and the series goes to the
/// member with the highest score (with `replicas: R`, to the R highest, all distinct). A member's
/// scores depend on its name only, not on its place in the list: adding a member moves to it the
/// series it now wins, about 1/N of them, and nothing else moves; removing one moves only its own.
/// Both functions are fixed (documented in the README): placement is the same on every gateway and
/// after every restart.
public struct Rendezvous: Sendable {
    /// Each member's seed, `fnv1a64(name)`, in member order.
    public let seeds: [UInt64]

    public init(members: [String]) {
        seeds = members.map { Self.fnv1a(Array($0.utf8)) }
    }

    // MARK: The hash

    static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// FNV-1a, 64 bits.
    public static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var hash = offsetBasis
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* prime }
        return hash
    }

    @inline(__always)
    static func mix(_ hash: inout UInt64, _ text: String) {
        var text = text
        text.withUTF8 { bytes in
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* prime }
        }
        hash = hash &* prime  // the zero byte after each part: (hash ^ 0) * prime
    }

    /// FNV-1a 64 of a point's series key (see the type's description).
    public static func seriesHash(_ point: Point) -> UInt64 {
        var hash = offsetBasis
        mix(&hash, point.series)
        for tag in point.tags {
            mix(&hash, tag.key)
            mix(&hash, tag.value)
        }
        return hash
    }

    /// SplitMix64's finaliser: spreads FNV's weak low bits over the whole word.
    @inline(__always)
    public static func splitmix64(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    // MARK: Placement

    /// The member with the highest score for a series hash.
    @inline(__always)
    public func first(_ hash: UInt64) -> Int {
        var best = 0
        var bestScore: UInt64 = 0
        for index in seeds.indices {
            let score = Self.splitmix64(hash ^ seeds[index])
            if index == 0 || score > bestScore {
                best = index
                bestScore = score
            }
        }
        return best
    }

    /// Every member, highest score first: the first R are a series' replicas; with
    /// `reroute_when_down`, the next ones take over from replicas that are down.
    public func ranking(_ hash: UInt64) -> [Int] {
        let scores = seeds.map { Self.splitmix64(hash ^ $0) }
        return seeds.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
    }
}
