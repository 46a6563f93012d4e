import AuditQuery
import AuditEvents
import AuditIntegrity
import AuditPipeTestSupport
import AuditSink
import AuditStore
import ClickHouseHTTP
import Foundation
import KafkaClient
import NIOCore
import Synchronization
import Testing

/// Tampering with stored rows in the real ClickHouse, and `ChainAuditor` naming each kind.
@Suite("Tamper evidence on the dev stack", .serialized, .enabled(if: TestService.available(.kafka, .kafkaControl, .clickhouse)))
struct TamperEvidenceIntegrationTests {
    /// Writes `count` events of `tenants` tenants through a sink, signs every head, returns the
    /// signed checkpoints.
    func writeAndCheckpoint(_ fixture: ChainFixture, count: Int, tenants: Int) async throws -> [SignedCheckpoint] {
        let sink = try fixture.sink(group: TestEnvironment.uniqueName("chain"))
        return try await runningServices([sink]) {
            try await fixture.produce((0..<count).map { ChainFixture.event($0, tenants: tenants) })
            try await fixture.waitForRows(count)
            try await eventually("every head acknowledged") {
                sink.chainHeads.entries.values.reduce(0) { $0 + Int($1.head.sequence) } == count
            }
            return try await fixture.checkpointService(heads: sink.chainHeads).checkpointDue(everything: true)
        }
    }

    @Test func cleanChainsVerifyWithTheirCheckpoints() async throws {
        try await ChainFixture.with(partitions: 2) { fixture in
            let checkpoints = try await writeAndCheckpoint(fixture, count: 120, tenants: 4)
            #expect(checkpoints.count == 4)
            #expect(try await fixture.count("chain_seq = 0") == 0)
            for tenant in 0..<4 {
                let report = try await fixture.auditor.verify(tenantID: "tenant-\(tenant)", range: .all)
                #expect(report.problem == nil, "tenant-\(tenant): \(report.problem?.description ?? "")")
                #expect(report.verifiedRows == 30 && report.lastVerifiedSequence == 30 && report.verifiedCheckpoints == 1)
            }
            // A sequence range starting after a checkpoint, and a time range.
            let signed = try #require(checkpoints.first { $0.checkpoint.tenantID == "tenant-1" })
            let bySequence = try await fixture.auditor.verify(tenantID: "tenant-1", range: .sequences(10...20))
            #expect(bySequence.problem == nil && bySequence.startSequence == 0 && bySequence.lastVerifiedSequence == 20)
            let byTime = try await fixture.auditor.verify(tenantID: "tenant-1", range: .times(1_770_000_040_000...1_770_000_080_000))
            #expect(byTime.problem == nil && byTime.verifiedRows > 0)
            #expect(signed.checkpoint.sequence == 30)
        }
    }

