import CoreMetrics
import Foundation
import GatewayCore
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Plugins
import ServiceLifecycle

/// The answers every endpoint builds: InfluxDB's error body, partial writes, JSON.
extension HTTPHandlers {
    struct ResponseFailure: Error {
        var response: Response
        init(_ response: Response) { self.response = response }
    }

    static func tooLarge(_ limit: Int, decompressed: Bool = false) -> Response {
        influxError(
            .contentTooLarge, code: "request too large",
            message:
                "request body is larger than the limit of \(limit) bytes\(decompressed ? " once decompressed" : "")")
    }

    /// InfluxDB's error body: `{"code": ..., "message": ..., "line": n}`.
    static func influxError(_ status: HTTPResponse.Status, code: String, message: String, line: Int? = nil) -> Response
    {
        var out: [UInt8] = Array(#"{"code":"#.utf8)
        JSONPointEncoder.appendJSONString(code, to: &out)
        out.append(contentsOf: #","message":"#.utf8)
        JSONPointEncoder.appendJSONString(message, to: &out)
        if let line { out.append(contentsOf: ",\"line\":\(line)".utf8) }
        out.append(UInt8(ascii: "}"))
        return json(status, String(decoding: out, as: UTF8.self))
    }

    /// 422 as InfluxDB answers a partial write: the valid points were written, these were not.
    static func partialWrite(_ rejected: [PointError], written: Int) -> Response {
        json(.unprocessableContent, errorList(code: "unprocessable entity", written: written, errors: rejected))
    }

    static func errorList(code: String, written: Int, errors: [PointError]) -> String {
        var out: [UInt8] = Array(#"{"code":"#.utf8)
        JSONPointEncoder.appendJSONString(code, to: &out)
        let summary =
            "partial write: \(errors.count) rejected, \(written) written: " + (errors.first.map { "\($0)" } ?? "")
        out.append(contentsOf: #","message":"#.utf8)
        JSONPointEncoder.appendJSONString(summary, to: &out)
        out.append(contentsOf: ",\"written\":\(written),\"rejected\":[".utf8)
        for (i, error) in errors.prefix(100).enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: "{\"line\":\(error.line),\"reason\":".utf8)
            JSONPointEncoder.appendJSONString(error.reason.rawValue, to: &out)
            out.append(contentsOf: #","message":"#.utf8)
            JSONPointEncoder.appendJSONString(error.message, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: "]}".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// A control-plane answer: an `Encodable` type as JSON (sorted keys, see ``JSONBody``).
    static func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(
            status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONBody.encode(value))))
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
