import Foundation
import Testing
import KafkaMockCluster

#if canImport(Glibc)
import Glibc
#endif

@Suite struct ControlCommandParsingTests {
    @Test func parsesEveryCommand() throws {
        #expect(try MockClusterCommand.parse("ping") == .ping)
        #expect(try MockClusterCommand.parse("  BOOTSTRAP \r") == .bootstrap)
        #expect(try MockClusterCommand.parse("create-topic t 6 3") == .createTopic(name: "t", partitions: 6, replicationFactor: 3))
        #expect(try MockClusterCommand.parse("broker-down -1") == .brokerDown(broker: -1))
        #expect(try MockClusterCommand.parse("broker-up 2") == .brokerUp(broker: 2))
        #expect(try MockClusterCommand.parse("leader t 5 -1") == .leader(topic: "t", partition: 5, broker: -1))
        #expect(try MockClusterCommand.parse("rtt 1\t250") == .roundTripTime(broker: 1, milliseconds: 250))
        #expect(try MockClusterCommand.parse("request-errors Produce NOT_LEADER_FOR_PARTITION 3")
            == .requestErrors(apiKey: 0, errorCode: 6, count: 3))
        #expect(try MockClusterCommand.parse("request-errors 8 _transport 1")
            == .requestErrors(apiKey: 8, errorCode: -195, count: 1))
        #expect(try MockClusterCommand.parse("request-errors offsetcommit RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT 2")
            == .requestErrors(apiKey: 8, errorCode: 7, count: 2))
        #expect(try MockClusterCommand.parse("clear-request-errors Fetch") == .clearRequestErrors(apiKey: 1))
        #expect(try MockClusterCommand.parse("coordinator GROUP g 3") == .coordinator(keyType: "group", key: "g", broker: 3))
        #expect(try MockClusterCommand.parse("topic-error t UNKNOWN_TOPIC_OR_PART") == .topicError(topic: "t", errorCode: 3))
    }

    @Test(arguments: [
        ("", "empty command"),
        ("frobnicate", "unknown command \"frobnicate\""),
        ("ping extra", "ping takes 0 arguments"),
        ("create-topic t 6", "create-topic takes 3 arguments: create-topic NAME PARTITIONS RF"),
        ("create-topic t six 3", "PARTITIONS must be an integer"),
        ("broker-down x", "ID must be an integer"),
        ("request-errors Produce NO_SUCH_ERROR 1", "unknown error \"NO_SUCH_ERROR\""),
        ("request-errors Bogus 6 1", "unknown API_KEY \"Bogus\""),
        ("request-errors -2 6 1", "API_KEY must be 0 or more"),
        ("request-errors 0 6 0", "COUNT must be between 1 and 100000"),
        ("coordinator cluster k 1", "coordinator's first argument is group or transaction"),
    ])
    func rejectsMalformedLines(line: String, expected: String) {
        #expect {
            try MockClusterCommand.parse(line)
        } throws: { error in
            (error as? ControlProtocolError)?.message.contains(expected) == true
        }
    }

    @Test func errorNamesRoundTrip() {
        #expect(MockKafkaCluster.errorCode(named: "not_leader_for_partition") == 6)
        #expect(MockKafkaCluster.errorName(6) == "NOT_LEADER_FOR_PARTITION")
        #expect(MockKafkaCluster.errorCode(named: "_TRANSPORT") == MockClusterError.transportErrorCode)
        #expect(MockKafkaCluster.errorCode(named: "NOT_AN_ERROR_NAME") == nil)
    }
}

@Suite struct MockKafkaClusterTests {
    @Test func validatesBeforeCallingLibrdkafka() throws {
        let cluster = try MockKafkaCluster(brokerCount: 3)
        defer { cluster.shutdown() }
        #expect(cluster.bootstrapServers.split(separator: ",").count == 3)
        try cluster.createTopic("t", partitions: 2, replicationFactor: 3)
        #expect(throws: MockClusterError.self) { try cluster.createTopic("t", partitions: 2, replicationFactor: 3) }
        #expect(throws: MockClusterError.self) { try cluster.createTopic("u", partitions: 2, replicationFactor: 4) }
        #expect(throws: MockClusterError.self) { try cluster.setBrokerDown(0) }
        #expect(throws: MockClusterError.self) { try cluster.setBrokerDown(4) }
        try cluster.setBrokerDown(2)
        try cluster.setBrokerUp(2)
        try cluster.setBrokerDown(-1)
        try cluster.setBrokerUp(-1)
        try cluster.setPartitionLeader(topic: "t", partition: 1, broker: 3)
        try cluster.setRoundTripTime(broker: -1, milliseconds: 0)
        try cluster.pushRequestErrors(apiKey: 0, errors: [6, 6])
        try cluster.clearRequestErrors(apiKey: 0)
    }

