/// One command of the mock cluster's fault-injection line protocol (see
/// ``MockClusterControlServer``). Parsing is pure; ``MockKafkaCluster/execute(_:)`` carries it out.
///
/// | line | effect |
/// | --- | --- |
/// | `ping` | `ok pong` |
/// | `bootstrap` | `ok HOST:PORT,...` (the bootstrap servers) |
/// | `create-topic NAME PARTITIONS RF` | creates a topic |
/// | `broker-down ID` / `broker-up ID` | disconnects / reconnects a broker (-1: all) |
/// | `leader TOPIC PARTITION BROKER_ID` | moves a partition's leader (-1: none) |
/// | `rtt BROKER_ID MS` | delays a broker's responses (-1: all brokers) |
/// | `request-errors API_KEY ERROR COUNT` | the next COUNT requests of that API fail with ERROR |
/// | `clear-request-errors API_KEY` | drops queued request errors |
/// | `coordinator group\|transaction KEY BROKER_ID` | sets a group's / transaction's coordinator |
/// | `topic-error TOPIC ERROR` | Metadata reports ERROR for the topic (0 / NO_ERROR clears) |
/// | `help` | lists the commands |
///
/// API_KEY is a number (0 = Produce) or a name such as `Produce`, `Fetch`, `OffsetCommit`.
/// ERROR is a number or librdkafka's name (`NOT_LEADER_FOR_PARTITION`, `_TRANSPORT`, ...).
package enum MockClusterCommand: Equatable, Sendable {
    /// `ping`: health check.
    case ping
    /// `bootstrap`: the bootstrap servers.
    case bootstrap
    /// `help`: the command list.
    case help
    /// `create-topic NAME PARTITIONS RF`.
    case createTopic(name: String, partitions: Int, replicationFactor: Int)
    /// `broker-down ID`.
    case brokerDown(broker: Int32)
    /// `broker-up ID`.
    case brokerUp(broker: Int32)
    /// `leader TOPIC PARTITION BROKER_ID`.
    case leader(topic: String, partition: Int32, broker: Int32)
    /// `rtt BROKER_ID MS`.
    case roundTripTime(broker: Int32, milliseconds: Int32)
    /// `request-errors API_KEY ERROR COUNT`.
    case requestErrors(apiKey: Int16, errorCode: Int32, count: Int)
    /// `clear-request-errors API_KEY`.
    case clearRequestErrors(apiKey: Int16)
    /// `coordinator group|transaction KEY BROKER_ID`.
    case coordinator(keyType: String, key: String, broker: Int32)
    /// `topic-error TOPIC ERROR`.
    case topicError(topic: String, errorCode: Int32)

    /// The usage text that `help` prints, one command per entry.
    package static let usage: [String] = [
        "ping",
        "bootstrap",
        "create-topic NAME PARTITIONS RF",
        "broker-down ID|-1",
        "broker-up ID|-1",
        "leader TOPIC PARTITION BROKER_ID|-1",
        "rtt BROKER_ID|-1 MS",
        "request-errors API_KEY ERROR COUNT",
        "clear-request-errors API_KEY",
        "coordinator group|transaction KEY BROKER_ID",
        "topic-error TOPIC ERROR",
        "help",
    ]

    /// Kafka protocol API keys by name, for `request-errors` / `clear-request-errors`.
    package static let apiKeys: [String: Int16] = [
        "produce": 0, "fetch": 1, "listoffsets": 2, "metadata": 3, "offsetcommit": 8,
        "offsetfetch": 9, "findcoordinator": 10, "joingroup": 11, "heartbeat": 12,
        "leavegroup": 13, "syncgroup": 14, "describegroups": 15, "listgroups": 16,
        "saslhandshake": 17, "apiversions": 18, "createtopics": 19, "deletetopics": 20,
        "deleterecords": 21, "initproducerid": 22, "offsetforleaderepoch": 23,
        "addpartitionstotxn": 24, "addoffsetstotxn": 25, "endtxn": 26, "txnoffsetcommit": 28,
    ]

    /// Parses one line (without its line break). Words are separated by spaces or tabs.
    ///
    /// - Parameter errorCodeNamed: resolves an error name to its code; the default asks librdkafka.
    package static func parse(
        _ line: some StringProtocol,
        errorCodeNamed: (String) -> Int32? = MockKafkaCluster.errorCode(named:)
    ) throws(ControlProtocolError) -> MockClusterCommand {
        let words = String(line).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
        guard let verb = words.first?.lowercased() else {
            throw ControlProtocolError("empty command; try help")
        }
        let arguments = Array(words.dropFirst())

        func expect(_ count: Int, _ form: String) throws(ControlProtocolError) {
            guard arguments.count == count else {
                throw ControlProtocolError("\(verb) takes \(count) argument\(count == 1 ? "" : "s"): \(form)")
            }
        }
        func int<T: FixedWidthInteger>(_ text: String, _ what: String, _: T.Type = T.self) throws(ControlProtocolError) -> T {
            guard let value = T(text) else {
                throw ControlProtocolError("\(what) must be an integer in \(T.min)...\(T.max), got \"\(text)\"")
            }
            return value
        }
        func apiKey(_ text: String) throws(ControlProtocolError) -> Int16 {
            if let number = Int16(text) {
                guard number >= 0 else { throw ControlProtocolError("API_KEY must be 0 or more, got \(number)") }
                return number
            }
            guard let key = apiKeys[text.lowercased()] else {
                throw ControlProtocolError(
                    "unknown API_KEY \"\(text)\": use a number or one of \(apiKeys.keys.sorted().joined(separator: ", "))"
                )
            }
            return key
        }
        func errorCode(_ text: String) throws(ControlProtocolError) -> Int32 {
            if let number = Int32(text) { return number }
            guard let code = errorCodeNamed(text) else {
                throw ControlProtocolError(
                    "unknown error \"\(text)\": use a number or librdkafka's name, e.g. NOT_LEADER_FOR_PARTITION or _TRANSPORT"
                )
            }
            return code
        }

        switch verb {
        case "ping":
            try expect(0, "ping")
            return .ping
        case "bootstrap":
            try expect(0, "bootstrap")
            return .bootstrap
        case "help":
            return .help
        case "create-topic":
            try expect(3, "create-topic NAME PARTITIONS RF")
            return .createTopic(
                name: arguments[0],
                partitions: try int(arguments[1], "PARTITIONS"),
                replicationFactor: try int(arguments[2], "RF")
            )
        case "broker-down":
            try expect(1, "broker-down ID")
            return .brokerDown(broker: try int(arguments[0], "ID"))
        case "broker-up":
            try expect(1, "broker-up ID")
            return .brokerUp(broker: try int(arguments[0], "ID"))
        case "leader":
            try expect(3, "leader TOPIC PARTITION BROKER_ID")
            return .leader(
                topic: arguments[0],
                partition: try int(arguments[1], "PARTITION"),
                broker: try int(arguments[2], "BROKER_ID")
            )
        case "rtt":
            try expect(2, "rtt BROKER_ID MS")
            return .roundTripTime(broker: try int(arguments[0], "BROKER_ID"), milliseconds: try int(arguments[1], "MS"))
        case "request-errors":
            try expect(3, "request-errors API_KEY ERROR COUNT")
            let count: Int = try int(arguments[2], "COUNT")
            guard (1 ... 100_000).contains(count) else {
                throw ControlProtocolError("COUNT must be between 1 and 100000, got \(count)")
            }
            return .requestErrors(apiKey: try apiKey(arguments[0]), errorCode: try errorCode(arguments[1]), count: count)
        case "clear-request-errors":
            try expect(1, "clear-request-errors API_KEY")
            return .clearRequestErrors(apiKey: try apiKey(arguments[0]))
        case "coordinator":
            try expect(3, "coordinator group|transaction KEY BROKER_ID")
            let keyType = arguments[0].lowercased()
            guard keyType == "group" || keyType == "transaction" else {
                throw ControlProtocolError("coordinator's first argument is group or transaction, got \"\(arguments[0])\"")
            }
            return .coordinator(keyType: keyType, key: arguments[1], broker: try int(arguments[2], "BROKER_ID"))
        case "topic-error":
            try expect(2, "topic-error TOPIC ERROR")
            return .topicError(topic: arguments[0], errorCode: try errorCode(arguments[1]))
        default:
            throw ControlProtocolError("unknown command \"\(verb)\"; commands: \(usage.joined(separator: "; "))")
        }
    }
}

