import CLibdeflate
import Foundation
import Testing

@testable import GatewayCore

/// gzip request bodies are decoded whole or refused whole: every cut, damaged trailer and stray
/// byte is refused with the reason, members written back to back decode as one body, and the limit
/// holds while decoding.
@Suite struct GzipBodyTests {
    /// Two lines of line protocol, as `gzip body.lp` wrote them (the file name in the header).
    static let text = Array(
        "cpu,host=a usage=987i 1700000000000000000\ncpu,host=b usage=12.5 1700000000000000001\n".utf8)
    static let realBody = [UInt8](
        Data(
            base64Encoded:
                "H4sICO74FmsAA2JvZHkubHAASy4o1cnILy6xTVQoLU5MT7W1tDDPVDA0N0AHXMkwlUlQlYZGeqZYVBpyAQD6hCyzVAAAAA==")!)
    /// `gzip -n body.lp; gzip -n b2.lp` concatenated, as `cat a.gz b.gz` makes it.
    static let twoMembers = [UInt8](
        Data(
            base64Encoded:
                "H4sIAAAAAAAAA0suKNXJyC8usU1UKC1OTE+1tbQwz1QwNDdAB1zJMJVJUJWGRnqmWFQacgEA+oQss1QAAAAfiwgAAAAAAAADy03NVUgrSk21NcxUMOQCALDKRvYOAAAA"
        )!)

    func decode(_ body: [UInt8], limit: Int = 1 << 20) -> Result<[UInt8], GzipBodyError> {
        Result { () throws(GzipBodyError) -> [UInt8] in try GzipBody.decode(body, limit: limit) }
    }

    func kind(_ body: [UInt8], limit: Int = 1 << 20) -> GzipBodyError.Kind? {
        if case .failure(let error) = decode(body, limit: limit) { return error.kind }
        return nil
    }

    @Test func aRealGzipBodyDecodes() throws {
        #expect(try decode(Self.realBody).get() == Self.text)
    }

    @Test func everyTruncationOfARealBodyIsRefused() {
        for cut in 0..<Self.realBody.count {
            let result = decode(Array(Self.realBody[0..<cut]))
            guard case .failure(let error) = result else {
                Issue.record("a body cut at byte \(cut) of \(Self.realBody.count) decoded")
                continue
            }
            // Inside the header or trailer it is "cut short"; inside the data the inflater cannot tell
            // a cut from damage, and says both.
            #expect(error.kind == .truncated || error.kind == .corrupt, "cut at \(cut): \(error)")
            #expect(error.message.contains(cut == 0 ? "empty" : "cut short"), "cut at \(cut): \(error)")
        }
    }

