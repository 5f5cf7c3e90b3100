import Foundation
import Testing

@testable import Gateway

/// `gateway --version` names the version, the commit the binary was built from and the build day;
/// `gateway_build_info` carries the same.
@Suite struct VersionTests {
    @Test func version_namesTheCommitOfTheCheckout_andTheBuildDay() throws {
        let version = try PackagingTests.run(GatewayProcess.binary.path, ["--version"]).out
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let head = try PackagingTests.run("/usr/bin/git", ["rev-parse", "--short=12", "HEAD"])
        try #require(head.status == 0, "the tests run in a git checkout: \(head.out)")
        let commit = head.out.trimmingCharacters(in: .whitespacesAndNewlines)
        // The debug binary was built from this checkout (maybe with uncommitted changes, while working).
        let pattern = #/^(\d+\.\d+\.\d+) \(commit ([0-9a-f]{12})(-dirty)?, built (\d{4})-(\d\d)-(\d\d)\)$/#
        let match = try #require(try pattern.wholeMatch(in: version), "\(version)")
        #expect(String(match.1) == GatewayVersion.current)
        #expect(String(match.2) == commit, "built from \(match.2), the checkout is at \(commit)")
        let day = try #require(
            ISO8601DateFormatter().date(from: "\(match.4)-\(match.5)-\(match.6)T00:00:00Z"), "\(version)")
        #expect(day <= Date() && Date().timeIntervalSince(day) < 30 * 86_400, "built \(day)")
        #expect(version.contains("commit \(BuildInfo.commit), built \(BuildInfo.date)"))
    }
}
