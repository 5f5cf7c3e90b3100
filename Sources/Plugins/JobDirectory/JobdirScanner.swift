import Foundation

/// Walks a storage root at any depth for `<uuid><json_suffix>` + `<uuid><dump_suffix>` pairs in the
/// same directory. Uses readdir's entry types (no stat per file); symbolic links to directories are
/// not followed (no loops); directories in `exclude` (the success and failed folders, when they are
/// under the root) are skipped.
public struct JobdirScanner: Sendable {
    public var jsonSuffix: String
    public var dumpSuffix: String
    /// Absolute, standardized directories not to walk into.
    public var exclude: Set<String>

    public init(jsonSuffix: String = ".json", dumpSuffix: String = ".dump", exclude: Set<String> = []) {
        self.jsonSuffix = jsonSuffix
        self.dumpSuffix = dumpSuffix
        self.exclude = Set(exclude.map(Self.standardize))
    }

    public static func standardize(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    public struct Scan: Sendable {
        /// Complete pairs, in walk order.
        public var pairs: [FoundPair] = []
        /// Uuids with only their json (a dump still being written, or lost) or only their dump.
        public var incomplete: [String] = []
        /// A uuid whose pair is in more than one directory: the first found is used.
        public var duplicates: [String] = []
        /// Files (with one of the suffixes) whose name is not a uuid.
        public var ignored = 0
        public var files = 0
        public var directories = 0
        /// Directories that could not be read, with the reason.
        public var errors: [String] = []
    }

    /// Every pair under `root`.
    public func scan(_ root: String, origin: JobdirJob.Origin = .storage) -> Scan {
        var scan = Scan()
        var seen = Set<String>()
        walk(Self.standardize(root), into: &scan) { directory, names, scan in
            var json = Set<Substring>()
            var dump = Set<Substring>()
            for name in names {
                if name.hasSuffix(jsonSuffix) {
                    let base = name.dropLast(jsonSuffix.count)
                    if Self.isUUID(base) { json.insert(base) } else { scan.ignored += 1 }
                } else if name.hasSuffix(dumpSuffix) {
                    let base = name.dropLast(dumpSuffix.count)
                    if Self.isUUID(base) { dump.insert(base) } else { scan.ignored += 1 }
                }
            }
            for base in json.symmetricDifference(dump) { scan.incomplete.append(String(base)) }
            for base in json.intersection(dump).sorted() {
                let uuid = String(base)
                guard seen.insert(uuid).inserted else {
                    scan.duplicates.append("\(directory)/\(uuid)")
                    continue
                }
                scan.pairs.append(
                    FoundPair(
                        uuid: uuid, jsonPath: "\(directory)/\(uuid)\(jsonSuffix)",
                        dumpPath: "\(directory)/\(uuid)\(dumpSuffix)", origin: origin))
            }
            return true
        }
        return scan
    }

    /// The pair of one uuid under `root`, or nil; stops at the first directory holding both files.
    public func locate(_ uuid: String, in root: String, origin: JobdirJob.Origin) -> FoundPair? {
        guard Self.isUUID(Substring(uuid)) else { return nil }
        var found: FoundPair?
        var scan = Scan()
        let json = uuid + jsonSuffix
        let dump = uuid + dumpSuffix
        walk(Self.standardize(root), into: &scan) { directory, names, _ in
            if names.contains(json) && names.contains(dump) {
                found = FoundPair(
                    uuid: uuid, jsonPath: "\(directory)/\(json)", dumpPath: "\(directory)/\(dump)", origin: origin)
                return false
            }
            return true
        }
        return found
    }

    /// Depth-first over the directories under `root`; `visit` gets each directory's file names and
    /// returns false to stop.
    private func walk(
        _ root: String, into scan: inout Scan, visit: (String, [String], inout Scan) -> Bool
    ) {
        var pending = [root]
        while let directory = pending.popLast() {
            guard let handle = opendir(directory) else {
                let reason = String(cString: strerror(errno))
                scan.errors.append("\(directory): \(reason)")
                continue
            }
            scan.directories += 1
            var names: [String] = []
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name == "." || name == ".." { continue }
                let path = "\(directory)/\(name)"
                var type = Int32(entry.pointee.d_type)
                if type == Int32(DT_UNKNOWN) || type == Int32(DT_LNK) {
                    // Files reached through a link count; directories reached through one are not walked.
                    var info = stat()
                    let isLink = type == Int32(DT_LNK)
                    if (isLink ? stat(path, &info) : lstat(path, &info)) != 0 { continue }
                    let kind = info.st_mode & S_IFMT
                    type = kind == S_IFDIR ? (isLink ? Int32(DT_LNK) : Int32(DT_DIR)) : kind == S_IFREG ? Int32(DT_REG) : Int32(DT_UNKNOWN)
                }
                if type == Int32(DT_DIR) {
                    if !exclude.contains(path) { pending.append(path) }
                } else if type == Int32(DT_REG) {
                    names.append(name)
                }
            }
            closedir(handle)
            scan.files += names.count
            if !visit(directory, names, &scan) { return }
        }
    }

