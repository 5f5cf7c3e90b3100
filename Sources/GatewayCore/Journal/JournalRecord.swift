import CLibdeflate

/// One request in the HTTP listener's ingest journal (the journal itself, with its files, is in the
/// gateway executable; this is the record codec, no I/O): what is needed to decode it again exactly as it was decoded
/// when it arrived (the body after gzip, its format and precisions, the receive time given to points
/// without one).
///
/// Layout, little-endian: magic `JRN1` (4), body length (4), sequence number (8), receive time (8),
/// format (1), line-protocol precision (1), JSON precision (1), zero (1), CRC-32 (4) of bytes 4..<28
/// and the body, then the body.
public struct JournalRecord: Sendable, Equatable {
    public static let headerSize = 32
    public static let magic: UInt32 = 0x314E_524A  // "JRN1"
    /// A record larger than this is damage, not data (request bodies are far smaller).
    public static let maxBody = 1 << 30

    public var sequence: UInt64
    public var receiveTime: Int64
    public var format: PayloadFormat
    public var linePrecision: Precision
    public var jsonPrecision: Precision
    public var body: [UInt8]

    public init(
        sequence: UInt64, receiveTime: Int64, format: PayloadFormat, linePrecision: Precision, jsonPrecision: Precision,
        body: [UInt8]
    ) {
        self.sequence = sequence
        self.receiveTime = receiveTime
        self.format = format
        self.linePrecision = linePrecision
        self.jsonPrecision = jsonPrecision
        self.body = body
    }

    public static func header(
        sequence: UInt64, receiveTime: Int64, format: PayloadFormat, linePrecision: Precision,
        jsonPrecision: Precision, body: UnsafeRawBufferPointer
    ) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: headerSize)
        store32(magic, at: 0, in: &out)
        store32(UInt32(body.count), at: 4, in: &out)
        store(sequence, at: 8, in: &out)
        store(UInt64(bitPattern: receiveTime), at: 16, in: &out)
        out[24] = format == .json ? 1 : 0
        out[25] = precisionCode(linePrecision)
        out[26] = precisionCode(jsonPrecision)
        store32(checksum(out[4..<28], body), at: 28, in: &out)
        return out
    }

    /// The records of a segment, in file order, and how many bytes were not part of a whole,
    /// checked record (a torn tail, or damage in the middle: parsing goes on at the next record
    /// whose header and checksum hold, so one bad record never hides the good ones after it).
    public static func parseAll(_ bytes: [UInt8]) -> (records: [JournalRecord], damagedBytes: Int) {
        var records: [JournalRecord] = []
        var damaged = 0
        var offset = 0
        while offset < bytes.count {
            if let record = parse(bytes, at: offset) {
                records.append(record)
                offset += headerSize + record.body.count
                continue
            }
            // Damage: look for the next record start.
            var next = offset + 1
            while next < bytes.count,
                !(next + headerSize <= bytes.count && load32(at: next, in: bytes) == magic
                    && parse(bytes, at: next) != nil)
            {
                next += 1
            }
            damaged += next - offset
            offset = next
        }
        return (records, damaged)
    }

    /// The record starting at `offset`, if a whole one with a good checksum is there.
    public static func parse(_ bytes: [UInt8], at offset: Int) -> JournalRecord? {
        guard bytes.count - offset >= headerSize, load32(at: offset, in: bytes) == magic else { return nil }
        let length = Int(load32(at: offset + 4, in: bytes))
        guard length <= maxBody, bytes.count - offset - headerSize >= length,
            let format = formatCode(bytes[offset + 24]), let line = precision(bytes[offset + 25]),
            let json = precision(bytes[offset + 26])
        else { return nil }
        let bodyRange = (offset + headerSize)..<(offset + headerSize + length)
        let sum = bytes[bodyRange].withUnsafeBytes { body in checksum(bytes[(offset + 4)..<(offset + 28)], body) }
        guard sum == load32(at: offset + 28, in: bytes) else { return nil }
        return JournalRecord(
            sequence: load(at: offset + 8, in: bytes), receiveTime: Int64(bitPattern: load(at: offset + 16, in: bytes)),
            format: format, linePrecision: line, jsonPrecision: json, body: Array(bytes[bodyRange]))
    }

    static func checksum(_ header: ArraySlice<UInt8>, _ body: UnsafeRawBufferPointer) -> UInt32 {
        var crc = header.withUnsafeBytes { UInt32(libdeflate_crc32(0, $0.baseAddress, $0.count)) }
        if body.count > 0 { crc = UInt32(libdeflate_crc32(crc, body.baseAddress, body.count)) }
        return crc
    }

    static func precisionCode(_ p: Precision) -> UInt8 {
        switch p {
        case .nanoseconds: return 0
        case .microseconds: return 1
        case .milliseconds: return 2
        case .seconds: return 3
        }
    }

    static func precision(_ code: UInt8) -> Precision? {
        switch code {
        case 0: return .nanoseconds
        case 1: return .microseconds
        case 2: return .milliseconds
        case 3: return .seconds
        default: return nil
        }
    }

    static func formatCode(_ code: UInt8) -> PayloadFormat? {
        switch code {
        case 0: return .lineProtocol
        case 1: return .json
        default: return nil
        }
    }

    public static func store(_ value: UInt64, at offset: Int, in bytes: inout [UInt8]) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    static func store32(_ value: UInt32, at offset: Int, in bytes: inout [UInt8]) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
    }

    public static func load(at offset: Int, in bytes: [UInt8]) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        return value
    }

    static func load32(at offset: Int, in bytes: [UInt8]) -> UInt32 {
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes[offset + i]) << (8 * UInt32(i)) }
        return value
    }
}
