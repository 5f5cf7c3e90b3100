import Foundation
import Testing

@testable import Plugins

/// A Socorro-style storage: radix folders from the uuid's first characters holding the pair and a
/// link named after the job to its date-index folder, and date-index folders holding a link back.
struct SocorroTree {
    let root: String

    /// `root/radix/ab/cd/ef/01/<uuid>.{json,dump}` + `<uuid>` -> its date folder, and
    /// `root/date/2026/12/08/HH/MM_0/<uuid>` -> the radix folder; returns the uuid.
    @discardableResult
    func add(_ index: Int) throws -> String {
        let uuid = UUID().uuidString.lowercased()
        let radix =
            "radix/"
            + stride(from: 0, to: 8, by: 2).map { offset in
                let start = uuid.index(uuid.startIndex, offsetBy: offset)
                return String(uuid[start..<uuid.index(start, offsetBy: 2)])
            }.joined(separator: "/")
        let date = String(format: "date/2026/12/08/%02d/%02d_0", index / 60 % 24, index % 60)
        let manager = FileManager.default
        for folder in [radix, date] {
            try manager.createDirectory(atPath: "\(root)/\(folder)", withIntermediateDirectories: true)
        }
        try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(root)/\(radix)/\(uuid).json"))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: "\(root)/\(radix)/\(uuid).dump"))
        // Relative links, as Socorro makes them: five levels up from a radix folder, six from a date one.
        try manager.createSymbolicLink(
            atPath: "\(root)/\(radix)/\(uuid)", withDestinationPath: "../../../../../\(date)")
        try manager.createSymbolicLink(
            atPath: "\(root)/\(date)/\(uuid)", withDestinationPath: "../../../../../../\(radix)")
        return uuid
    }

    /// Every symbolic link and every empty folder under the root (the root itself excluded).
    func untidy() throws -> (links: [String], emptyFolders: [String]) {
        var links: [String] = []
        var empty: [String] = []
        var pending = [root]
        let manager = FileManager.default
        while let folder = pending.popLast() {
            let names = try manager.contentsOfDirectory(atPath: folder)
            if names.isEmpty && folder != root { empty.append(folder) }
            for name in names {
                let path = "\(folder)/\(name)"
                let type = try manager.attributesOfItem(atPath: path)[.type] as? FileAttributeType
                if type == .typeSymbolicLink {
                    links.append(path)
                } else if type == .typeDirectory {
                    pending.append(path)
                }
            }
        }
        return (links, empty)
    }
}