/// A control line that could not be parsed; its message goes back to the client as
/// `error: MESSAGE`.
package struct ControlProtocolError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What was wrong with the line and the expected form.
    package var message: String

    /// Creates an error with `message`.
    package init(_ message: String) {
        self.message = message
    }

    /// The message.
    package var description: String { self.message }
}

extension MockKafkaCluster {
    /// Carries out `command` and returns the reply line: `ok ...` or `error: REASON`.
    /// Blocks briefly (see ``MockKafkaCluster``): call it from a dedicated thread.
    package func execute(_ command: MockClusterCommand) -> String {
        do throws(MockClusterError) {
            switch command {
            case .ping:
                return "ok pong"
            case .bootstrap:
                return "ok \(self.bootstrapServers)"
            case .help:
                return "ok commands: \(MockClusterCommand.usage.joined(separator: "; "))"
            case .createTopic(let name, let partitions, let replicationFactor):
                try self.createTopic(name, partitions: partitions, replicationFactor: replicationFactor)
                return "ok created topic \(name) partitions=\(partitions) rf=\(replicationFactor)"
            case .brokerDown(let broker):
                try self.setBrokerDown(broker)
                return "ok broker \(broker) down"
            case .brokerUp(let broker):
                try self.setBrokerUp(broker)
                return "ok broker \(broker) up"
            case .leader(let topic, let partition, let broker):
                try self.setPartitionLeader(topic: topic, partition: partition, broker: broker)
                return "ok leader of \(topic) [\(partition)] is \(broker)"
            case .roundTripTime(let broker, let milliseconds):
                try self.setRoundTripTime(broker: broker, milliseconds: milliseconds)
                return "ok rtt of broker \(broker) is \(milliseconds) ms"
            case .requestErrors(let apiKey, let errorCode, let count):
                try self.pushRequestErrors(apiKey: apiKey, errors: Array(repeating: errorCode, count: count))
                return "ok next \(count) requests with API key \(apiKey) fail with \(errorCode) \(Self.errorName(errorCode))"
            case .clearRequestErrors(let apiKey):
                try self.clearRequestErrors(apiKey: apiKey)
                return "ok cleared request errors for API key \(apiKey)"
            case .coordinator(let keyType, let key, let broker):
                try self.setCoordinator(keyType: keyType, key: key, broker: broker)
                return "ok \(keyType) coordinator of \(key) is \(broker)"
            case .topicError(let topic, let errorCode):
                try self.setTopicError(topic: topic, errorCode: errorCode)
                return "ok topic \(topic) reports \(errorCode) \(Self.errorName(errorCode))"
            }
        } catch {
            return "error: \(error.description)"
        }
    }

    /// Parses and carries out one control line; returns the reply line.
    package func handleControlLine(_ line: some StringProtocol) -> String {
        do throws(ControlProtocolError) {
            return self.execute(try MockClusterCommand.parse(line))
        } catch {
            return "error: \(error.message)"
        }
    }
}
