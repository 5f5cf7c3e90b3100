import Foundation

/// Walks a storage root at any depth for `<uuid><json_suffix>` + `<uuid><dump_suffix>` pairs in the
/// same directory. Uses readdir's entry types (no stat per file); symbolic links are neither
/// followed nor taken as files (no loops; cleanup never moves a link); directories in `exclude` (the success and failed folders, when they are
/// under the root) are skipped.
public struct JobdirScanner: Sendable {
    public var jsonSuffix: String
    public var dumpSuffix: String
    /// Absolute, standardized directories not to walk into.
    public var exclude: Set<String>
    /// Which names are jobs (`id_pattern`).
    public var idRule: JobdirIDRule

    public init(
        jsonSuffix: String = ".json", dumpSuffix: String = ".dump", exclude: Set<String> = [],
        idRule: JobdirIDRule = .uuid
    ) {
        self.jsonSuffix = jsonSuffix
        self.dumpSuffix = dumpSuffix
        self.exclude = Set(exclude.map(Self.standardize))
        self.idRule = idRule
    }

    /// A file name's id and whether it is the dump, or nil for a name with neither suffix. The
    /// longer suffix is tried first, so `.dump.json` is not taken for `.json`.
    func split(_ name: String) -> (base: Substring, isDump: Bool)? {
        let dumpFirst = dumpSuffix.count > jsonSuffix.count
        if dumpFirst && name.hasSuffix(dumpSuffix) { return (name.dropLast(dumpSuffix.count), true) }
        if name.hasSuffix(jsonSuffix) { return (name.dropLast(jsonSuffix.count), false) }
        if name.hasSuffix(dumpSuffix) { return (name.dropLast(dumpSuffix.count), true) }
        return nil
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
                guard let (base, isDump) = split(name) else { continue }
                guard idRule.matches(base) else {
                    scan.ignored += 1
                    continue
                }
                if isDump { dump.insert(base) } else { json.insert(base) }
            }
            for base in json.symmetricDifference(dump) { scan.incomplete.append(String(base)) }
            for base in json.intersection(dump).sorted() {
                // Jobs are known by the lower-case uuid; the paths keep the files' own names.
                let uuid = idRule.key(base)
                guard seen.insert(uuid).inserted else {
                    scan.duplicates.append("\(directory)/\(base)")
                    continue
                }
                scan.pairs.append(
                    FoundPair(
                        uuid: uuid, jsonPath: "\(directory)/\(base)\(jsonSuffix)",
                        dumpPath: "\(directory)/\(base)\(dumpSuffix)", origin: origin))
            }
            return true
        }
        return scan
    }

    /// The pair of one id (a uuid in any case) under `root`, or nil; stops at the first directory
    /// holding both files. `errors` lists directories that could not be read (a nil then proves nothing).
    public func locate(_ uuid: String, in root: String, origin: JobdirJob.Origin) -> (
        pair: FoundPair?, errors: [String]
    ) {
        guard idRule.matches(Substring(uuid)) else { return (nil, []) }
        var found: FoundPair?
        var scan = Scan()
        let wanted = idRule.key(Substring(uuid))
        walk(Self.standardize(root), into: &scan) { directory, names, _ in
            var json: String?
            var dump: String?
            for name in names {
                guard let (base, isDump) = split(name), base.utf8.count == wanted.utf8.count,
                    idRule.key(base) == wanted
                else { continue }
                if isDump { dump = name } else { json = name }
            }
            if let json, let dump {
                found = FoundPair(
                    uuid: wanted, jsonPath: "\(directory)/\(json)", dumpPath: "\(directory)/\(dump)", origin: origin)
                return false
            }
            return true
        }
        return (found, scan.errors)
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
            // Symbolic links are not followed nor taken as files: cleanup would move or delete the
            // link, not the file.
            Self.forEachEntry(of: handle, in: directory) { name, kind in
                switch kind {
                case .directory:
                    let path = "\(directory)/\(name)"
                    if !exclude.contains(path) { pending.append(path) }
                case .file: names.append(name)
                case .link, .other: break
                }
            }
            closedir(handle)
            scan.files += names.count
            if !visit(directory, names, &scan) { return }
        }
    }

    enum EntryKind { case directory, file, link, other }

    /// Each entry of an open directory but `.` and `..`, with its kind (from `d_type`, or `lstat` where
    /// the file system does not say); links are not followed.
    static func forEachEntry(
        of handle: OpaquePointer, in directory: String, _ body: (String, EntryKind) -> Void
    ) {
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            var kind: EntryKind
            switch Int32(entry.pointee.d_type) {
            case Int32(DT_DIR): kind = .directory
            case Int32(DT_REG): kind = .file
            case Int32(DT_LNK): kind = .link
            case Int32(DT_UNKNOWN):
                var info = stat()
                if lstat("\(directory)/\(name)", &info) != 0 { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR: kind = .directory
                case S_IFREG: kind = .file
                case S_IFLNK: kind = .link
                default: kind = .other
                }
            default: kind = .other
            }
            body(name, kind)
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
                let hex =
                    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
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

    enum Moved: Equatable {
        /// Now at this path.
        case moved(String)
        /// Already there: moved by a cleanup that was stopped before it could record it.
        case alreadyThere(String)
        /// Gone from its place and not at the destination: removed by someone else.
        case missing
    }

    /// Moves `path` into `directory` (created as needed) without ever replacing a file there: a
    /// different file of the same name makes the move go to `<name>.1` (`.2`, ...).
    static func move(_ path: String, into directory: String) throws(Failure) -> Moved {
        let name = (path as NSString).lastPathComponent
        var source = stat()
        var target = stat()
        guard lstat(path, &source) == 0 else {
            if errno != ENOENT {
                throw Failure(description: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            return lstat("\(directory)/\(name)", &target) == 0 ? .alreadyThere("\(directory)/\(name)") : .missing
        }
        try makeDirectories(directory)
        var destination = "\(directory)/\(name)"
        var suffix = 0
        while lstat(destination, &target) == 0 {
            if target.st_dev == source.st_dev && target.st_ino == source.st_ino {
                // Linked by a cleanup stopped before it removed the original.
                try remove(path)
                return .alreadyThere(destination)
            }
            if sameContent(path, destination) {
                // Copied (across file systems) by a cleanup stopped before it removed the original.
                try remove(path)
                return .alreadyThere(destination)
            }
            suffix += 1
            destination = "\(directory)/\(name).\(suffix)"
        }
        // link + unlink: never replaces a file that appears meanwhile.
        if link(path, destination) == 0 {
            try remove(path)
            return .moved(destination)
        }
        let code = errno
        if code == EEXIST {
            throw Failure(description: "\(destination) appeared while moving \(path); retried next cleanup")
        }
        if code != EXDEV {
            // A file system without hard links: rename (the destination was free just now).
            guard code == EPERM || code == EOPNOTSUPP || code == EMLINK, rename(path, destination) == 0 else {
                throw Failure(
                    description:
                        "cannot move \(path) to \(directory): \(String(cString: strerror(code == EPERM || code == EOPNOTSUPP || code == EMLINK ? errno : code)))"
                )
            }
            return .moved(destination)
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
        guard synced, link(temporary, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw Failure(description: "cannot put \(destination) in place: \(reason)")
        }
        unlink(temporary)
        syncDirectory(directory)
        try remove(path)
        return .moved(destination)
    }

    /// Whether two files hold the same bytes.
    static func sameContent(_ a: String, _ b: String) -> Bool {
        guard let fa = FileHandle(forReadingAtPath: a), let fb = FileHandle(forReadingAtPath: b) else { return false }
        defer {
            try? fa.close()
            try? fb.close()
        }
        while true {
            let da = (try? fa.read(upToCount: 1 << 20)) ?? nil
            let db = (try? fb.read(upToCount: 1 << 20)) ?? nil
            if da != db { return false }
            if da == nil || da!.isEmpty { return true }
        }
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
