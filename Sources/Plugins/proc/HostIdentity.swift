#if canImport(Glibc)
    import Glibc
#endif

/// This host's primary IPv4 address, found locally: the address of the interface that carries the
/// default route (`/proc/net/route`), else the first non-loopback IPv4 address, else 127.0.0.1.
/// No outside service is asked.
public enum HostIdentity {
    public static func primaryAddress(procRoot: String = "/proc") -> String {
        let addresses = interfaceAddresses()
        if let iface = defaultRouteInterface(procRoot: procRoot),
            let address = addresses.first(where: { $0.interface == iface })
        {
            return address.address
        }
        return addresses.first(where: { !$0.address.hasPrefix("127.") })?.address ?? "127.0.0.1"
    }

    /// The interface of the first default route (destination 0.0.0.0, mask 0) in the routing table.
    static func defaultRouteInterface(procRoot: String) -> String? {
        guard let file = fopen(procRoot + "/net/route", "r") else { return nil }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        var first = true
        while getline(&line, &capacity, file) > 0 {
            guard let line else { break }
            if first {
                first = false
                continue
            }
            let columns = String(cString: line).split(whereSeparator: { $0 == "\t" || $0 == " " || $0 == "\n" })
            guard columns.count >= 8 else { continue }
            if columns[1] == "00000000", columns[7] == "00000000" { return String(columns[0]) }
        }
        return nil
    }

    static func interfaceAddresses() -> [(interface: String, address: String)] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var out: [(String, String)] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let addr = entry.pointee.ifa_addr, addr.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            let ok = addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin -> Bool in
                var inAddr = sin.pointee.sin_addr
                return inet_ntop(AF_INET, &inAddr, &text, socklen_t(text.count)) != nil
            }
            guard ok else { continue }
            out.append((String(cString: entry.pointee.ifa_name), String(cString: text)))
        }
        return out
    }
}
