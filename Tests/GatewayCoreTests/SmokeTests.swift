import Testing
@testable import GatewayCore

@Suite struct SmokeTests {
    @Test func decodesSimpleLine() {
        let (points, errors) = LineProtocolDecoder().decode("cpu,host=a usage=1.5,n=2i 1700000000000000000\n")
        #expect(errors.isEmpty)
        #expect(points == [Point(series: "cpu", time: 1_700_000_000_000_000_000, tags: [Tag("host", "a")],
                                 fields: [Field("usage", .float(1.5)), Field("n", .int(2))])])
    }
}
