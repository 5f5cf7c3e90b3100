import CLibdeflate
import Dispatch
import Foundation
import GatewayCore
import Logging
import Sinks
import Synchronization

/// The write-ahead log behind `ack: durable`: an HTTP listener appends each accepted request here
/// before it answers 2xx, and forgets it once every sink the request's points were routed to has
/// settled them (delivered, spooled, dead-lettered or dropped by a configured policy). On start,
/// whatever the log still holds is decoded and routed again before the listener takes requests.
///
/// Files, in the journal's folder:
/// - `<first sequence number, 20 digits>.journal`: segments of records (``JournalRecord``), appended
///   with one `write` each; a new segment is started past `segment_size`. A segment whose records
///   are all settled is deleted.
/// - `checkpoint`: the watermark, the highest sequence number up to which every record is settled;
///   rewritten as it advances. Records above it are sent again after a crash: a crash may repeat
///   what was on the wire (at least once, never lost), never lose what was answered 2xx.
/// - `lock`: held while a gateway uses the folder.
///
/// `sync: normal` survives a crash or `kill -9` of the gateway (each record reaches the kernel before
/// the answer); `sync: full` also survives power loss (fdatasync before the answer, one for all the
/// requests waiting at that moment).
final class IngestJournal: Sendable {
    struct Configuration: Sendable {
        enum Sync: String, Sendable, CaseIterable {
            case normal, full
        }

        var path: String
        var sync = Sync.normal
        /// Most bytes held (records not yet settled); past it, requests are answered 429.
        var maxSize = 1 << 30
        var segmentSize = 64 << 20
    }

    /// Why a request could not be journaled.
    enum AppendError: Error, CustomStringConvertible {
        /// `max_size` reached: the sinks behind are slower than the input.
        case full(held: Int, limit: Int)
        /// The disk refused (full, read-only, failing).
        case io(String)

        var description: String {
            switch self {
            case .full(let held, let limit):
                return "the ingest journal holds \(held) bytes not yet settled by the sinks (max_size \(limit))"
            case .io(let why): return "the ingest journal cannot write: \(why)"
            }
        }
    }

    struct Segment {
        /// The highest record number in it (0: none yet).
        var last: UInt64
        var path: String
        var bytes: Int
    }

    struct State: ~Copyable {
        var fd: Int32 = -1
        var segments: [Segment] = []
        var nextSequence: UInt64 = 1
        /// Every record up to this is settled.
        var watermark: UInt64 = 0
        /// Settled flags of records `watermark + 1 ...`, from `pendingHead`.
        var settled: [Bool] = []
        var pendingHead = 0
        /// Bytes on disk: what `max_size` bounds (a handful of segments, so summed when asked).
        var heldBytes: Int { segments.reduce(0) { $0 + $1.bytes } }
        var synced: UInt64 = 0
        var closed = false
    }

    let configuration: Configuration
    let metrics: JournalMetrics
    let logger: Logger
    private let state = Mutex(State())
    private let checkpointFD: Int32
    private let lock: FileLock
    private let syncQueue = DispatchQueue(label: "gateway.journal.sync")

    /// Opens (creating) the journal folder and reads what it holds; ``recover(_:)`` then hands the
    /// records not yet settled to the pipeline.
    init(configuration: Configuration, metrics: JournalMetrics, logger: Logger) throws {
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        let folder = configuration.path
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw JournalError("\(folder): cannot create the journal folder: \(error.localizedDescription)")
        }
        do {
            lock = try FileLock(path: folder + "/lock")
        } catch {
            throw JournalError("\(folder): the journal is in use by another gateway process")
        }
        checkpointFD = open(folder + "/checkpoint", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if checkpointFD < 0 { throw JournalError("\(folder)/checkpoint: cannot open: \(Errno.text())") }
    }

    deinit {
        Glibc.close(checkpointFD)
        lock.release()
    }

    // MARK: Start

    /// What the journal held at start: the records not yet settled, in the segments that hold
    /// them (oldest first). Only their numbers and sizes are kept in memory; ``records(in:)`` reads
    /// one segment's records at a time, so a large backlog is routed without holding it all.
    struct Backlog {
        var segments: [String] = []
        var watermark: UInt64 = 0
        var requests = 0
        var bytes = 0
        var damagedBytes = 0
        var damagedSegments: [String] = []

        /// The records of `segment` above the watermark, in order.
        func records(in segment: String) -> [JournalRecord] {
            guard let data = FileManager.default.contents(atPath: segment) else { return [] }
            return JournalRecord.parseAll([UInt8](data)).records.filter { $0.sequence > watermark }
        }

        /// Every record not yet settled, oldest first (tests and small journals).
        var records: [JournalRecord] { segments.flatMap { records(in: $0) } }
    }

