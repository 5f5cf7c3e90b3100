import CLibdeflate
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Decodes a gzip request body whole, or refuses it whole.
///
/// A body is one or more gzip members (RFC 1952) back to back, as `gzip` and some clients write
/// them; each member's trailer (CRC-32 and length of its data) is checked, so a body cut short at any
/// byte, a damaged member or bytes after the last member are refused instead of decoding as far as
/// they go. The decoded size is bounded by `limit` while decoding, never after.
///
/// The DEFLATE data is inflated by libdeflate (whole buffers, several times zlib's speed); the
/// header and trailer are read here so that each refusal can say what is wrong.
public enum GzipBody {
    /// Decodes `input`, at most `limit` bytes of output.
    public static func decode(_ input: [UInt8], limit: Int) throws(GzipBodyError) -> [UInt8] {
        try input.withUnsafeBytes { bytes in
            Result { () throws(GzipBodyError) -> [UInt8] in try decode(bytes, limit: limit) }
        }.get()
    }

    /// Decodes `input`, at most `limit` bytes of output.
    public static func decode(_ input: UnsafeRawBufferPointer, limit: Int) throws(GzipBodyError) -> [UInt8] {
        guard input.count > 0 else {
            throw GzipBodyError(.truncated, "the body is empty: a gzip body holds at least one member")
        }
        let decompressor = pool.withLock { $0.popLast() } ?? Decompressor()
        defer { pool.withLock { if $0.count < 8 { $0.append(decompressor) } } }
        guard let handle = decompressor.handle else {
            throw GzipBodyError(.corrupt, "libdeflate could not allocate a decompressor")
        }
        var output = Output(capacity: initialCapacity(input, limit: limit))
        defer { output.deallocate() }
        var offset = 0
        var member = 0
        while offset < input.count {
            offset = try decodeMember(input, at: offset, index: member, into: &output, limit: limit, handle: handle)
            member += 1
        }
        return output.array()
    }

    /// The first output size: the last member's length from its trailer (the whole body's, when it is
    /// one member: usually exact), at least a few times the input, at most `limit`.
    static func initialCapacity(_ input: UnsafeRawBufferPointer, limit: Int) -> Int {
        var hint = 0
        if input.count >= 18 {
            hint = Int(UInt32(littleEndian: input.loadUnaligned(fromByteOffset: input.count - 4, as: UInt32.self)))
        }
        return max(0, min(limit, max(hint, 4 * input.count, 4096)))
    }

    /// Decodes the member at `start`; returns the offset after it.
    static func decodeMember(
        _ input: UnsafeRawBufferPointer, at start: Int, index: Int, into output: inout Output, limit: Int,
        handle: OpaquePointer
    ) throws(GzipBodyError) -> Int {
        let dataStart = try readHeader(input, at: start, index: index)
        while true {
            var consumed = 0
            var produced = 0
            let result = libdeflate_deflate_decompress_ex(
                handle, input.baseAddress! + dataStart, input.count - dataStart, output.end, output.available,
                &consumed, &produced)
            switch result {
            case LIBDEFLATE_SUCCESS:
                let trailer = dataStart + consumed
                guard input.count - trailer >= 8 else {
                    throw GzipBodyError(
                        .truncated,
                        "the body is cut short: member \(index + 1) lacks \(8 - (input.count - trailer)) of the 8 bytes of its trailer (CRC-32 and length)"
                    )
                }
                let crc = input.loadUnaligned(fromByteOffset: trailer, as: UInt32.self).littleEndian
                let size = input.loadUnaligned(fromByteOffset: trailer + 4, as: UInt32.self).littleEndian
                let actual = libdeflate_crc32(0, output.end, produced)
                guard crc == actual else {
                    throw GzipBodyError(
                        .checksum, "member \(index + 1) fails its CRC-32 check: the data is damaged")
                }
                guard size == UInt32(truncatingIfNeeded: produced) else {
                    throw GzipBodyError(
                        .length,
                        "member \(index + 1) decodes to \(produced) bytes but its trailer says \(size)")
                }
                output.count += produced
                return trailer + 8
            case LIBDEFLATE_INSUFFICIENT_SPACE:
                guard output.capacity < limit else {
                    throw GzipBodyError(
                        .tooLarge, "the body is larger than the limit of \(limit) bytes once decompressed")
                }
                output.grow(to: min(limit, max(2 * output.capacity, output.capacity + 4096)))
            default:
                throw GzipBodyError(
                    .corrupt, "the compressed data of member \(index + 1) is damaged or cut short")
            }
        }
    }

