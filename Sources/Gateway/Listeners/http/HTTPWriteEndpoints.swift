import CoreMetrics
import Foundation
import GatewayCore
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Plugins
import ServiceLifecycle

/// The write endpoints: InfluxDB's `/api/v2/write` and `/write`, JSON points (`/api/v1/points`),
/// with the durable acknowledgement (`ack: durable`) and the body checks they share.
extension HTTPHandlers {
    // MARK: Influx writes

    func influxWrite(_ request: Request) async -> Response {
        let precision: Precision
        let body: ByteBuffer
        switch await accept(request, defaultPrecision: .nanoseconds) {
        case .success(let accepted): (body, precision) = accepted
        case .failure(let failure): return failure.response
        }
        let receiveTime = Ingest.now()
        var points: [Point] = []
        points.reserveCapacity(body.readableBytes / 64)
        let errors = body.withUnsafeReadableBytes { bytes in
            ingest.decode(
                bytes, format: .lineProtocol, linePrecision: precision, receiveTime: receiveTime, into: &points)
        }
        if let first = errors.first {
            // As InfluxDB: a batch with a malformed line is refused whole, so the client can fix and resend it.
            if !points.isEmpty { ingest.metrics.rejected(RejectReason("batch_rejected"), count: points.count) }
            let more = errors.count > 1 ? " (and \(errors.count - 1) more bad lines)" : ""
            return Self.influxError(
                .badRequest, code: "invalid",
                message:
                    "unable to parse '\(first.text)': \(first.message) at line \(first.line), column \(first.column)\(more); no points were written",
                line: first.line)
        }
        if let busy = await waitForRoom(points: points.count) { return busy }
        let kept: JournalHold?
        switch journaled(
            body, points: points.count, format: .lineProtocol, linePrecision: precision, receiveTime: receiveTime)
        {
        case .success(let acknowledgement): kept = acknowledgement
        case .failure(let failure): return failure.response
        }
        let rejected = ingest.normalise(&points, receiveTime: receiveTime)
        if let failure = await route(points, kept) { return failure }
        if !rejected.isEmpty {
            return Self.partialWrite(rejected, written: points.count)
        }
        return Response(status: .noContent)
    }

    // MARK: Durable acknowledgement

    /// With `ack: durable`, writes the request to the journal before anything else happens to its
    /// points; the acknowledgement returned holds it there until every sink settled them. Refuses
    /// (429 when the journal is at `max_size`, 503 when the disk fails) rather than answer 2xx for
    /// points that could be lost. The points are counted as rejected then, and nothing is routed.
    func journaled(
        _ body: ByteBuffer, points: Int, format: PayloadFormat, linePrecision: Precision = .nanoseconds,
        jsonPrecision: Precision = .seconds, receiveTime: Int64
    ) -> Result<JournalHold?, ResponseFailure> {
        guard let journal, points > 0 else { return .success(nil) }
        let appended = body.withUnsafeReadableBytes { bytes in
            Result { () throws(IngestJournal.AppendError) in
                try journal.append(
                    bytes, format: format, linePrecision: linePrecision, jsonPrecision: jsonPrecision,
                    receiveTime: receiveTime)
            }
        }
        switch appended {
        case .success(let (acknowledgement, sequence)):
            return .success(JournalHold(acknowledgement: acknowledgement, sequence: sequence))
        case .failure(let error):
            return .failure(ResponseFailure(refusal(error, points: points)))
        }
    }

    /// Routes accepted points; with a journal acknowledgement, waits first for the record to be on
    /// stable storage as `sync` asks, then gives back the request's hold.
    func route(_ points: [Point], _ hold: JournalHold?) async -> Response? {
        guard let hold, let journal else {
            await ingest.push(points)
            return nil
        }
        let acknowledgement = hold.acknowledgement
        do {
            try await journal.waitDurable(hold.sequence)
        } catch {
            acknowledgement.release()
            return refusal(error, points: points.count)
        }
        if !points.isEmpty {
            await ingest.push(points, acknowledgement: acknowledgement)
        }
        acknowledgement.release()
        return nil
    }

    /// A write waits at most `queue_wait` for room in full `block` sink queues (a sink that cannot
    /// keep up, or holds a batch its spool cannot take); then it is answered 503, nothing of it kept,
    /// rather than hold the client (and, with `ack: durable`, grow the journal) without bound.
    func waitForRoom(points: Int) async -> Response? {
        guard points > 0, !ingest.router.blockQueuesHaveRoom else { return nil }
        if await ingest.router.waitForRoom(upTo: config.queueWait) { return nil }
        let full = ingest.router.fullBlockQueues
        ingest.metrics.rejected(RejectReason("queue_full"), count: points)
        ingest.log.warning(
            "write refused: sink queues stayed full for queue_wait",
            metadata: [
                "source": "\(ingest.source)", "sinks": "\(full)", "queue_wait": "\(Units.text(config.queueWait))",
            ])
        var response = Self.influxError(
            .serviceUnavailable, code: "unavailable",
            message:
                "sink queues full for \(Units.text(config.queueWait)) (\(full.joined(separator: ", "))): nothing of this request was kept; retry later"
        )
        response.headers[.retryAfter] = "1"
        return response
    }