    @Test func everyCallFailsClearlyAfterShutdown() throws {
        let cluster = try MockKafkaCluster(brokerCount: 1)
        cluster.shutdown()
        cluster.shutdown()
        #expect {
            try cluster.createTopic("t", partitions: 1, replicationFactor: 1)
        } throws: { error in
            (error as? MockClusterError)?.message == "the mock cluster was shut down"
        }
        #expect(cluster.execute(.ping) == "ok pong")
        #expect(cluster.execute(.brokerDown(broker: 1)).hasPrefix("error: could not set broker 1 down: the mock cluster was shut down"))
    }

    @Test func brokersAcceptConnectionsOnlyWhileUp() throws {
        let cluster = try MockKafkaCluster(brokerCount: 3)
        defer { cluster.shutdown() }
        let second = try #require(cluster.bootstrapServers.split(separator: ",").dropFirst().first)
        let port = try #require(UInt16(second.split(separator: ":")[1]))
        // A down broker refuses (or immediately drops) new connections.
        #expect(cluster.handleControlLine("broker-down 2") == "ok broker 2 down")
        let whileDown = try? LineClient(port: port)
        #expect(whileDown.map { $0.isClosedByPeer(within: 2) } ?? true)
        #expect(cluster.handleControlLine("broker-up 2") == "ok broker 2 up")
        let whileUp = try LineClient(port: port)
        #expect(!whileUp.isClosedByPeer(within: 0.5))
    }
}

@Suite struct ControlServerTests {
    @Test func answersOneLinePerCommandAndStopsWithClientsConnected() throws {
        let cluster = try MockKafkaCluster(brokerCount: 3)
        defer { cluster.shutdown() }
        let server = try MockClusterControlServer(port: 0) { line in cluster.handleControlLine(line) }
        server.start()
        #expect(server.port != 0)

        let first = try LineClient(port: server.port)
        let second = try LineClient(port: server.port)
        #expect(try first.send("ping") == "ok pong")
        #expect(try second.send("bootstrap") == "ok \(cluster.bootstrapServers)")
        #expect(try first.send("create-topic audit 6 3") == "ok created topic audit partitions=6 rf=3")
        #expect(try first.send("create-topic audit 6 3").hasPrefix("error: could not create topic audit: "))
        #expect(try second.send("leader audit 0 3") == "ok leader of audit [0] is 3")
        #expect(try second.send("nonsense").hasPrefix("error: unknown command \"nonsense\""))
        // Two commands in one write still get two replies, in order.
        #expect(try first.sendRaw("ping\n\nbroker-down 1\n", replies: 2) == ["ok pong", "ok broker 1 down"])

        let started = ContinuousClock.now
        server.stop()
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(first.isClosedByPeer(within: 2))
        #expect(second.isClosedByPeer(within: 2))
        #expect((try? LineClient(port: server.port)).map { $0.isClosedByPeer(within: 1) } ?? true)
    }

    @Test func reportsABusyPort() throws {
        let first = try MockClusterControlServer(port: 0) { _ in "ok" }
        #expect {
            try MockClusterControlServer(port: first.port) { _ in "ok" }
        } throws: { error in
            "\(error)".contains("could not listen on 127.0.0.1:\(first.port)")
        }
    }
}

/// A reply that did not come: what was sent, the lines received, and what `read` returned.
struct LineClientError: Error, CustomStringConvertible {
    var sent: String
    var received: [String]
    var read: Int
    var errno: Int32

    var description: String {
        let cause = read == 0 ? "the server closed the connection" : "read failed: \(String(cString: strerror(errno))) (errno \(errno))"
        return "no reply to \(sent.debugDescription) after \(received.count) lines \(received): \(cause)"
    }
}

/// A blocking TCP client for the tests (runs on the test's own thread; tests here are synchronous).
final class LineClient {
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        // No close here: once `fd` is set, a throw still runs deinit, which closes it. Closing it
        // twice could close another test's socket that reused the number meanwhile (tests run in
        // parallel): that is how ControlServerTests once saw its server drop a fresh connection.
        guard result == 0 else { throw POSIXError(.ECONNREFUSED) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ line: String) throws -> String {
        try sendRaw(line + "\n", replies: 1)[0]
    }

    func sendRaw(_ text: String, replies: Int) throws -> [String] {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received: [UInt8] = []
        var lines: [String] = []
        var byte: UInt8 = 0
        while lines.count < replies {
            let count = read(fd, &byte, 1)
            if count < 0, errno == EINTR { continue }  // a signal, not an answer: read again
            guard count == 1 else {
                throw LineClientError(sent: text, received: lines, read: count, errno: count < 0 ? errno : 0)
            }
            if byte == UInt8(ascii: "\n") {
                lines.append(String(decoding: received, as: UTF8.self))
                received = []
            } else {
                received.append(byte)
            }
        }
        return lines
    }

    /// True when the peer closes the connection (read returns 0 or an error) within `seconds`.
    func isClosedByPeer(within seconds: Double) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(seconds * 1000)) == 1 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) <= 0
    }
}