    /// Reads every segment, notes the records above the checkpoint, and sets the journal up to
    /// append after them. Their sequence numbers stay pending until each is settled.
    func load() throws -> Backlog {
        let folder = configuration.path
        let watermark = Self.readCheckpoint(checkpointFD)
        var backlog = Backlog(watermark: watermark)
        var segments: [Segment] = []
        var pendingSequences = Set<UInt64>()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let segmentNames = names.filter { $0.hasSuffix(".journal") }.sorted()
        var highest = watermark
        for name in segmentNames {
            let path = "\(folder)/\(name)"
            guard let data = FileManager.default.contents(atPath: path) else {
                backlog.damagedSegments.append(path)
                continue
            }
            let parsed = JournalRecord.parseAll([UInt8](data))
            if parsed.damagedBytes > 0 {
                backlog.damagedBytes += parsed.damagedBytes
                logger.error(
                    "journal segment holds damaged or torn bytes; every whole record around them is kept",
                    metadata: [
                        "path": "\(path)", "damaged_bytes": "\(parsed.damagedBytes)", "bytes": "\(data.count)",
                        "records": "\(parsed.records.count)",
                    ])
            }
            var last: UInt64 = 0
            for record in parsed.records {
                last = max(last, record.sequence)
                if record.sequence > watermark {
                    pendingSequences.insert(record.sequence)
                    backlog.requests += 1
                    backlog.bytes += record.body.count
                }
            }
            highest = max(highest, last)
            if parsed.records.isEmpty || last <= watermark {
                unlink(path)
            } else {
                segments.append(Segment(last: last, path: path, bytes: data.count))
                backlog.segments.append(path)
            }
        }
        state.withLock { s in
            s.segments = segments
            s.watermark = watermark
            s.nextSequence = highest + 1
            s.synced = highest
            // Numbers with no record (a torn tail) are settled: nobody was told they were kept.
            s.settled = (watermark + 1..<highest + 1).map { !pendingSequences.contains($0) }
            Self.advance(&s)
        }
        persistWatermark()
        return backlog
    }

    // MARK: Append

    /// Writes one accepted request. Returns its acknowledgement (holding one hold, the caller's:
    /// release it once the points are routed) and its sequence number (for ``waitDurable(_:)``).
    func append(
        _ body: UnsafeRawBufferPointer, format: PayloadFormat, linePrecision: Precision, jsonPrecision: Precision,
        receiveTime: Int64
    ) throws(AppendError) -> (Acknowledgement, UInt64) {
        let recordSize = JournalRecord.headerSize + body.count
        let result = state.withLock { s -> Result<UInt64, AppendError> in
            if s.closed { return .failure(.io("the journal is closed")) }
            let held = s.heldBytes
            if held + recordSize > configuration.maxSize, held > 0 {
                return .failure(.full(held: held, limit: configuration.maxSize))
            }
            if s.fd < 0 || (s.segments.last.map { $0.bytes >= configuration.segmentSize } ?? true) {
                if let failure = startSegment(&s) { return .failure(failure) }
            }
            let sequence = s.nextSequence
            let header = JournalRecord.header(
                sequence: sequence, receiveTime: receiveTime, format: format, linePrecision: linePrecision,
                jsonPrecision: jsonPrecision, body: body)
            if let failure = writeRecord(header, body, &s) { return .failure(failure) }
            s.nextSequence += 1
            s.settled.append(false)
            s.segments[s.segments.count - 1].bytes += recordSize
            s.segments[s.segments.count - 1].last = sequence
            return .success(sequence)
        }
        switch result {
        case .success(let sequence):
            metrics.appended.increment()
            return (acknowledgement(for: sequence), sequence)
        case .failure(let error):
            switch error {
            case .full: metrics.refusedFull.increment()
            case .io: metrics.refusedIOError.increment()
            }
            throw error
        }
    }

    /// An acknowledgement that settles `sequence` in this journal.
    func acknowledgement(for sequence: UInt64) -> Acknowledgement {
        Acknowledgement { [self] in settle(sequence) }
    }

    /// Returns once record `sequence` is on stable storage (`sync: full`); at once with `normal`.
    /// Throws when fdatasync fails: the record may not survive a power loss.
    func waitDurable(_ sequence: UInt64) async throws(AppendError) {
        guard configuration.sync == .full else { return }
        let failure: String? = await withCheckedContinuation { continuation in
            // One serial queue: a sync covers every record appended before it began, so requests
            // waiting together share one fdatasync.
            syncQueue.async { [self] in
                let (fd, target, done) = state.withLock { s in (s.fd, s.nextSequence - 1, s.synced >= sequence) }
                if done { return continuation.resume(returning: nil) }
                if fdatasync(fd) != 0 {
                    return continuation.resume(returning: Errno.text())
                }
                state.withLock { $0.synced = max($0.synced, target) }
                continuation.resume(returning: nil)
            }
        }
        if let failure {
            metrics.refusedIOError.increment()
            throw .io("fdatasync: \(failure)")
        }
    }

