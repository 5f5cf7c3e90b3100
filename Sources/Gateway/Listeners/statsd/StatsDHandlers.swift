import CoreMetrics
import GatewayCore
import NIOCore

/// One datagram at a time into the intake, on the event loop.
final class StatsDDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    let intake: StatsDIntake
    let maxDatagram: Int
    let truncated: CoreMetrics.Counter

    init(intake: StatsDIntake, maxDatagram: Int, truncated: CoreMetrics.Counter) {
        self.intake = intake
        self.maxDatagram = maxDatagram
        self.truncated = truncated
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        if envelope.data.readableBytes > maxDatagram {
            // A full slot means the kernel cut the datagram: its last line would be wrong.
            truncated.increment()
            intake.refuse(RejectReason("datagram_too_large"), "datagram over max_datagram, dropped whole")
            return
        }
        envelope.data.withUnsafeReadableBytes { intake.take($0) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // One bad read never tears down the listener.
        intake.ingest.log.warning(
            "statsd read error", metadata: ["source": "\(intake.ingest.source)", "error": "\(error)"])
    }
}

/// Newline-separated lines over a TCP connection: whole lines go to the intake as they arrive; a
/// line longer than `maxLine` is refused (reason `line_too_long`) and skipped up to its newline.
final class StatsDStreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let intake: StatsDIntake
    let maxLine: Int
    private var pending: [UInt8] = []
    private var skipping = false

    init(intake: StatsDIntake, maxLine: Int) {
        self.intake = intake
        self.maxLine = maxLine
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { bytes in
            var start = 0
            if skipping {
                guard let newline = bytes.firstIndex(of: 0x0A) else { return }
                skipping = false
                start = newline + 1
            }
            let rest = UnsafeRawBufferPointer(rebasing: bytes[start...])
            guard let lastNewline = rest.lastIndex(of: 0x0A) else {
                pending.append(contentsOf: rest)
                overflow()
                return
            }
            if pending.isEmpty {
                intake.take(UnsafeRawBufferPointer(rebasing: rest[..<lastNewline]))
            } else {
                pending.append(contentsOf: rest[..<lastNewline])
                pending.withUnsafeBytes { intake.take($0) }
                pending.removeAll(keepingCapacity: true)
            }
            pending.append(contentsOf: rest[(lastNewline + 1)...])
            overflow()
        }
    }

    private func overflow() {
        guard pending.count > maxLine else { return }
        pending.removeAll()
        skipping = true
        intake.refuse(RejectReason("line_too_long"), "a TCP line over max_datagram bytes, skipped")
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A last line without its newline is still a line.
        if !pending.isEmpty, !skipping { pending.withUnsafeBytes { intake.take($0) } }
        pending = []
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
