import CSnappy

/// Snappy block compression (libsnappy), the body encoding remote write prescribes: the raw block
/// format, not the framed stream format.
public enum Snappy {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// `input` compressed as one snappy block.
    public static func compress(_ input: [UInt8]) -> [UInt8] {
        let capacity = snappy_max_compressed_length(input.count)
        var length = capacity
        let output = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            let status = input.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) { source in
                    buffer.withMemoryRebound(to: CChar.self) { target in
                        snappy_compress(source.baseAddress, source.count, target.baseAddress, &length)
                    }
                }
            }
            // Compression cannot fail with a buffer of snappy_max_compressed_length.
            precondition(status == SNAPPY_OK, "snappy_compress failed with a buffer of its maximum length")
            initialized = length
        }
        return output
    }

    /// The block `input` uncompressed; throws when it is not a valid snappy block.
    public static func uncompress(_ input: [UInt8]) throws -> [UInt8] {
        var length = 0
        let known = input.withUnsafeBufferPointer { source in
            source.withMemoryRebound(to: CChar.self) { snappy_uncompressed_length($0.baseAddress, $0.count, &length) }
        }
        guard known == SNAPPY_OK else { throw Failure(description: "not a snappy block (no valid length header)") }
        var status = SNAPPY_OK
        let output = [UInt8](unsafeUninitializedCapacity: length) { buffer, initialized in
            var written = length
            status = input.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) { source in
                    buffer.withMemoryRebound(to: CChar.self) { target in
                        snappy_uncompress(source.baseAddress, source.count, target.baseAddress, &written)
                    }
                }
            }
            initialized = status == SNAPPY_OK ? written : 0
        }
        guard status == SNAPPY_OK else { throw Failure(description: "not a valid snappy block") }
        return output
    }
}