    private func startSegment(_ s: inout State) -> AppendError? {
        if s.fd >= 0 {
            // Records of a full segment reach the disk before a new one starts (sync: full).
            if configuration.sync == .full { fdatasync(s.fd) }
            Glibc.close(s.fd)
            s.fd = -1
        }
        let name = String(s.nextSequence)
        let path = "\(configuration.path)/\(String(repeating: "0", count: max(0, 20 - name.count)))\(name).journal"
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if fd < 0 { return .io("\(path): \(Errno.text())") }
        if configuration.sync == .full {
            let folder = open(configuration.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if folder >= 0 {
                fsync(folder)
                Glibc.close(folder)
            }
        }
        var st = stat()
        fstat(fd, &st)
        s.fd = fd
        // A segment is named after the first record it was opened for, so the only one that can have
        // this name is an earlier attempt that failed before any record went in: this file is it.
        // Keep one entry (settling that one would delete the file this one writes to).
        s.segments.removeAll { $0.path == path }
        s.segments.append(Segment(last: 0, path: path, bytes: Int(st.st_size)))
        return nil
    }

    /// One write of header and body; on a short or failed write the segment is cut back to where
    /// the record began. If that fails too, the file is closed and the next append opens it again
    /// behind the torn bytes, which reading steps over (``JournalRecord/parseAll(_:)``).
    private func writeRecord(_ header: [UInt8], _ body: UnsafeRawBufferPointer, _ s: inout State) -> AppendError? {
        let start = off_t(s.segments[s.segments.count - 1].bytes)
        let total = header.count + body.count
        let written = header.withUnsafeBytes { head -> Int in
            var vectors = [
                iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress), iov_len: head.count),
                iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress), iov_len: body.count),
            ]
            return writev(s.fd, &vectors, 2)
        }
        if written == total { return nil }
        let why = written < 0 ? Errno.text() : "short write (\(written) of \(total) bytes)"
        if ftruncate(s.fd, start) != 0 {
            Glibc.close(s.fd)
            s.fd = -1
        }
        logger.error(
            "cannot write to the ingest journal; requests are refused (503) until it can",
            metadata: ["path": "\(s.segments[s.segments.count - 1].path)", "error": "\(why)"])
        return .io(why)
    }

    // MARK: Settle

    /// Record `sequence` is settled by every sink; advances the watermark and deletes segments
    /// that hold nothing unsettled.
    func settle(_ sequence: UInt64) {
        let moved = state.withLock { s -> Bool in
            guard sequence > s.watermark else { return false }
            let index = s.pendingHead + Int(sequence - s.watermark - 1)
            guard index < s.settled.count else { return false }
            s.settled[index] = true
            return Self.advance(&s)
        }
        if moved { persistWatermark() }
    }

    /// Moves the watermark over settled records and drops fully settled segments. True if it moved.
    @discardableResult
    private static func advance(_ s: inout State) -> Bool {
        let before = s.watermark
        while s.pendingHead < s.settled.count, s.settled[s.pendingHead] {
            s.pendingHead += 1
            s.watermark += 1
        }
        if s.pendingHead == s.settled.count {
            s.settled.removeAll(keepingCapacity: true)
            s.pendingHead = 0
        } else if s.pendingHead > 4096, s.pendingHead * 2 > s.settled.count {
            s.settled.removeFirst(s.pendingHead)
            s.pendingHead = 0
        }
        // Every segment but the one being written goes once its last record is settled.
        while s.segments.count > 1 || (s.segments.count == 1 && s.fd < 0),
            let first = s.segments.first, first.last <= s.watermark
        {
            unlink(first.path)
            s.segments.removeFirst()
        }
        return s.watermark != before
    }

    private func persistWatermark() {
        let watermark = state.withLock { $0.watermark }
        var bytes = [UInt8](repeating: 0, count: 16)
        JournalRecord.store(watermark, at: 0, in: &bytes)
        JournalRecord.store(watermark ^ 0x6A6F_7572_6E61_6C21, at: 8, in: &bytes)
        _ = pwrite(checkpointFD, bytes, 16, 0)
    }

    static func readCheckpoint(_ fd: Int32) -> UInt64 {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard pread(fd, &bytes, 16, 0) == 16 else { return 0 }
        let watermark = JournalRecord.load(at: 0, in: bytes)
        // A torn checkpoint reads as 0: every record left is sent again (never lost).
        return JournalRecord.load(at: 8, in: bytes) == watermark ^ 0x6A6F_7572_6E61_6C21 ? watermark : 0
    }

    // MARK: Status

    var heldBytes: Int { state.withLock { $0.heldBytes } }
    var pendingRecords: Int { state.withLock { $0.settled.count - $0.pendingHead } }

    /// Closes the segment; at a clean stop, with every record settled, the folder is left empty.
    func close() {
        state.withLock { s in
            if s.fd >= 0 {
                if configuration.sync == .full { fdatasync(s.fd) }
                Glibc.close(s.fd)
                s.fd = -1
            }
            s.closed = true
            Self.advance(&s)
        }
        persistWatermark()
    }
}

struct JournalError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum Errno {
    static func text(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
}
