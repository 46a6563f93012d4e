import AuditPipeTestSupport
import Foundation
@testable import KafkaClient
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The dev Kafka cluster (`AUDITPIPE_KAFKA_BROKERS`) and its control port
/// (`AUDITPIPE_KAFKA_CONTROL`: one line `create-topic NAME PARTITIONS RF` in, one line
/// `ok...` or `error: ...` out).
enum KafkaTestCluster {
    static var bootstrapServers: [String] {
        get throws { try TestService.kafka.value.split(separator: ",").map(String.init) }
    }

    /// Creates a topic with a unique name and returns the name.
    static func createTopic(_ prefix: String, partitions: Int = 3, replicationFactor: Int = 3) throws -> String {
        try DevKafkaControl.createTopic(prefix, partitions: partitions, replicationFactor: replicationFactor)
    }

    /// Sends one command line to the control port and returns the reply line.
    static func control(_ command: String) throws -> String {
        try DevKafkaControl.control(command)
    }

    static func producerConfiguration() throws -> KafkaProducerConfiguration {
        try KafkaProducerConfiguration(bootstrapServers: bootstrapServers)
    }

    static func consumerConfiguration(group: String, strategy: KafkaConsumerConfiguration.AssignmentStrategy = .range) throws -> KafkaConsumerConfiguration {
        var configuration = try KafkaConsumerConfiguration(bootstrapServers: bootstrapServers, groupID: group)
        configuration.partitionAssignmentStrategy = strategy
        configuration.sessionTimeoutMilliseconds = 10_000
        configuration.heartbeatIntervalMilliseconds = 500
        return configuration
    }

    static let logger: Logger = {
        var logger = Logger(label: "KafkaClientTests")
        logger.logLevel = ProcessInfo.processInfo.environment["KAFKA_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
        return logger
    }()
}

/// A wait in a test that did not see its condition in time.
struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Reads a consumer's events in the background and lets tests wait for conditions on them.
final class EventRecorder: Sendable {
    private let recorded = Mutex<[KafkaConsumerEvent]>([])
    private let outcome = Mutex<Result<Void, KafkaError>?>(nil)
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(_ consumer: KafkaConsumer) {
        let newTask = Task { [self] in
            do throws(KafkaError) {
                for try await event in consumer.events {
                    self.recorded.withLock { $0.append(event) }
                }
                self.outcome.withLock { $0 = .success(()) }
            } catch {
                self.outcome.withLock { $0 = .failure(error) }
            }
        }
        task.withLock { $0 = newTask }
    }

    var events: [KafkaConsumerEvent] { recorded.withLock { $0 } }

    var messages: [KafkaMessage] {
        events.compactMap { if case .message(let message) = $0 { message } else { nil } }
    }

    /// The assignment obtained by folding `.assigned` / `.revoked` events.
    var assignment: Set<KafkaTopicPartition> {
        var set: Set<KafkaTopicPartition> = []
        for event in events {
            switch event {
            case .assigned(let partitions): set.formUnion(partitions)
            case .revoked(let partitions): set.subtract(partitions)
            case .message: break
            }
        }
        return set
    }

    /// How the iteration ended: nil while it is still running.
    var finished: Result<Void, KafkaError>? { outcome.withLock { $0 } }

    /// Waits (polling) until `condition` holds; fails the test with `what` after `timeout`.
    func wait(
        for what: String,
        timeout: Duration = .seconds(30),
        _ condition: (EventRecorder) -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition(self) {
            if ContinuousClock.now > deadline {
                throw TimedOut(what: "\(what); events so far: \(events)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits for the iteration to end (after close).
    func waitForEnd() async {
        await task.withLock { $0 }?.value
    }
}

/// Java's `Utils.murmur2` (the Kafka default partitioner's hash), written from the algorithm's
/// description, to check that keyed records land where a Java producer would put them.
func javaMurmur2(_ data: [UInt8]) -> Int32 {
    let length = data.count
    let seed: UInt32 = 0x9747_b28c
    let m: UInt32 = 0x5bd1_e995
    let r: UInt32 = 24
    var h: UInt32 = seed ^ UInt32(truncatingIfNeeded: length)
    let length4 = length / 4
    for i in 0..<length4 {
        let i4 = i * 4
        var k = UInt32(data[i4]) | (UInt32(data[i4 + 1]) << 8) | (UInt32(data[i4 + 2]) << 16) | (UInt32(data[i4 + 3]) << 24)
        k = k &* m
        k ^= k >> r
        k = k &* m
        h = h &* m
        h ^= k
    }
    let rest = length % 4
    let base = length & ~3
    if rest == 3 { h ^= UInt32(data[base + 2]) << 16 }
    if rest >= 2 { h ^= UInt32(data[base + 1]) << 8 }
    if rest >= 1 {
        h ^= UInt32(data[base])
        h = h &* m
    }
    h ^= h >> 13
    h = h &* m
    h ^= h >> 15
    return Int32(bitPattern: h)
}

/// The partition Java's default partitioner picks for a key.
func javaPartition(key: [UInt8], partitions: Int32) -> Int32 {
    (javaMurmur2(key) & 0x7fff_ffff) % partitions
}

/// A value behind a lock that concurrent test tasks can share.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
