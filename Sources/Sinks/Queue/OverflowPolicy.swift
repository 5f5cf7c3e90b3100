/// What a sink's queue does when it is full. Nothing is ever dropped without being counted.
public enum OverflowPolicy: String, Sendable, CaseIterable {
    /// The source waits (HTTP requests and plugins await space; the UDP listener stops reading,
    /// so the kernel's buffer absorbs the burst and its drops are counted as kernel drops).
    case block
    /// New points are dropped and counted as `dropped{reason="queue_full"}`.
    case dropNewest = "drop_newest"
    /// The oldest queued points are dropped to make room, and counted.
    case dropOldest = "drop_oldest"
}
