import AuditPipeTestSupport
import AvroCodec
import Foundation
import SchemaRegistry
import Testing

@Suite("SchemaRegistryService over an in-memory log")
struct RegistryServiceTests {
    @Test("writes wait for their own record; a restarted instance replays the same state")
    func replay() async throws {
        let log = InMemoryRegistryLog()
        let first = try await RunningRegistry(log: log)
        let a = try await first.service.register(subject: "orders-value", schema: TestSchemas.v1)
        let b = try await first.service.register(subject: "orders-value", schema: TestSchemas.v2WithDefault)
        let again = try await first.service.register(subject: "orders-value", schema: TestSchemas.v1)
        #expect(a == (1, 1) && b == (2, 2) && again == (1, 1))
        try await first.service.setLevel(.full, subject: "orders-value")
        #expect(try await first.service.deleteVersion(subject: "orders-value", version: .number(1), permanent: false) == 1)
        #expect(log.allEntries.count == 4, "idempotent re-registration writes nothing")
        let stateBefore = first.service.state
        await first.stop()

        let second = try await RunningRegistry(log: log)
        #expect(second.service.state == stateBefore)
        #expect(try second.service.read { state throws(SchemaRegistryError) in try state.versionNumbers(subject: "orders-value") } == [2])
        await second.stop()
    }

    @Test("an incompatible schema is refused with 409 and writes nothing")
    func incompatible() async throws {
        let log = InMemoryRegistryLog()
        let registry = try await RunningRegistry(log: log)
        defer { Task { await registry.stop() } }
        _ = try await registry.service.register(subject: "s", schema: TestSchemas.v1)
        let count = log.allEntries.count
        await #expect(throws: SchemaRegistryError.self) { try await registry.service.register(subject: "s", schema: TestSchemas.v2AddedNoDefault) }
        #expect(log.allEntries.count == count)
    }

    @Test("two instances on one log agree on every id under concurrent registrations")
    func twoInstancesAgree() async throws {
        let log = InMemoryRegistryLog()
        let a = try await RunningRegistry(log: log, defaultLevel: .none)
        let b = try await RunningRegistry(log: log, defaultLevel: .none)
        // 40 distinct schemas, each registered through BOTH instances at once, under 4 subjects
        // (so registrations on one subject race and conflict), plus 10 shared between subjects.
        let results = try await withThrowingTaskGroup(of: (Int, String, Int32, Int32).self) { group in
            for n in 0..<40 {
                for (index, instance) in [a, b].enumerated() {
                    group.addTask {
                        let subject = "subject-\(n % 4)"
                        let (id, version) = try await instance.service.register(subject: subject, schema: TestSchemas.numbered(n))
                        return (n, "\(index):\(subject)", id, version)
                    }
                }
                if n < 10 {
                    group.addTask {
                        let (id, version) = try await b.service.register(subject: "shared", schema: TestSchemas.numbered(n))
                        return (n, "1:shared", id, version)
                    }
                }
            }
            var all: [(Int, String, Int32, Int32)] = []
            for try await result in group { all.append(result) }
            return all
        }
        // Every instance answered the same id for the same schema, and different schemas got
        // different ids.
        var idBySchema: [Int: Int32] = [:]
        for (n, _, id, _) in results {
            if let known = idBySchema[n] { #expect(known == id, "schema \(n) got ids \(known) and \(id)") }
            idBySchema[n] = id
        }
        #expect(Set(idBySchema.values).count == 40)
        #expect(Set(idBySchema.values) == Set(1...40))
        // Both instances hold the same state once both have applied the whole log.
        let end = Int64(log.allEntries.last!.offset + 1)
        for instance in [a, b] {
            let deadline = ContinuousClock.now + .seconds(10)
            while instance.service.position < end, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(a.service.state == b.service.state)
        // Each subject holds each of its schemas exactly once (versions 1...10).
        for s in 0..<4 {
            #expect(try a.service.read { state throws(SchemaRegistryError) in try state.versionNumbers(subject: "subject-\(s)") } == Array(1...10))
        }
        // A third instance started afterwards replays to the same state, also after compaction.
        let c = try await RunningRegistry(log: log, defaultLevel: .none)
        #expect(c.service.state == a.service.state)
        log.compact()
        let d = try await RunningRegistry(log: log, defaultLevel: .none)
        #expect(d.service.state == a.service.state)
        for instance in [a, b, c, d] { await instance.stop() }
    }

    @Test("config records: last write wins, clearing is a tombstone, state survives compaction")
    func configCompaction() async throws {
        let log = InMemoryRegistryLog()
        let a = try await RunningRegistry(log: log)
        try await a.service.setLevel(.full, subject: nil)
        try await a.service.setLevel(.none, subject: "x")
        try await a.service.setLevel(.forward, subject: "x")
        try await a.service.setLevel(.forwardTransitive, subject: "y")
        #expect(try await a.service.clearLevel(subject: "y") == .forwardTransitive)
        await #expect(throws: SchemaRegistryError.self) { try await a.service.clearLevel(subject: "y") }
        _ = try await a.service.register(subject: "x", schema: TestSchemas.v1)
        log.compact()
        let b = try await RunningRegistry(log: log)
        #expect(b.service.state == a.service.state)
        #expect(b.service.state.effectiveLevel(subject: "x") == .forward)
        #expect(b.service.state.effectiveLevel(subject: "y") == .full)
        await a.stop()
        await b.stop()
    }

    @Test("when the log fails, writes fail with a retriable store error")
    func logFailure() async throws {
        struct Gone: Error {}
        let log = InMemoryRegistryLog()
        let registry = try await RunningRegistry(log: log)
        log.fail(with: Gone())
        do {
            _ = try await registry.service.register(subject: "s", schema: TestSchemas.v1)
            Issue.record("expected a failure")
        } catch {
            #expect(error.isRetriable)
            #expect(error.errorCode == 50001)
        }
        await registry.stop()
    }
}
