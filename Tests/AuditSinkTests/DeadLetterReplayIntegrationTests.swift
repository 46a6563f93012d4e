import AuditEvents
import AuditPipeTestSupport
@testable import AuditSink
@testable import AuditConsumer
import AvroCodec
import KafkaClient
import Testing

/// `auditpipe dlq list|replay` underneath: a record dead-lettered for a cause since fixed is
/// found by its stage, produced back to its source topic, and stored once.
@Suite("Dead-letter replay on the real stack", .enabled(if: TestService.available(.kafka, .kafkaControl, .clickhouse)))
struct DeadLetterReplayIntegrationTests {
    /// The seed schema under ids 1 and 99: the "registry" after someone registered the missing id.
    struct SeedSchemaAlsoAs99: WriterSchemaLookup {
        func schema(id: Int32) async throws -> AvroSchema {
            guard id == 1 || id == 99 else { throw WriterSchemaNotFound(id: id) }
            return AuditEventSchema.seed
        }
    }

    @Test func replaysAFixedDeadLetterIntoClickHouseOnce() async throws {
        try await SinkFixture.with(partitions: 2) { fixture in
            let events = (0..<20).map { SinkFixture.event($0) }
            try await fixture.produce(events)
            let orphan = SinkFixture.event(500)
            try await fixture.produceRaw(key: orphan.tenantID, value: try SinkFixture.framed(orphan, schemaID: 99))
            try await fixture.produceRaw(key: "tenant-1", value: [9, 9, 9])  // undecodable: stays dead

            // 1. The sink stores the 20 and dead-letters the two.
            let group = TestEnvironment.uniqueName("sink")
            try await running([try fixture.sink(group: group)]) { _ in
                _ = try await fixture.waitForRows(20)
                _ = try await fixture.deadLetters(count: 2)
            }

            // 2. Listing picks by stage; nothing is consumed or committed by reading.
            var schemaStage = DeadLetterFilter()
            schemaStage.stages = ["schema"]
            var listed: [DeadLetterEntry] = []
            let totals = try await DeadLetterReplay.read(topic: fixture.deadLetterTopic, bootstrapServers: fixture.bootstrap, logger: testLogger) { entry, _ in
                if schemaStage.matches(entry) { listed.append(entry) }
            }
            #expect(totals.read == 2 && totals.foreign == 0)
            #expect(listed.count == 1)
            #expect(listed.first?.sourceTopic == fixture.topic)
            #expect(listed.first?.reason.contains("99") == true)

            // 3. Replay it (twice: a repeated replay must not store it twice), then a sink that
            //    knows schema 99 stores it.
            for _ in 1...2 {
                try await DeadLetterReplay.read(topic: fixture.deadLetterTopic, bootstrapServers: fixture.bootstrap, logger: testLogger) { entry, message in
                    guard schemaStage.matches(entry) else { return }
                    let report = try await DeadLetterReplay.replay(message, entry: entry, to: fixture.producer)
                    #expect(report.topic == fixture.topic)
                }
            }
            let fixed = try ClickHouseSink(
                configuration: fixture.configuration, consumer: fixture.consumer(group: group),
                producer: fixture.producer, store: fixture.store, schemas: SeedSchemaAlsoAs99(), logger: testLogger
            )
            try await running([fixed]) { _ in
                let tally = try await fixture.waitForRows(21)
                #expect(tally.rows == 21 && tally.distinct == 21)
            }
            #expect(try await fixture.tally() == (21, 21))
        }
    }

    @Test func filterCriteriaAllHold() {
        let entry = DeadLetterEntry(
            partition: 0, offset: 7, sourceTopic: "auditpipe.events", sourcePartition: 3, sourceOffset: 42,
            stage: "insert-rejected", reason: "Code: 53. Type mismatch", attempts: 1, timeMilliseconds: 1_800_000_000_000,
            redrivenAutomatically: false
        )
        var filter = DeadLetterFilter()
        #expect(filter.matches(entry))
        filter.stages = ["insert-rejected", "decode"]
        filter.reasonContains = "type MISMATCH"
        filter.sourcePartition = 3
        filter.since = 1_800_000_000_000
        #expect(filter.matches(entry))
        var other = filter
        other.sourcePartition = 2
        #expect(!other.matches(entry))
        other = filter
        other.since = 1_800_000_000_001
        #expect(!other.matches(entry))
        other = filter
        other.stages = ["schema"]
        #expect(!other.matches(entry))
        other = filter
        other.reasonContains = "timeout"
        #expect(!other.matches(entry))
    }
}