    /// A journaled request: its record's number and the hold that keeps it in the journal.
    struct JournalHold {
        var acknowledgement: Acknowledgement
        var sequence: UInt64
    }

    func refusal(_ error: IngestJournal.AppendError, points: Int) -> Response {
        var response: Response
        switch error {
        case .full:
            ingest.metrics.rejected(RejectReason("journal_full"), count: points)
            response = Self.influxError(.tooManyRequests, code: "too many requests", message: "\(error); retry later")
            response.headers[.retryAfter] = "1"
        case .io:
            ingest.metrics.rejected(RejectReason("journal_error"), count: points)
            response = Self.influxError(.serviceUnavailable, code: "unavailable", message: "\(error); retry later")
            response.headers[.retryAfter] = "10"
        }
        ingest.log.warning(
            "write refused: the ingest journal cannot take it",
            metadata: ["source": "\(ingest.source)", "error": "\(error)"])
        return response
    }

    // MARK: JSON points

    func jsonPoints(_ request: Request) async -> Response {
        let precision: Precision
        let body: ByteBuffer
        switch await accept(request, defaultPrecision: .seconds) {
        case .success(let accepted): (body, precision) = accepted
        case .failure(let failure): return failure.response
        }
        let receiveTime = Ingest.now()
        var points: [Point] = []
        let errors = body.withUnsafeReadableBytes { bytes in
            ingest.decode(bytes, format: .json, jsonPrecision: precision, receiveTime: receiveTime, into: &points)
        }
        if let busy = await waitForRoom(points: points.count) { return busy }
        let kept: JournalHold?
        switch journaled(body, points: points.count, format: .json, jsonPrecision: precision, receiveTime: receiveTime)
        {
        case .success(let acknowledgement): kept = acknowledgement
        case .failure(let failure): return failure.response
        }
        let rejected = ingest.normalise(&points, receiveTime: receiveTime)
        if let failure = await route(points, kept) { return failure }
        let all = errors + rejected
        if all.isEmpty { return Response(status: .noContent) }
        if points.isEmpty {
            return Self.json(.badRequest, Self.errorList(code: "invalid", written: 0, errors: all))
        }
        return Self.json(
            .unprocessableContent, Self.errorList(code: "unprocessable entity", written: points.count, errors: all))
    }

    /// What every write endpoint checks first: the token, the `precision` parameter, the body.
    func accept(_ request: Request, defaultPrecision: Precision) async -> Result<
        (ByteBuffer, Precision), ResponseFailure
    > {
        if let denied = authorize(request) { return .failure(ResponseFailure(denied)) }
        var precision = defaultPrecision
        if let text = request.uri.queryParameters.get("precision") {
            guard let p = Precision(influx: text) else {
                return .failure(
                    ResponseFailure(
                        Self.influxError(
                            .badRequest, code: "invalid",
                            message: "invalid precision \"\(text)\": expected ns, us, ms or s")))
            }
            precision = p
        }
        return await readBody(request).map { ($0, precision) }
    }

    /// The body, decoded when gzip (whole or refused: see ``GzipBody``), with the size limit applied to it
    /// as sent and, while decoding, to what it decodes to.
    func readBody(_ request: Request) async -> Result<ByteBuffer, ResponseFailure> {
        let limit = config.maxBody
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            return .failure(ResponseFailure(Self.tooLarge(limit)))
        }
        var body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            return .failure(ResponseFailure(Self.tooLarge(limit)))
        } catch {
            return .failure(
                ResponseFailure(
                    Self.influxError(.badRequest, code: "invalid", message: "cannot read the request body: \(error)")))
        }
        switch request.headers[.contentEncoding]?.lowercased() {
        case nil, "identity":
            return .success(body)
        case "gzip":
            // Whole or not at all: every member's trailer is checked, so a body cut short, damaged or
            // followed by stray bytes is refused instead of decoding as far as it goes.
            let decoded = body.withUnsafeReadableBytes { bytes in
                Result { () throws(GzipBodyError) -> [UInt8] in try GzipBody.decode(bytes, limit: limit) }
            }
            switch decoded {
            case .success(let bytes):
                return .success(ByteBuffer(bytes: bytes))
            case .failure(let error) where error.kind == .tooLarge:
                return .failure(ResponseFailure(Self.tooLarge(limit, decompressed: true)))
            case .failure(let error):
                return .failure(
                    ResponseFailure(
                        Self.influxError(
                            .badRequest, code: "invalid",
                            message: "invalid gzip body: \(error.message); no points were written")))
            }
        case let other?:
            return .failure(
                ResponseFailure(
                    Self.influxError(
                        .unsupportedMediaType, code: "unsupported media type",
                        message: "unsupported Content-Encoding \"\(other)\": send identity or gzip")))
        }
    }
}
