import GatewayCore
import Testing

@testable import Sinks

func points(_ n: Int, from start: Int = 0) -> [Point] {
    (start..<(start + n)).map { Point(series: "s", time: Int64($0), fields: [Field("v", .int(Int64($0)))]) }
}

@Suite struct SinkQueueTests {
    @Test func dropNewest_keepsTheOldest_andReportsTheDrops() {
        let queue = SinkQueue(capacity: 5, policy: .dropNewest)
        #expect(queue.offer(points(3)).dropped == 0)
        let result = queue.offer(points(4, from: 3))
        #expect(result.dropped == 2)
        #expect(result.full)
        #expect(queue.take(max: 10).map(\.time) == [0, 1, 2, 3, 4])
    }

    @Test func dropOldest_keepsTheNewest_andReportsTheDrops() {
        let queue = SinkQueue(capacity: 5, policy: .dropOldest)
        queue.offer(points(3))
        #expect(queue.offer(points(4, from: 3)).dropped == 2)
        #expect(queue.take(max: 10).map(\.time) == [2, 3, 4, 5, 6])
        #expect(queue.offer(points(8, from: 10)).dropped == 3)
        #expect(queue.take(max: 10).map(\.time) == [13, 14, 15, 16, 17])
    }

    /// A batch keeps the chunks points were queued in; a chunk cut by the batch size is split
    /// into slices, and the rest comes first in the next batch (also after drop_oldest cut it).
    @Test func takeBatch_keepsChunks_splitsTheOneCutByMax_inOrder() {
        let queue = SinkQueue(capacity: 100, policy: .dropOldest)
        queue.offer(points(5))
        queue.offer(points(3, from: 5))
        queue.offer(points(4, from: 8))
        let first = queue.takeBatch(max: 3)
        #expect(first.chunks.map { $0.map(\.time) } == [[0, 1, 2]])
        let second = queue.takeBatch(max: 4)
        #expect(second.chunks.map { $0.map(\.time) } == [[3, 4], [5, 6]])
        #expect(second.count == 4)
        #expect(second.map(\.time) == [3, 4, 5, 6])
        #expect(queue.count == 5)
        // drop_oldest cuts the head chunk again: 96 come in, 1 of the 5 left must go.
        #expect(queue.offer(points(96, from: 100)).dropped == 1)
        let third = queue.takeBatch(max: 5)
        #expect(third.chunks.map { $0.map(\.time) } == [[8, 9, 10, 11], [100]])
        #expect(queue.takeBatch(max: 1000).count == 95)
        #expect(queue.count == 0)
        #expect(queue.takeBatch(max: 10).isEmpty)
        #expect(first.points.map(\.time) == [0, 1, 2])
    }

    @Test func block_neverDrops_andTellsTheProducerToPause() {
        let queue = SinkQueue(capacity: 4, policy: .block)
        #expect(queue.offer(points(3)) == .init(dropped: 0, full: false))
        #expect(queue.offer(points(3, from: 3)) == .init(dropped: 0, full: true))
        #expect(queue.count == 6)
    }

    @Test func takeSplitsChunks_inOrder() {
        let queue = SinkQueue(capacity: 100, policy: .block)
        queue.offer(points(3))
        queue.offer(points(3, from: 3))
        #expect(queue.take(max: 2).map(\.time) == [0, 1])
        #expect(queue.take(max: 3).map(\.time) == [2, 3, 4])
        #expect(queue.take(max: 3).map(\.time) == [5])
        #expect(queue.count == 0)
    }

    @Test func push_waitsForRoom_whenBlocking() async {
        let queue = SinkQueue(capacity: 2, policy: .block)
        queue.offer(points(2))
        let pushed = Task { await queue.push(points(1, from: 2)) }
        try? await Task.sleep(for: .milliseconds(50))
        #expect(queue.count == 2, "the producer is still waiting")
        _ = queue.take(max: 2)
        #expect(await pushed.value == 0)
        #expect(queue.take(max: 5).map(\.time) == [2])
    }

    @Test func closedQueue_refusesPoints_andWakesWaiters() async {
        let queue = SinkQueue(capacity: 1, policy: .block)
        queue.offer(points(1))
        let waiter = Task { await queue.waitForSpace() }
        queue.close()
        await waiter.value
        #expect(queue.offer(points(2)).dropped == 2)
        #expect(queue.take(max: 5).count == 1, "what was queued before close can still be taken")
    }
}
