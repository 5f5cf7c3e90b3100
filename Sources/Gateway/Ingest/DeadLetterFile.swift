import Foundation
import GatewayCore
import Synchronization

/// Keeps rejected input in a JSON-lines file, one object per rejected line or point, so an
/// operator can see exactly what was refused and why, and send it again once fixed.
final class DeadLetterFile: Sendable {
    let path: String
    private let handle: Mutex<UnsafeMutablePointer<FILE>?>

    init(path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard let file = fopen(path, "a") else {
            throw DeadLetterError(path: path, message: String(cString: strerror(errno)))
        }
        self.path = path
        handle = Mutex(file)
    }

    /// Appends one record; `input` is the refused line or the encoded point.
    func record(source: String, error: PointError, input: String, receiveTime: Int64) {
        var out: [UInt8] = []
        out.append(contentsOf: #"{"received":"#.utf8)
        out.append(contentsOf: String(receiveTime).utf8)
        for (key, value) in [("source", source), ("reason", error.reason.rawValue), ("message", error.message)] {
            out.append(contentsOf: ",\"\(key)\":".utf8)
            JSONPointEncoder.appendJSONString(value, to: &out)
        }
        out.append(contentsOf: ",\"line\":\(error.line),\"input\":".utf8)
        JSONPointEncoder.appendJSONString(input, to: &out)
        out.append(contentsOf: "}\n".utf8)
        handle.withLock { file in
            guard let file else { return }
            out.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, $0.count, file) }
            fflush(file)
        }
    }

    func close() {
        handle.withLock { file in
            if let f = file { fclose(f) }
            file = nil
        }
    }
}

struct DeadLetterError: Error, CustomStringConvertible {
    var path: String
    var message: String
    var description: String { "cannot open dead-letter file \(path): \(message)" }
}