    @Test func eachKindOfTamperingIsNamed() async throws {
        try await ChainFixture.with(partitions: 1) { fixture in
            _ = try await writeAndCheckpoint(fixture, count: 180, tenants: 6)  // 30 events per tenant
            let events = "`\(fixture.database)`.audit_events"

            // tenant-0: a row's content changed by ALTER UPDATE.
            try await fixture.mutate("ALTER TABLE \(events) UPDATE resource = 'doc/forged' WHERE tenant_id = 'tenant-0' AND chain_seq = 5")
            // tenant-1: a row removed by ALTER DELETE.
            try await fixture.mutate("ALTER TABLE \(events) DELETE WHERE tenant_id = 'tenant-1' AND chain_seq = 7")
            // tenant-2: a forged row inserted at an existing position (a copy of row 9 with new content)...
            _ = try await fixture.clickhouse.execute(
                """
                INSERT INTO \(events) SELECT * REPLACE ('evt-forged' AS event_id, 'doc/forged' AS resource)
                FROM \(events) WHERE tenant_id = 'tenant-2' AND chain_seq = 9
                """
            )
            // tenant-3: two rows swapped (their sequence numbers exchanged).
            try await fixture.mutate(
                "ALTER TABLE \(events) UPDATE chain_seq = if(chain_seq = 10, 11, 10) WHERE tenant_id = 'tenant-3' AND chain_seq IN (10, 11)"
            )
            // tenant-4: a forged checkpoint (a later head, "signed" by another key under our key id).
            let mallory = CheckpointSigningKey.generate()
            let forged = try mallory.sign(
                ChainCheckpoint(tenantID: "tenant-4", sequence: 40, headHash: .genesis(tenantID: "x"), signedAtMilliseconds: 1_770_000_000_000, keyID: fixture.key.keyID)
            )
            try await fixture.store.insertCheckpoints([forged])
            // tenant-5: a forged row without chain columns (as a plain INSERT of the old columns leaves it).
            _ = try await fixture.clickhouse.execute(
                """
                INSERT INTO \(events) (tenant_id, event_type, timestamp, event_id, actor_id, resource, action, metadata, schema_id, kafka_partition, kafka_offset, insert_token)
                VALUES ('tenant-5', 'auth', fromUnixTimestamp64Milli(toInt64(1770000050000), 'UTC'), 'evt-backdated', 'user-1', 'doc/x', 'read', map(), 1, 0, 999999, 'forged')
                """
            )

            func problem(_ tenant: Int) async throws -> ChainProblem? {
                try await fixture.auditor.verify(tenantID: "tenant-\(tenant)", range: .all).problem
            }
            #expect(try await problem(0) == .modifiedRow(sequence: 5, eventID: "evt-24", contentChanged: true))
            #expect(try await problem(1) == .missingRows(from: 7, to: 7))
            #expect(try await problem(2) == .insertedRow(sequence: 9, eventID: "evt-forged", reason: .duplicateSequence))
            #expect(try await problem(3) == .reorderedRows(sequence: 10, otherSequence: 11, eventID: "evt-63"))
            let badSignature = try await problem(4)
            #expect(badSignature?.kind == "bad_checkpoint_signature" && badSignature?.sequence == 40)
            #expect(try await problem(5) == .insertedRow(sequence: 0, eventID: "evt-backdated", reason: .unchained))
            // A range after the modified row still walks from the last checkpoint before it (here
            // genesis), so the modification is found.
            #expect(try await fixture.auditor.verify(tenantID: "tenant-0", range: .sequences(6...30)).problem == .modifiedRow(sequence: 5, eventID: "evt-24", contentChanged: true))
        }
    }

    @Test func rewritingTheWholeChainIsCaughtByTheSignedCheckpoint() async throws {
        try await ChainFixture.with(partitions: 1) { fixture in
            _ = try await writeAndCheckpoint(fixture, count: 40, tenants: 2)
            // The attacker edits row 3 of tenant-0 and recomputes every later hash consistently.
            let rows = try await fixture.store.chainRows(tenantID: "tenant-0", sequences: 1...20, unchainedTimes: nil)
            var head = ChainHead(tenantID: "tenant-0", sequence: 2, hash: rows[1].storedHash)
            for var row in rows[2...] {
                if row.sequence == 3 { row.event.action = "delete" }
                let (sequence, hash) = head.append(row.event)
                let hex = hash.bytes.map { String(format: "%02x", $0) }.joined()
                let action = row.sequence == 3 ? ", action = 'delete'" : ""
                try await fixture.mutate(
                    "ALTER TABLE `\(fixture.database)`.audit_events UPDATE chain_hash = toFixedString(unhex('\(hex)'), 32)\(action) WHERE tenant_id = 'tenant-0' AND chain_seq = \(sequence)"
                )
            }
            let report = try await fixture.auditor.verify(tenantID: "tenant-0", range: .all)
            #expect(report.problem?.kind == "checkpoint_mismatch" && report.problem?.sequence == 20)
            #expect(report.verifiedRows == 20)
        }
    }
}

/// Waits until `condition` holds, polling.
func eventually(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw ChainTestTimeout(what: what)
}
