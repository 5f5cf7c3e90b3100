import Foundation
import Testing

/// The fuzzing targets' seed corpus, replayed through the plain (uninstrumented) `gateway-fuzz` that
/// `swift build` makes: every input a fuzzer once found a bug with stays a regression test here, and
/// the targets' own checks (round trips, invariants, truncations) run on every seed.
@Suite struct FuzzCorpusTests {
    @Test(arguments: ["line-protocol", "json", "gzip", "roundtrip", "journal", "statsd"])
    func seedCorpusRunsThroughItsTargetWithoutAFailure(_ target: String) throws {
        let binary = GatewayProcess.packageRoot.appendingPathComponent(".build/debug/gateway-fuzz")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw TestFailure("gateway-fuzz missing at \(binary.path): run swift build (scripts/test.sh does)")
        }
        let corpus = GatewayProcess.packageRoot.appendingPathComponent("Tests/Fuzz/corpus/\(target)").path
        let seeds = try FileManager.default.contentsOfDirectory(atPath: corpus)
        #expect(seeds.count >= 5)
        let result = try runGateway([target, corpus], binary: binary)
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out == "\(target): \(seeds.count) inputs ran without a failure\n")
    }
}
