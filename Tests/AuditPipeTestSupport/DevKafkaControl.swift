import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The dev Kafka cluster's control port (`AUDITPIPE_KAFKA_CONTROL`, served by
/// `auditpipe-dev-kafka`): one command line in (`create-topic NAME PARTITIONS RF`,
/// `broker-down ID`, `leader TOPIC PARTITION BROKER`, ...), one reply line (`ok...` or
/// `error: ...`) out.
public enum DevKafkaControl {
    /// The bootstrap servers of the dev cluster.
    public static var bootstrapServers: [String] {
        get throws { try TestService.kafka.value.split(separator: ",").map(String.init) }
    }

    /// Creates a topic with a unique name and returns the name.
    public static func createTopic(_ prefix: String, partitions: Int = 3, replicationFactor: Int = 3) throws -> String {
        let name = TestEnvironment.uniqueName(prefix)
        let reply = try control("create-topic \(name) \(partitions) \(replicationFactor)")
        guard reply.hasPrefix("ok") else {
            throw ControlError(message: "create-topic \(name) failed: \(reply)")
        }
        return name
    }

    public struct ControlError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Sends one command line to the control port and returns the reply line.
    public static func control(_ command: String) throws -> String {
        let address = try TestService.kafkaControl.value
        guard let colon = address.lastIndex(of: ":") else {
            throw ControlError(message: "AUDITPIPE_KAFKA_CONTROL must be host:port (got \(address))")
        }
        let host = String(address[..<colon])
        let port = String(address[address.index(after: colon)...])
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, port, &hints, &info) == 0, let first = info else {
            throw ControlError(message: "cannot resolve control address \(address)")
        }
        defer { freeaddrinfo(info) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { throw ControlError(message: "socket() failed: errno \(errno)") }
        defer { close(fd) }
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw ControlError(message: "cannot connect to the Kafka control port \(address): errno \(errno)")
        }
        let line = Array((command + "\n").utf8)
        var sent = 0
        while sent < line.count {
            let n = line[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw ControlError(message: "write to control port failed: errno \(errno)") }
            sent += n
        }
        var reply: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1 {
            if byte == UInt8(ascii: "\n") { break }
            reply.append(byte)
        }
        return String(decoding: reply, as: UTF8.self)
    }

}
