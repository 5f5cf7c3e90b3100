import Foundation

/// Keeps a storage root tidy once jobs' pairs have left it. Socorro's storage keeps, beside the
/// radix folders that hold a pair (`radix/22/ad/fb/61/<uuid>.json`), a date index of folders holding
/// a symbolic link named after the job to the pair's folder, and the pair's folder holds a link
/// named after the job back to its date folder. Once the pair is moved or deleted, those links
/// point at nothing the storage still holds, and the folders they and the pair were in may be empty.
///
/// One walk of the root finds every symbolic link that points at one of a cleaned job's files, and
/// every one named after a cleaned job (its file name without the suffix) that sits in the job's
/// folder or points at that folder; those are removed, never followed. Then the folders left empty (the jobs' folders and those links' folders)
/// are removed upwards, up to but not including the root; `rmdir` never removes a folder that holds
/// anything, and nothing outside the root is touched.
enum JobdirTidy {
    /// A job whose pair left `directory`; `base` is its files' name without the suffix.
    struct Cleaned: Sendable {
        var directory: String
        var base: String
        /// The pair's two files.
        var files: [String]

        /// The job whose files are `jsonPath` and `dumpPath`.
        init(jsonPath: String, dumpPath: String, jsonSuffix: String) {
            let name = (jsonPath as NSString).lastPathComponent
            directory = JobdirScanner.standardize((jsonPath as NSString).deletingLastPathComponent)
            base = String(name.dropLast(jsonSuffix.count))
            files = [jsonPath, dumpPath].map(JobdirScanner.standardize)
        }
    }

    struct Result: Sendable, Equatable {
        var links = 0
        var folders = 0
        /// Links or folders that could not be removed, with the reason.
        var errors: [String] = []
    }

    /// Tidies `root` after `jobs` left it; folders in `exclude` are not walked (nor removed).
    static func tidy(_ jobs: [Cleaned], root: String, exclude: Set<String>) -> Result {
        var result = Result()
        let root = JobdirScanner.standardize(root)
        let inside = jobs.filter { $0.directory == root || $0.directory.hasPrefix(root + "/") }
        guard !inside.isEmpty else { return result }
        var byBase: [String: [String]] = [:]
        for job in inside { byBase[job.base, default: []].append(job.directory) }
        let files = Set(inside.flatMap(\.files))
        var emptied = Set(inside.map(\.directory))
        for (directory, name) in links(under: root, exclude: exclude) {
            let path = "\(directory)/\(name)"
            let target = resolve(path, in: directory)
            // A link to one of the pairs' files, whatever its name; or a link named after a job in
            // its folder or to its folder (a folder may hold other things: only a link named so goes).
            let belongs =
                files.contains(target)
                || (byBase[name] ?? []).contains { jobDirectory in
                    directory == jobDirectory || target == jobDirectory
                }
            guard belongs else { continue }
            if unlink(path) == 0 || errno == ENOENT {
                result.links += 1
                emptied.insert(directory)
            } else {
                result.errors.append("cannot remove the link \(path): \(String(cString: strerror(errno)))")
            }
        }
        prune(emptied, root: root, exclude: exclude, into: &result)
        return result
    }

    /// When a job is taken (queued by a scan), as Socorro's monitor did: the link named after it in
    /// its folder goes, with the link of the same name in the folder it points at when that one
    /// points back at the job; that folder goes too if it is left empty. No walk: a few system calls
    /// per job. (Links of a layout without back-links are found by the cleanup's walk.)
    static func unlinkIndex(_ jobs: [Cleaned], root: String, exclude: Set<String>) -> Result {
        var result = Result()
        let root = JobdirScanner.standardize(root)
        var emptied = Set<String>()
        func isLink(_ path: String) -> Bool {
            var info = stat()
            return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
        }
        func remove(_ link: String) -> Bool {
            if unlink(link) == 0 || errno == ENOENT { return true }
            result.errors.append("cannot remove the link \(link): \(String(cString: strerror(errno)))")
            return false
        }
        for job in jobs {
            let directory = job.directory
            guard directory == root || directory.hasPrefix(root + "/") else { continue }
            let link = "\(directory)/\(job.base)"
            guard isLink(link) else { continue }
            let index = resolve(link, in: directory)
            let back = "\(index)/\(job.base)"
            if index.hasPrefix(root + "/"), !exclude.contains(index), isLink(back) {
                let target = resolve(back, in: index)
                if target == directory || job.files.contains(target), remove(back) {
                    result.links += 1
                    emptied.insert(index)
                }
            }
            if remove(link) { result.links += 1 }
        }
        prune(emptied, root: root, exclude: exclude, into: &result)
        return result
    }

    /// Removes each folder if empty, then its parents while they are empty, up to but not
    /// including `root`; `rmdir` never removes a folder that holds anything.
    static func prune(_ folders: Set<String>, root: String, exclude: Set<String>, into result: inout Result) {
        // Deepest first, so a parent is tried after its children went.
        for directory in folders.sorted(by: { $0.count > $1.count }) {
            var folder = directory
            while folder.hasPrefix(root + "/"), !exclude.contains(folder) {
                guard rmdir(folder) == 0 else {
                    let code = errno
                    if code != ENOTEMPTY && code != EEXIST && code != ENOENT {
                        result.errors.append(
                            "cannot remove the empty folder \(folder): \(String(cString: strerror(code)))")
                    }
                    break
                }
                result.folders += 1
                folder = (folder as NSString).deletingLastPathComponent
            }
        }
    }

    /// Where a link points, as an absolute standardized path (`..` resolved by name, no link followed).
    static func resolve(_ link: String, in directory: String) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(link, &buffer, buffer.count - 1)
        guard count > 0 else { return "" }
        let target = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return JobdirScanner.standardize(target.hasPrefix("/") ? target : "\(directory)/\(target)")
    }

    /// Every symbolic link under `root` as (its folder, its name); links are not followed.
    static func links(under root: String, exclude: Set<String>) -> [(String, String)] {
        var found: [(String, String)] = []
        var pending = [root]
        while let directory = pending.popLast() {
            guard let handle = opendir(directory) else { continue }
            JobdirScanner.forEachEntry(of: handle, in: directory) { name, kind in
                switch kind {
                case .directory:
                    let path = "\(directory)/\(name)"
                    if !exclude.contains(path) { pending.append(path) }
                case .link: found.append((directory, name))
                case .file, .other: break
                }
            }
            closedir(handle)
        }
        return found
    }
}