@Suite("jobdir keeps a Socorro-style storage tidy", .serialized)
struct JobdirTidyTests {
    @Test(
        "1,000 pairs with a date index of links: processed and cleaned, the storage holds no link and no empty folder")
    func socorroTree_isLeftWithoutLinksOrEmptyFolders() async throws {
        let f = try JobdirPluginFixture { settings in
            settings.successDir = (settings.storageRoot as NSString).deletingLastPathComponent + "/done"
            settings.failedDir = ""  // failed jobs' pairs are deleted
        }
        let tree = SocorroTree(root: f.files.storage)
        let uuids = try (0..<1_000).map { try tree.add($0) }
        #expect(try tree.untidy().links.count == 2_000)
        #expect(await f.call(.post, "/processors/p1/check-in").status == 200)
        let scan = try #require(await f.plugin.scan())
        #expect(scan.queued == 1_000 && scan.ignored == 0, "the links are not jobs")
        // Taken: each job's two links go at once (as Socorro's monitor removed them), and the date
        // folders they leave empty.
        #expect(scan.linksRemoved == 2_000 && scan.foldersRemoved > 0)
        #expect(try tree.untidy().links.isEmpty)
        var claimed = 0
        while let job = try f.plugin.store.claim("p1", now: f.plugin.now()) {
            // Every tenth job fails (its pair is deleted), the others succeed (moved to success_dir).
            let index = try #require(uuids.firstIndex(of: job.uuid))
            _ = try f.plugin.store.finish(
                job.uuid, success: index % 10 != 0, message: nil, processor: "p1", now: f.plugin.now())
            claimed += 1
        }
        #expect(claimed == 1_000)
        let report = try #require(await f.plugin.cleanup())
        #expect(report.moved == 900 && report.deleted == 100 && report.failed.isEmpty)
        #expect(report.linksRemoved == 0 && report.tidyErrors.isEmpty)
        let left = try tree.untidy()
        #expect(left.links.isEmpty, "\(left.links.prefix(3))")
        #expect(left.emptyFolders.isEmpty, "\(left.emptyFolders.prefix(3))")
        // Everything under the root was the jobs': only the root is left, and the moved files are whole.
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.files.storage).isEmpty)
        let done = try FileManager.default.subpathsOfDirectory(atPath: "\(f.files.dir)/done")
        #expect(done.filter { $0.hasSuffix(".json") || $0.hasSuffix(".dump") }.count == 1_800)
        #expect(report.foldersRemoved > 0)
    }

    @Test("links of a layout without back-links (a date index alone) go at cleanup, found by its walk")
    func anIndexWithoutBackLinks_isCleanedByTheWalk() async throws {
        let f = try JobdirPluginFixture()
        let root = f.files.storage
        let uuids = try (0..<20).map { i in try f.files.pair(sub: "radix/\(i % 3)") }
        let manager = FileManager.default
        for (i, uuid) in uuids.enumerated() {
            let index = "\(root)/index/2026-12-08/\(i % 4)"
            try manager.createDirectory(atPath: index, withIntermediateDirectories: true)
            // An absolute link to the pair's folder, and one to its json file.
            try manager.createSymbolicLink(atPath: "\(index)/\(uuid)", withDestinationPath: "\(root)/radix/\(i % 3)")
            try manager.createSymbolicLink(
                atPath: "\(index)/\(uuid).json", withDestinationPath: "\(root)/radix/\(i % 3)/\(uuid).json")
        }
        #expect(await f.call(.post, "/processors/p1/check-in").status == 200)
        let scan = try #require(await f.plugin.scan())
        #expect(scan.queued == 20 && scan.linksRemoved == 0, "no back-link: nothing to follow at the scan")
        while let job = try f.plugin.store.claim("p1", now: f.plugin.now()) {
            _ = try f.plugin.store.finish(job.uuid, success: true, message: nil, processor: "p1", now: f.plugin.now())
        }
        let report = try #require(await f.plugin.cleanup())
        #expect(report.deleted == 20 && report.tidyErrors.isEmpty)
        #expect(report.linksRemoved == 40, "the links named after the jobs, and those to their files")
        let left = try SocorroTree(root: root).untidy()
        #expect(left.links.isEmpty && left.emptyFolders.isEmpty, "\(left)")
    }

    @Test("only the job's links and folders go: other links, files and folders stay, and the root is never removed")
    func tidyTouchesOnlyWhatWasTheJobs() async throws {
        let f = try JobdirPluginFixture()
        let root = f.files.storage
        let tree = SocorroTree(root: root)
        let uuid = try tree.add(0)
        let kept = try tree.add(1)  // taken (its links go at the scan) but not finished: its pair stays
        let radix =
            "\(root)/radix/"
            + [0, 2, 4, 6].map { offset in
                String(uuid.dropFirst(offset).prefix(2))
            }.joined(separator: "/")
        let manager = FileManager.default
        // Beside the job: a link of another name to its folder, and a file in its date folder.
        try manager.createSymbolicLink(atPath: "\(root)/favourite", withDestinationPath: radix)
        try Data("note".utf8).write(to: URL(fileURLWithPath: "\(root)/date/2026/12/08/00/00_0/README"))
        try manager.createDirectory(atPath: "\(root)/incoming", withIntermediateDirectories: true)
        let atRoot = try f.files.pair()  // a pair right in the root
        #expect(await f.call(.post, "/processors/p1/check-in").status == 200)
        let scan = try #require(await f.plugin.scan())
        #expect(scan.queued == 3 && scan.linksRemoved == 4, "both Socorro jobs' two links")
        // Its date folder holds a file: it stays; the other job's emptied date folder went.
        #expect(scan.foldersRemoved >= 1 && manager.fileExists(atPath: "\(root)/date/2026/12/08/00/00_0/README"))
        var finished: [String] = []
        while let job = try f.plugin.store.claim("p1", now: f.plugin.now()) {
            if job.uuid == kept { continue }
            _ = try f.plugin.store.finish(job.uuid, success: true, message: nil, processor: "p1", now: f.plugin.now())
            finished.append(job.uuid)
        }
        #expect(Set(finished) == [uuid, atRoot])
        let report = try #require(await f.plugin.cleanup())
        #expect(report.deleted == 2 && report.linksRemoved == 0 && report.tidyErrors.isEmpty)
        #expect(!manager.fileExists(atPath: radix), "the job's emptied radix folder went")
        #expect(manager.fileExists(atPath: "\(root)/date/2026/12/08/00/00_0/README"), "a folder with a file stays")
        #expect(try manager.destinationOfSymbolicLink(atPath: "\(root)/favourite") == radix, "another link stays")
        #expect(manager.fileExists(atPath: "\(root)/incoming"), "an empty folder that was not the job's stays")
        #expect(try tree.untidy().links == ["\(root)/favourite"], "only the other link is left")
        let keptFiles = try manager.subpathsOfDirectory(atPath: "\(root)/radix").filter { $0.contains(kept) }
        #expect(keptFiles.count == 2, "the unfinished job's pair stays: \(keptFiles)")
        var isDirectory: ObjCBool = false
        #expect(manager.fileExists(atPath: root, isDirectory: &isDirectory) && isDirectory.boolValue)
    }
}
