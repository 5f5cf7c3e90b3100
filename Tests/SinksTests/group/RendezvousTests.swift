import GatewayCore
import Testing

@testable import Sinks

/// The `shard` placement (rendezvous hashing over FNV-1a 64): fixed, stable, balanced, and adding
/// or removing a member moves only about 1/N of the series.
@Suite struct RendezvousTests {
    static let keys = (0..<10_000).map { Point(series: "cpu", time: 0, tags: [Tag("host", "h\($0)")], fields: []) }

    func placement(_ members: [String]) -> [String] {
        let rendezvous = Rendezvous(members: members)
        return Self.keys.map { members[rendezvous.first(Rendezvous.seriesHash($0))] }
    }

    @Test func theHashIsFNV1a64_andTheSeriesKeyIsNameAndSortedTagsEachFollowedByAZeroByte() {
        // FNV-1a 64 reference values.
        #expect(Rendezvous.fnv1a([]) == 0xcbf2_9ce4_8422_2325)
        #expect(Rendezvous.fnv1a(Array("a".utf8)) == 0xaf63_dc4c_8601_ec8c)
        #expect(Rendezvous.fnv1a(Array("foobar".utf8)) == 0x8594_4171_f739_67e8)
        let point = Point(series: "cpu", time: 1, tags: [Tag("z", "2"), Tag("a", "1")], fields: [])
        #expect(Rendezvous.seriesHash(point) == Rendezvous.fnv1a(Array("cpu\0a\01\0z\02\0".utf8)))
        // Time and fields are not part of the key.
        let later = Point(series: "cpu", time: 99, tags: [Tag("a", "1"), Tag("z", "2")], fields: [Field("v", .int(1))])
        #expect(Rendezvous.seriesHash(later) == Rendezvous.seriesHash(point))
    }

    @Test func placementIsStable_andDependsOnMemberNamesNotTheirOrder() {
        let first = placement(["a", "b", "c"])
        #expect(placement(["a", "b", "c"]) == first)
        #expect(placement(["c", "a", "b"]) == first)
    }

    @Test func threeMembers_eachHoldsAThirdOfTheSeries() {
        let counts = Dictionary(grouping: placement(["vm_a", "vm_b", "vm_c"]), by: { $0 }).mapValues(\.count)
        #expect(counts.count == 3)
        for (member, count) in counts {
            #expect(abs(Double(count) / 10_000 - 1.0 / 3) <= 0.03, "\(member) holds \(count) of 10,000")
        }
    }

    @Test func addingAFourthMember_movesAboutAQuarter_allToTheNewMember() {
        let before = placement(["vm_a", "vm_b", "vm_c"])
        let after = placement(["vm_a", "vm_b", "vm_c", "vm_d"])
        let moved = zip(before, after).filter { $0 != $1 }
        #expect(moved.allSatisfy { $0.1 == "vm_d" }, "a series moves only to the new member")
        #expect(abs(Double(moved.count) / 10_000 - 0.25) <= 0.03, "moved \(moved.count) of 10,000")
    }

    @Test func removingAMember_movesOnlyItsOwnSeries() {
        let before = placement(["vm_a", "vm_b", "vm_c", "vm_d"])
        let after = placement(["vm_a", "vm_b", "vm_d"])
        for (old, new) in zip(before, after) where old != "vm_c" { #expect(old == new) }
        let moved = zip(before, after).filter { $0 != $1 }.count
        #expect(abs(Double(moved) / 10_000 - 0.25) <= 0.03, "moved \(moved) of 10,000")
    }

    @Test func rankingListsEveryMemberOnce_firstIsThePlacement_andTheBufferedRankAgrees() {
        let rendezvous = Rendezvous(members: ["a", "b", "c", "d", "e"])
        var order = [Int](repeating: 0, count: 5)
        var scores = [UInt64](repeating: 0, count: 5)
        for key in Self.keys.prefix(2000) {
            let hash = Rendezvous.seriesHash(key)
            let ranking = rendezvous.ranking(hash)
            #expect(Set(ranking).count == 5)
            #expect(ranking.first == rendezvous.first(hash))
            rendezvous.rank(hash, order: &order, scores: &scores)
            #expect(order == ranking)
        }
    }
}
