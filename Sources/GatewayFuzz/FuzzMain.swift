import Foundation

#if GATEWAY_FUZZ
    import CFuzzerDriver
#endif

/// `gateway-fuzz TARGET [libFuzzer flags and corpus directories]`.
///
/// Built by scripts/fuzz.sh with `-sanitize=fuzzer,address` and `-DGATEWAY_FUZZ`, it hands over to
/// libFuzzer. Built plainly (as `swift build` does), it runs each file named, or each file in each
/// directory named, through the target once: a seed corpus or a crash input replayed without
/// libFuzzer.
@main
struct FuzzMain {
    /// The target libFuzzer's callback runs: a C function pointer carries no context.
    nonisolated(unsafe) static var target = FuzzTarget.lineProtocol

    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2, let target = FuzzTarget(rawValue: arguments[1]) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
            FileHandle.standardError.write(Data("usage: gateway-fuzz TARGET [ARGS...]; targets: \(names)\n".utf8))
            exit(2)
        }
        Self.target = target
        #if GATEWAY_FUZZ
            // libFuzzer sees the program name and the arguments after the target's.
            var argv: [UnsafeMutablePointer<CChar>?] = [CommandLine.unsafeArgv[0]]
            for i in 2..<Int(CommandLine.argc) { argv.append(CommandLine.unsafeArgv[i]) }
            argv.append(nil)
            var argc = Int32(argv.count - 1)
            let status = argv.withUnsafeMutableBufferPointer { buffer in
                var base = buffer.baseAddress
                return LLVMFuzzerRunDriver(&argc, &base) { data, size in
                    FuzzMain.runOne(data, size)
                    return 0
                }
            }
            exit(status)
        #else
            var inputs = 0
            for path in arguments.dropFirst(2) {
                for file in files(at: path) {
                    guard let data = FileManager.default.contents(atPath: file) else {
                        FileHandle.standardError.write(Data("cannot read \(file)\n".utf8))
                        exit(2)
                    }
                    data.withUnsafeBytes { target.run($0) }
                    inputs += 1
                }
            }
            print("\(target.rawValue): \(inputs) inputs ran without a failure")
        #endif
    }

    static func runOne(_ data: UnsafePointer<UInt8>?, _ size: Int) {
        guard size <= FuzzTarget.maxInput else { return }
        target.run(UnsafeRawBufferPointer(start: data, count: size))
    }

    /// `path` itself, or the regular files in it (sorted), for a directory.
    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return [path]
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { path + "/" + $0 }
    }
}

/// libFuzzer's usual entry, for a driver that looks for it; the driver above passes the callback.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzMain.runOne(data, size)
    return 0
}
