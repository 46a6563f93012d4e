import AuditPipeTestSupport
import AuditEvents
import AvroCodec
import Foundation
import Logging
import SchemaRegistry
import Testing

@testable import AuditServer

@Suite("The built-in registry's AuditEvent schema migration")
struct SchemaMigrationTests {
    let subject = "audit-value"
    let logger = Logger(label: "SchemaMigrationTests")

    /// Runs `body` against a registry on an in-memory log, then stops it.
    func withRegistry(_ body: (SchemaRegistryService) async throws -> Void) async throws {
        let registry = SchemaRegistryService(log: InMemoryRegistryLog(), logger: logger)
        let task = Task { try await registry.run() }
        defer { task.cancel() }
        try await registry.waitUntilReady(timeout: .seconds(30))
        try await body(registry)
    }

    func versions(_ registry: SchemaRegistryService) throws -> [(version: Int32, schema: AvroSchema)] {
        try registry.read { state throws(SchemaRegistryError) in
            try state.versionNumbers(subject: subject).map { number throws(SchemaRegistryError) in
                (number, try state.version(subject: subject, .number(number)).schema.schema)
            }
        }
    }

    @Test("an empty subject gets the schema with timestamp-millis inside timestamp's type")
    func emptySubject() async throws {
        try await withRegistry { registry in
            try await AuditEventSchemaMigration.apply(registry: registry, subject: subject, logger: logger)
            let found = try versions(registry)
            #expect(found.map(\.version) == [1])
            #expect(found[0].schema == AuditEventSchema.seed)
            guard case .record(let record) = found[0].schema.rootNode.kind else { Issue.record("not a record"); return }
            let timestamp = record.fields[record.fieldIndex["timestamp"]!]
            #expect(found[0].schema.nodes[timestamp.type].logicalType == .timestampMillis)
            // Idempotent: a restart registers nothing more.
            try await AuditEventSchemaMigration.apply(registry: registry, subject: subject, logger: logger)
            #expect(try versions(registry).map(\.version) == [1])
        }
    }

    @Test("a subject on the seed document's schema gets the corrected one as its next version; old records still read")
    func legacySubjectMigrates() async throws {
        try await withRegistry { registry in
            _ = try await registry.register(subject: subject, schema: AuditEventSchema.legacySeedJSON)
            try await AuditEventSchemaMigration.apply(registry: registry, subject: subject, logger: logger)
            let found = try versions(registry)
            #expect(found.map(\.version) == [1, 2])
            #expect(found[1].schema == AuditEventSchema.seed)
            // Same binary layout: a record written with version 1 reads with version 2's fast path.
            #expect(AuditEventSchema.hasSeedLayout(found[0].schema))
            #expect(found[0].schema.canonicalForm == found[1].schema.canonicalForm)
        }
    }

    @Test("a subject on an operator's own schema is left alone")
    func otherSchemaIsLeftAlone() async throws {
        try await withRegistry { registry in
            let own = AuditEventSchema.seedJSON.replacingOccurrences(
                of: #"{"name": "metadata""#, with: #"{"name": "region", "type": "string", "default": "eu"}, {"name": "metadata""#
            )
            _ = try await registry.register(subject: subject, schema: AuditEventSchema.legacySeedJSON)
            _ = try await registry.register(subject: subject, schema: own)
            try await AuditEventSchemaMigration.apply(registry: registry, subject: subject, logger: logger)
            #expect(try versions(registry).map(\.version) == [1, 2])
        }
    }
}