    /// 8-4-4-4-12 hexadecimal digits.
    static func isUUID(_ text: Substring) -> Bool {
        let bytes = text.utf8
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            switch index {
            case 8, 13, 18, 23: if byte != UInt8(ascii: "-") { return false }
            default:
                let hex = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
                if !hex { return false }
            }
        }
        return true
    }
}

/// Moving and deleting a finished job's files, so that a kill -9 at any point loses nothing: a
/// move is a rename (or, across file systems, a copy that is synced before the original goes), and
/// each step can be repeated: a source already gone whose destination exists was moved before.
enum JobFiles {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Moves `path` into `directory` (created as needed); returns the new path.
    static func move(_ path: String, into directory: String) throws(Failure) -> String {
        let destination = "\(directory)/\((path as NSString).lastPathComponent)"
        try makeDirectories(directory)
        if rename(path, destination) == 0 { return destination }
        let code = errno
        if code == ENOENT {
            if access(destination, F_OK) == 0 { return destination }  // moved before a restart
            throw Failure(description: "\(path) is gone and not in \(directory)")
        }
        guard code == EXDEV else {
            throw Failure(description: "cannot move \(path) to \(directory): \(String(cString: strerror(code)))")
        }
        // Another file system: copy, sync, put in place, then remove the original.
        let temporary = "\(destination).partial"
        unlink(temporary)
        do {
            try FileManager.default.copyItem(atPath: path, toPath: temporary)
        } catch {
            unlink(temporary)
            throw Failure(description: "cannot copy \(path) to \(directory): \(error.localizedDescription)")
        }
        let fd = open(temporary, O_RDONLY)
        let synced = fd >= 0 && fsync(fd) == 0
        if fd >= 0 { close(fd) }
        guard synced, rename(temporary, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw Failure(description: "cannot put \(destination) in place: \(reason)")
        }
        syncDirectory(directory)
        if unlink(path) != 0 && errno != ENOENT {
            throw Failure(description: "copied to \(destination) but cannot remove \(path): \(String(cString: strerror(errno)))")
        }
        return destination
    }

    /// `mkdir -p`, with the failing directory and the system's reason in the error.
    static func makeDirectories(_ directory: String) throws(Failure) {
        var path = ""
        for part in directory.split(separator: "/", omittingEmptySubsequences: true) {
            path += "/\(part)"
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))")
            }
        }
        var info = stat()
        guard stat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw Failure(description: "cannot create \(directory): \(path) is not a directory")
        }
    }

    /// Deletes `path`; one already gone is fine.
    static func remove(_ path: String) throws(Failure) {
        if unlink(path) != 0 && errno != ENOENT {
            throw Failure(description: "cannot delete \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
