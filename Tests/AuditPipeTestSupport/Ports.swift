import Glibc

/// A TCP port on 127.0.0.1 with nothing listening now (bound by the OS's choice, then closed):
/// for a server a test starts later, or an address that must refuse connections.
public func unusedLocalPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw UnusedPortError() }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw UnusedPortError() }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// No local port could be bound.
public struct UnusedPortError: Error, CustomStringConvertible {
    public var description: String { "could not bind a TCP port on 127.0.0.1" }
}