    @Test func aCutInTheTrailerSaysHowMuchOfItIsMissing() {
        let error = decode(Array(Self.realBody.dropLast(3))).failureValue
        #expect(error?.kind == .truncated)
        #expect(
            error?.message
                == "the body is cut short: member 1 lacks 3 of the 8 bytes of its trailer (CRC-32 and length)")
    }

    @Test func aDamagedCRCIsRefused() {
        var body = Self.realBody
        body[body.count - 8] ^= 0x40
        #expect(kind(body) == .checksum)
        #expect(decode(body).failureValue?.message.contains("CRC-32") == true)
    }

    @Test func aDamagedLengthIsRefused() {
        var body = Self.realBody
        body[body.count - 2] ^= 0x01
        #expect(kind(body) == .length)
        #expect(decode(body).failureValue?.message.contains("its trailer says") == true)
    }

    @Test func damagedCompressedDataNeverDecodesToOtherBytes() {
        // Every single-bit flip in the compressed data is caught, by the inflater or by the CRC, except
        // in the padding bits after the last block, which change nothing.
        var refused = 0
        let dataRange = 20..<(Self.realBody.count - 8)
        for index in dataRange {
            for bit in 0..<8 {
                var body = Self.realBody
                body[index] ^= 1 << bit
                switch decode(body) {
                case .success(let bytes):
                    #expect(bytes == Self.text, "bit \(bit) of byte \(index) flipped decodes to other bytes")
                case .failure: refused += 1
                }
            }
        }
        #expect(refused >= dataRange.count * 8 - 7)
    }

    @Test(arguments: [[0x00], [0x0A], Array("junk".utf8), [0x1F], [0x1F, 0x8B], [0, 0, 0, 0, 0, 0, 0, 0]])
    func bytesAfterTheLastMemberAreRefused(_ tail: [UInt8]) {
        let error = decode(Self.realBody + tail).failureValue
        // A tail that starts like a member is a member cut short; anything else is stray data.
        if tail.starts(with: [0x1F]) {
            #expect(error?.kind == .truncated)
        } else {
            #expect(error?.kind == .trailingData)
            #expect(error?.message == "\(tail.count) bytes after gzip member 1 do not start another member")
        }
    }

    @Test func membersBackToBackDecodeAsOneBody() throws {
        #expect(try decode(Self.twoMembers).get() == Self.text + Array("mem free=1i 1\n".utf8))
        #expect(try decode(Self.realBody + Self.realBody + Self.realBody).get() == Self.text + Self.text + Self.text)
    }

    /// A cut exactly between two members leaves a complete body (the first member): that one cannot
    /// be told from a body sent whole. Every other cut is refused.
    @Test func everyTruncationOfTwoMembersIsRefused_butTheCutBetweenThem() throws {
        let boundary = 62  // the first member's length
        #expect(try decode(Array(Self.twoMembers[0..<boundary])).get() == Self.text)
        for cut in 0..<Self.twoMembers.count where cut != boundary {
            #expect(kind(Array(Self.twoMembers[0..<cut])) != nil, "cut at \(cut)")
        }
    }

    @Test func theEmptyBodyIsRefused() {
        let error = decode([]).failureValue
        #expect(error?.kind == .truncated)
        #expect(error?.message.contains("empty") == true)
    }

    @Test func aMemberOfNothingDecodesToNothing() throws {
        #expect(try decode(compress([])).get() == [])
    }

    @Test func aBodyThatIsNotGzipIsRefused() {
        #expect(kind(Array("cpu v=1\n".utf8)) == .notGzip)
        var deflate64 = Self.realBody
        deflate64[2] = 9
        #expect(kind(deflate64) == .notGzip)
    }

    @Test func theLimitHoldsWhileDecoding() throws {
        let raw = [UInt8](repeating: UInt8(ascii: "x"), count: 10_000_000)
        let body = compress(raw)
        #expect(body.count < 20_000)
        #expect(kind(body, limit: 1 << 20) == .tooLarge)
        #expect(try decode(body, limit: raw.count).get() == raw)
        #expect(kind(body, limit: raw.count - 1) == .tooLarge)
        // Over the limit only together: two members of 600 KB each under a 1 MiB limit.
        let half = compress([UInt8](repeating: 7, count: 600_000))
        #expect(try decode(half, limit: 1 << 20).get().count == 600_000)
        #expect(kind(half + half, limit: 1 << 20) == .tooLarge)
    }

    /// Found by fuzzing: under a limit of 0 the output buffer had room for a byte, and one byte
    /// decoded past the limit.
    @Test func aLimitOfZeroAdmitsOnlyNothing() throws {
        #expect(kind(compress([0]), limit: 0) == .tooLarge)
        #expect(try decode(compress([]), limit: 0).get() == [])
        #expect(kind(compress([1, 2]), limit: 1) == .tooLarge)
    }

    /// The first output size comes from the last member's length field; a body whose earlier members
    /// are larger (or a length field that lies) is decoded by growing the output.
    @Test func bodiesLargerThanTheirLastMemberSaysDecode() throws {
        let big = [UInt8]((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })
        let body = compress(big) + compress([1, 2, 3])
        #expect(try decode(body, limit: 1 << 23).get() == big + [1, 2, 3])
    }

    @Test func optionalHeaderFieldsAreSkipped_andTheHeaderCRCChecked() throws {
        let member = compress(Self.text)
        let deflate = Array(member[10..<(member.count - 8)])
        let trailer = Array(member.suffix(8))
        // FEXTRA (4 bytes), FNAME, FCOMMENT and FHCRC.
        var header: [UInt8] = [0x1F, 0x8B, 8, 0x04 | 0x08 | 0x10 | 0x02, 0, 0, 0, 0, 0, 3]
        header += [4, 0, 0xAA, 0xBB, 0xCC, 0xDD]
        header += Array("body.lp".utf8) + [0]
        header += Array("a comment".utf8) + [0]
        let crc = UInt16(truncatingIfNeeded: libdeflate_crc32(0, header, header.count))
        let good = header + [UInt8(crc & 0xFF), UInt8(crc >> 8)] + deflate + trailer
        #expect(try decode(good).get() == Self.text)
        var badHeaderCRC = good
        badHeaderCRC[header.count] ^= 1
        #expect(kind(badHeaderCRC) == .checksum)
        for cut in 0..<good.count {
            #expect(kind(Array(good[0..<cut])) != nil, "cut at \(cut)")
        }
        var reserved = good
        reserved[3] |= 0x20
        #expect(kind(reserved) == .notGzip)
    }

    func compress(_ raw: [UInt8]) -> [UInt8] {
        let compressor = libdeflate_alloc_compressor(6)!
        defer { libdeflate_free_compressor(compressor) }
        let bound = libdeflate_gzip_compress_bound(compressor, raw.count)
        return [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            count = raw.withUnsafeBytes {
                libdeflate_gzip_compress(compressor, $0.baseAddress, $0.count, buffer.baseAddress, bound)
            }
        }
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
