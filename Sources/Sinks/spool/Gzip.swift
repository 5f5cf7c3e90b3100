import CLibdeflate
import Synchronization

/// gzip compression of whole buffers with libdeflate, at its level 1: about three times zlib's speed
/// at its fastest level, with a slightly better ratio. Compressors are pooled: making one costs far
/// more than compressing a batch, and one compressor serves one thread at a time.
enum Gzip {
    /// libdeflate's compression level: 1 is its fastest.
    static let level: Int32 = 1

    final class Compressor: @unchecked Sendable {
        let handle: OpaquePointer

        init() throws {
            guard let handle = libdeflate_alloc_compressor(Gzip.level) else {
                throw SpoolError.unavailable("libdeflate could not allocate a compressor")
            }
            self.handle = handle
        }

        deinit { libdeflate_free_compressor(handle) }
    }

    private static let pool = Mutex<[Compressor]>([])

    /// The gzip member (RFC 1952) holding `raw`.
    static func compress(_ raw: [UInt8]) throws -> [UInt8] {
        let compressor = try pool.withLock { $0.popLast() } ?? Compressor()
        defer { pool.withLock { if $0.count < 8 { $0.append(compressor) } } }
        let bound = libdeflate_gzip_compress_bound(compressor.handle, raw.count)
        var failed = false
        let out = [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            count = raw.withUnsafeBytes { input in
                libdeflate_gzip_compress(compressor.handle, input.baseAddress, input.count, buffer.baseAddress, bound)
            }
            failed = count == 0
        }
        // The bound is libdeflate's worst case, so this does not happen; if it did, nothing is lost:
        // the caller counts and logs the error.
        if failed { throw SpoolError.unavailable("libdeflate could not compress \(raw.count) bytes") }
        return out
    }
}
