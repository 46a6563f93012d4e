// auditpipe-dev-kafka: the development and test Kafka cluster (librdkafka's mock cluster),
// started by Deploy/dev/up. Not part of the product: production runs on Apache Kafka.

import ArgumentParser
import KafkaMockCluster

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Hosts a multi-broker mock Kafka cluster with AuditPipe's topics and a fault-injection control
/// port, until SIGTERM or SIGINT.
struct DevKafka: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auditpipe-dev-kafka",
        abstract: "Run a 3-broker Kafka-protocol cluster (librdkafka's mock cluster) for development and tests.",
        discussion: """
            Creates AuditPipe's topics, prints `bootstrap=HOST:PORT,...` and `control=127.0.0.1:PORT` \
            on stdout once ready, and runs until SIGTERM or SIGINT. Data lives in memory only.

            The control port speaks a line protocol, one reply line per command (`ok ...` or \
            `error: REASON`): \(MockClusterCommand.usage.joined(separator: "; ")).
            """
    )

    @Option(help: "Number of brokers (ids 1...N).")
    var brokers: Int = 3

    @Option(help: "Port of the fault-injection control protocol on 127.0.0.1 (0: any free port).")
    var controlPort: UInt16 = 19092

    @Option(help: "Replication factor of the topics created at start.")
    var replicationFactor: Int = 3

    @Option(help: "The audit events topic.")
    var eventsTopic: String = "auditpipe.events"
    @Option(help: "Partitions of the audit events topic.")
    var eventsPartitions: Int = 6

    @Option(help: "The dead-letter topic.")
    var dlqTopic: String = "auditpipe.events.dlq"
    @Option(help: "Partitions of the dead-letter topic.")
    var dlqPartitions: Int = 6

    @Option(help: "The quarantine topic.")
    var quarantineTopic: String = "auditpipe.quarantine"
    @Option(help: "Partitions of the quarantine topic.")
    var quarantinePartitions: Int = 6

    @Option(help: "The consumer checkpoints topic.")
    var checkpointsTopic: String = "auditpipe.checkpoints"
    @Option(help: "Partitions of the consumer checkpoints topic.")
    var checkpointsPartitions: Int = 1

    @Option(help: "The schema registry's storage topic.")
    var schemasTopic: String = "_auditpipe_schemas"
    @Option(help: "Partitions of the schema registry's storage topic.")
    var schemasPartitions: Int = 1

    @Option(name: .customLong("topic"), help: "An extra topic NAME:PARTITIONS[:RF] (repeatable).")
    var extraTopics: [String] = []

    /// Every topic to create at start: (name, partitions, replication factor).
    func topics() throws -> [(name: String, partitions: Int, replicationFactor: Int)] {
        var topics = [
            (self.eventsTopic, self.eventsPartitions, self.replicationFactor),
            (self.dlqTopic, self.dlqPartitions, self.replicationFactor),
            (self.quarantineTopic, self.quarantinePartitions, self.replicationFactor),
            (self.checkpointsTopic, self.checkpointsPartitions, self.replicationFactor),
            (self.schemasTopic, self.schemasPartitions, self.replicationFactor),
        ]
        for spec in self.extraTopics {
            let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
            guard (2 ... 3).contains(parts.count), !parts[0].isEmpty, let partitions = Int(parts[1]),
                let replicationFactor = parts.count == 3 ? Int(parts[2]) : self.replicationFactor
            else {
                throw ValidationError("--topic takes NAME:PARTITIONS[:RF], got \"\(spec)\"")
            }
            topics.append((String(parts[0]), partitions, replicationFactor))
        }
        var seen: Set<String> = []
        for topic in topics where !seen.insert(topic.0).inserted {
            throw ValidationError("topic \(topic.0) is named twice")
        }
        return topics.map { (name: $0.0, partitions: $0.1, replicationFactor: $0.2) }
    }

    func validate() throws {
        guard (1 ... 64).contains(self.brokers) else {
            throw ValidationError("--brokers must be between 1 and 64")
        }
        for topic in try self.topics() {
            guard topic.partitions >= 1 else {
                throw ValidationError("topic \(topic.name) needs at least one partition")
            }
            guard (1 ... self.brokers).contains(topic.replicationFactor) else {
                throw ValidationError(
                    "topic \(topic.name): replication factor \(topic.replicationFactor) is not within 1...\(self.brokers) brokers"
                )
            }
        }
    }

    func run() throws {
        // Block SIGINT/SIGTERM in every thread (librdkafka's and ours inherit this mask) so that
        // the main thread alone receives them, through sigwait below.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
        signal(SIGPIPE, SIG_IGN)

        let cluster = try MockKafkaCluster(brokerCount: self.brokers)
        let server: MockClusterControlServer
        do {
            for topic in try self.topics() {
                try cluster.createTopic(topic.name, partitions: topic.partitions, replicationFactor: topic.replicationFactor)
                log("created topic \(topic.name) partitions=\(topic.partitions) rf=\(topic.replicationFactor)")
            }
            server = try MockClusterControlServer(port: self.controlPort) { [cluster] line in
                cluster.handleControlLine(line)
            }
        } catch {
            cluster.shutdown()
            throw error
        }
        server.start()

        writeStandardOutput("bootstrap=\(cluster.bootstrapServers)\ncontrol=\(server.host):\(server.port)\n")
        log("ready: \(self.brokers) brokers at \(cluster.bootstrapServers), control on \(server.host):\(server.port)")

        var received: Int32 = 0
        while sigwait(&stopSignals, &received) != 0 {}
        log("received signal \(received), shutting down")
        server.stop()
        cluster.shutdown()
        log("stopped")
    }
}

/// Writes straight to file descriptor 1, so that a reader of a pipe or log sees it at once.
func writeStandardOutput(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0, errno == EINTR { continue }
        guard written > 0 else { return }
        offset += written
    }
}

/// A diagnostic line on stderr.
func log(_ message: String) {
    var bytes = Array("auditpipe-dev-kafka: \(message)\n".utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

DevKafka.main()
