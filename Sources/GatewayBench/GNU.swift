import Glibc

/// The GNU calls Swift's Glibc module does not import (they sit behind `_GNU_SOURCE`), looked up at
/// run time: this target keeps to plain Swift, without a C shim target of its own.
enum GNU {
    typealias SendMMsg = @convention(c) (Int32, UnsafeMutableRawPointer?, UInt32, Int32) -> Int32
    typealias SchedSetAffinity = @convention(c) (pid_t, Int, UnsafeRawPointer?) -> Int32

    nonisolated(unsafe) static let sendmmsg: SendMMsg = lookup("sendmmsg")
    nonisolated(unsafe) static let schedSetAffinity: SchedSetAffinity = lookup("sched_setaffinity")

    private static func lookup<F>(_ name: String) -> F {
        guard let symbol = dlsym(nil, name) else { fatalError("\(name) not found in the C library") }
        return unsafeBitCast(symbol, to: F.self)
    }
}

/// C's `struct mmsghdr`: one message and the byte count the kernel fills in. Its stride is 64 bytes,
/// as in C, so an array of these is what `sendmmsg` expects.
struct MMsgHdr {
    var header = msghdr()
    var length: UInt32 = 0
}

/// Pins threads to one CPU, so that the load generator and the measured server do not share a core
/// and the server's CPU time is not inflated by waiting behind the sender.
enum CPUAffinity {
    static var cpuCount: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// Pins the calling thread (and the threads and processes it starts afterwards) to `cpu`.
    @discardableResult
    static func pinCurrentThread(to cpu: Int) -> Bool {
        var mask = [UInt64](repeating: 0, count: 16)  // 1024 CPUs, as glibc's cpu_set_t
        mask[cpu / 64] |= 1 << UInt64(cpu % 64)
        return mask.withUnsafeBytes { GNU.schedSetAffinity(0, $0.count, $0.baseAddress) } == 0
    }
}
