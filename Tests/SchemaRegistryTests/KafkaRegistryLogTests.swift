import AuditPipeTestSupport
import AvroCodec
import Foundation
import SchemaRegistry
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The registry on the dev Kafka cluster (librdkafka's mock cluster, see Deploy/dev/up).
@Suite("Registry on Kafka (dev cluster)", .serialized)
struct KafkaRegistryLogTests {
    private func openLog(topic: String) async throws -> KafkaRegistryLog {
        var configuration = KafkaRegistryLog.Configuration(bootstrapServers: try TestService.kafka.value.split(separator: ",").map(String.init))
        configuration.topic = topic
        return try await KafkaRegistryLog.open(configuration: configuration, logger: testLogger)
    }

    @Test(
        "state survives an instance restart and two instances agree",
        .enabled(if: TestService.available(.kafka, .kafkaControl)),
        .timeLimit(.minutes(3))
    )
    func restartAndAgreement() async throws {
        let topic = try createTopic("_auditpipe_schemas_test", partitions: 1)

        // Instance A writes, then stops.
        let logA = try await openLog(topic: topic)
        let a = try await RunningRegistry(log: logA)
        #expect(try await a.service.register(subject: "orders-value", schema: TestSchemas.v1) == (1, 1))
        #expect(try await a.service.register(subject: "orders-value", schema: TestSchemas.v2WithDefault) == (2, 2))
        try await a.service.setLevel(.fullTransitive, subject: "orders-value")
        #expect(try await a.service.deleteVersion(subject: "orders-value", version: .number(1), permanent: false) == 1)
        let stateA = a.service.state
        await a.stop()
        await logA.close()

        // Instance B starts from the topic alone and holds the same state.
        let logB = try await openLog(topic: topic)
        let b = try await RunningRegistry(log: logB)
        #expect(b.service.state == stateA)
        #expect(b.service.state.effectiveLevel(subject: "orders-value") == .fullTransitive)

        // Instance C joins; B and C register concurrently (also the same schemas through both).
        let logC = try await openLog(topic: topic)
        let c = try await RunningRegistry(log: logC)
        #expect(c.service.state == stateA)
        // Unrelated schemas: no compatibility rule on these subjects (set through B, seen by C).
        try await b.service.setLevel(.none, subject: "s-0")
        try await b.service.setLevel(.none, subject: "s-1")
        let caughtUp = ContinuousClock.now + .seconds(30)
        while c.service.position < b.service.position, ContinuousClock.now < caughtUp { try await Task.sleep(for: .milliseconds(20)) }
        #expect(c.service.state.effectiveLevel(subject: "s-1") == AvroCompatibilityLevel.none)
        let results = try await withThrowingTaskGroup(of: (Int, Int32).self) { group in
            for n in 0..<8 {
                for instance in [b, c] {
                    group.addTask {
                        let (id, _) = try await instance.service.register(subject: "s-\(n % 2)", schema: TestSchemas.numbered(n))
                        return (n, id)
                    }
                }
            }
            var all: [(Int, Int32)] = []
            for try await result in group { all.append(result) }
            return all
        }
        var ids: [Int: Int32] = [:]
        for (n, id) in results {
            if let known = ids[n] { #expect(known == id, "schema \(n): \(known) vs \(id)") }
            ids[n] = id
        }
        #expect(Set(ids.values) == Set(3...10), "8 new schemas after ids 1 and 2: \(ids)")
        // Wait until both applied the same log end, then compare.
        let deadline = ContinuousClock.now + .seconds(30)
        while b.service.position != c.service.position || b.service.state != c.service.state {
            guard ContinuousClock.now < deadline else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(b.service.state == c.service.state)
        #expect(try b.service.read { state throws(SchemaRegistryError) in try state.versionNumbers(subject: "s-0") } == [1, 2, 3, 4])
        await b.stop()
        await c.stop()
        await logB.close()
        await logC.close()
    }

    @Test("a topic with more than one partition is refused", .enabled(if: TestService.available(.kafka, .kafkaControl)), .timeLimit(.minutes(1)))
    func needsOnePartition() async throws {
        let topic = try createTopic("_auditpipe_schemas_bad", partitions: 3)
        do {
            let log = try await openLog(topic: topic)
            await log.close()
            Issue.record("expected a refusal")
        } catch let error as SchemaRegistryError {
            #expect(error.message.contains("has 3 partitions; it needs exactly 1"), "\(error.message)")
        }
    }
}

/// Creates a topic through the dev cluster's control port.
func createTopic(_ prefix: String, partitions: Int, replicationFactor: Int = 3) throws -> String {
    try DevKafkaControl.createTopic(prefix, partitions: partitions, replicationFactor: replicationFactor)
}