    /// Checks the member header at `start` (RFC 1952 2.3); returns where its DEFLATE data begins.
    static func readHeader(_ input: UnsafeRawBufferPointer, at start: Int, index: Int) throws(GzipBodyError) -> Int {
        let available = input.count - start
        func byte(_ i: Int) -> UInt8? { i < available ? input[start + i] : nil }
        func cutShort() -> GzipBodyError {
            GzipBodyError(.truncated, "the body is cut short in the header of member \(index + 1)")
        }
        // Not gzip at all (or, after a member, bytes that do not start another one).
        if byte(0).map({ $0 != 0x1F }) ?? false || byte(1).map({ $0 != 0x8B }) ?? false {
            if index == 0 {
                throw GzipBodyError(.notGzip, "the body does not start with the gzip magic bytes 1f 8b")
            }
            throw GzipBodyError(
                .trailingData, "\(available) bytes after gzip member \(index) do not start another member")
        }
        guard let method = byte(2) else { throw cutShort() }
        guard method == 8 else {
            throw GzipBodyError(.notGzip, "member \(index + 1) uses compression method \(method), not DEFLATE (8)")
        }
        guard let flags = byte(3) else { throw cutShort() }
        guard flags & 0xE0 == 0 else {
            throw GzipBodyError(.notGzip, "member \(index + 1) has reserved header flags set")
        }
        var position = 10  // magic, method, flags, mtime (4), xfl, os
        guard position <= available else { throw cutShort() }
        if flags & 0x04 != 0 {  // FEXTRA: a 2-byte length and that many bytes
            guard let low = byte(position), let high = byte(position + 1) else { throw cutShort() }
            position += 2 + (Int(high) << 8 | Int(low))
            guard position <= available else { throw cutShort() }
        }
        for flag: UInt8 in [0x08, 0x10] where flags & flag != 0 {  // FNAME, FCOMMENT: zero-terminated
            while true {
                guard let b = byte(position) else { throw cutShort() }
                position += 1
                if b == 0 { break }
            }
        }
        if flags & 0x02 != 0 {  // FHCRC: the low 16 bits of the header's CRC-32
            guard let low = byte(position), let high = byte(position + 1) else { throw cutShort() }
            let expected = UInt16(high) << 8 | UInt16(low)
            let actual = UInt16(truncatingIfNeeded: libdeflate_crc32(0, input.baseAddress! + start, position))
            guard expected == actual else {
                throw GzipBodyError(.checksum, "the header of member \(index + 1) fails its CRC check")
            }
            position += 2
        }
        return start + position
    }

    /// The output under construction: a malloc'd buffer that grows by reallocation.
    struct Output {
        var base: UnsafeMutableRawPointer
        var capacity: Int
        var count = 0

        init(capacity: Int) {
            self.capacity = capacity
            base = malloc(max(1, capacity))!
        }

        var end: UnsafeMutableRawPointer { base + count }
        var available: Int { capacity - count }

        mutating func grow(to newCapacity: Int) {
            base = realloc(base, max(1, newCapacity))!
            capacity = newCapacity
        }

        func array() -> [UInt8] {
            Array(UnsafeRawBufferPointer(start: base, count: count))
        }

        func deallocate() { free(base) }
    }

    /// libdeflate decompressors are reused: making one costs more than inflating a small body, and
    /// one serves one thread at a time.
    final class Decompressor: @unchecked Sendable {
        let handle: OpaquePointer?

        init() { handle = libdeflate_alloc_decompressor() }

        deinit { if let handle { libdeflate_free_decompressor(handle) } }
    }

    private static let pool = Mutex<[Decompressor]>([])
}

/// Why a gzip body was refused.
public struct GzipBodyError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// Not a gzip member where one must start.
        case notGzip = "not_gzip"
        /// Ends inside a header, the compressed data or a trailer (an empty body too).
        case truncated
        /// The compressed data cannot be decoded (damaged, or cut short inside it).
        case corrupt
        /// A CRC-32 (of the data, or of the header) does not match.
        case checksum
        /// The trailer's length does not match the decoded data.
        case length
        /// Bytes after the last member that do not start another one.
        case trailingData = "trailing_data"
        /// The decoded data would exceed the limit.
        case tooLarge = "too_large"
    }

    public let kind: Kind
    public let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
