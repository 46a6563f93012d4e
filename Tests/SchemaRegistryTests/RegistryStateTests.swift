import Foundation
import AvroCodec
import SchemaRegistry
import Testing

/// Registers through plan + apply, as the service does, and returns what happened.
@discardableResult
private func register(_ state: inout RegistryState, _ subject: String, _ text: String) throws(SchemaRegistryError) -> (id: Int32, version: Int32) {
    switch try state.planRegister(subject: subject, schema: TestSchemas.parse(text)) {
    case .existing(let id, let version):
        return (id, version)
    case .append(let expectedRevision):
        switch state.apply(.register(subject: subject, schema: text, expectedRevision: expectedRevision)) {
        case .registered(let id, let version), .alreadyRegistered(let id, let version): return (id, version)
        case .rejected(let error): throw error
        case let other: Issue.record("unexpected outcome \(other)"); return (-1, -1)
        }
    }
}

@Suite("RegistryState (pure state machine)")
struct RegistryStateTests {
    @Test("ids start at 1, grow per new schema, and are shared across subjects")
    func ids() throws {
        var state = RegistryState(defaultLevel: .none)
        let a = try register(&state, "a-value", TestSchemas.numbered(1))
        let b = try register(&state, "b-value", TestSchemas.numbered(2))
        let shared = try register(&state, "c-value", TestSchemas.numbered(1))
        #expect(a.id == 1 && a.version == 1)
        #expect(b.id == 2 && b.version == 1)
        #expect(shared.id == 1 && shared.version == 1, "the same schema under another subject keeps its id")
        #expect(state.highestID == 2)
        #expect(state.usages(id: 1).map(\.subject) == ["a-value", "c-value"])
    }

    @Test("registering an already registered schema is idempotent (same id and version, nothing changes)")
    func idempotent() throws {
        var state = RegistryState()
        let first = try register(&state, "s", TestSchemas.v1)
        let before = state
        // A formatting/whitespace variant of the same schema is the same schema.
        let variant = TestSchemas.v1.replacingOccurrences(of: ",", with: ", ")
        let second = try register(&state, "s", variant)
        #expect(first.id == second.id && first.version == second.version)
        #expect(state == before)
        // Applying a duplicate record at the current revision also changes nothing.
        let outcome = state.apply(.register(subject: "s", schema: TestSchemas.v1, expectedRevision: state.revision(of: "s")))
        #expect(outcome == .alreadyRegistered(id: first.id, version: first.version))
        #expect(state == before)
    }

    @Test("a record planned at an old revision is a conflict and changes nothing")
    func conflict() throws {
        var state = RegistryState(defaultLevel: .none)
        try register(&state, "s", TestSchemas.numbered(1))
        let stale = state.revision(of: "s") - 1
        let before = state
        #expect(state.apply(.register(subject: "s", schema: TestSchemas.numbered(2), expectedRevision: stale)) == .conflict)
        #expect(state.apply(.deleteSubject(subject: "s", permanent: false, expectedRevision: stale)) == .conflict)
        #expect(state == before)
    }

    @Test("invalid schema text in a record is rejected without changing the state")
    func invalidRecord() {
        var state = RegistryState()
        let outcome = state.apply(.register(subject: "s", schema: #"{"type":"record","name":"R"}"#, expectedRevision: 0))
        guard case .rejected(let error) = outcome else {
            Issue.record("expected rejected, got \(outcome)")
            return
        }
        #expect(error.errorCode == 42201)
        #expect(state == RegistryState())
    }

    @Test("soft delete hides a version, permanent delete needs a soft delete first, versions keep counting")
    func deletes() throws {
        var state = RegistryState(defaultLevel: .none)
        try register(&state, "s", TestSchemas.numbered(1))
        try register(&state, "s", TestSchemas.numbered(2))
        try register(&state, "s", TestSchemas.numbered(3))

        // Permanent before soft: 40407.
        #expect(throws: SchemaRegistryError.self) { try state.planDeleteVersion(subject: "s", version: .number(2), permanent: true) }
        do {
            _ = try state.planDeleteVersion(subject: "s", version: .number(2), permanent: true)
        } catch {
            #expect(error.errorCode == 40407)
        }
        // Soft delete version 2.
        let soft = try state.planDeleteVersion(subject: "s", version: .number(2), permanent: false)
        #expect(state.apply(soft) == .deletedVersion(2))
        #expect(try state.versionNumbers(subject: "s") == [1, 3])
        #expect(try state.versionNumbers(subject: "s", includeDeleted: true) == [1, 2, 3])
        #expect(throws: SchemaRegistryError.self) { try state.version(subject: "s", .number(2)) }
        #expect(try state.version(subject: "s", .number(2), includeDeleted: true).version.deleted)
        // Soft-deleting it again: 40406.
        do {
            _ = try state.planDeleteVersion(subject: "s", version: .number(2), permanent: false)
            Issue.record("expected 40406")
        } catch {
            #expect(error.errorCode == 40406)
        }
        // The schema of a soft-deleted version is still readable by id.
        #expect(try state.schema(id: 2).id == 2)
        // Permanent delete of version 2 now works; its id then reads as not found (40403).
        #expect(state.apply(try state.planDeleteVersion(subject: "s", version: .number(2), permanent: true)) == .deletedVersion(2))
        #expect(try state.versionNumbers(subject: "s", includeDeleted: true) == [1, 3])
        do {
            _ = try state.schema(id: 2)
            Issue.record("expected 40403")
        } catch {
            #expect(error.errorCode == 40403)
        }
        // A new version continues after the highest existing one.
        #expect(try register(&state, "s", TestSchemas.numbered(4)).version == 4)
        // Registering the permanently deleted schema again brings back its id.
        #expect(try register(&state, "s", TestSchemas.numbered(2)) == (2, 5))
    }

    @Test("subject delete: soft first (40405 otherwise), soft twice is 40404, permanent removes it")
    func subjectDeletes() throws {
        var state = RegistryState(defaultLevel: .none)
        try register(&state, "s", TestSchemas.numbered(1))
        try register(&state, "s", TestSchemas.numbered(2))
        do {
            _ = try state.planDeleteSubject(subject: "s", permanent: true)
            Issue.record("expected 40405")
        } catch {
            #expect(error.errorCode == 40405)
        }
        #expect(state.apply(try state.planDeleteSubject(subject: "s", permanent: false)) == .deletedSubject([1, 2]))
        #expect(state.subjectNames() == [])
        #expect(state.subjectNames(includeDeleted: true) == ["s"])
        do {
            _ = try state.versionNumbers(subject: "s")
            Issue.record("expected 40401")
        } catch {
            #expect(error.errorCode == 40401)
        }
        do {
            _ = try state.planDeleteSubject(subject: "s", permanent: false)
            Issue.record("expected 40404")
        } catch {
            #expect(error.errorCode == 40404)
        }
        #expect(state.apply(try state.planDeleteSubject(subject: "s", permanent: true)) == .deletedSubject([1, 2]))
        #expect(state.subjectNames(includeDeleted: true) == [])
        // Re-created after a permanent delete: versions restart at 1, ids are reused.
        #expect(try register(&state, "s", TestSchemas.numbered(2)) == (2, 1))
        // Unknown subject: 40401.
        do {
            _ = try state.planDeleteSubject(subject: "nope", permanent: false)
            Issue.record("expected 40401")
        } catch {
            #expect(error.errorCode == 40401)
        }
    }

    @Test("config levels: default, global, per subject, clearing falls back")
    func levels() {
        var state = RegistryState()
        #expect(state.effectiveLevel(subject: "s") == .backward, "Confluent's default is BACKWARD")
        #expect(RegistryState(defaultLevel: .fullTransitive).effectiveLevel(subject: "s") == .fullTransitive)
        #expect(state.apply(.setLevel(subject: nil, level: .full)) == .levelSet(.full))
        #expect(state.effectiveLevel(subject: "s") == .full)
        #expect(state.apply(.setLevel(subject: "s", level: .none)) == .levelSet(.none))
        #expect(state.effectiveLevel(subject: "s") == .none)
        #expect(state.effectiveLevel(subject: "t") == .full)
        #expect(state.apply(.clearLevel(subject: "s")) == .levelCleared(AvroCompatibilityLevel.none))
        #expect(state.effectiveLevel(subject: "s") == .full)
        #expect(state.apply(.clearLevel(subject: nil)) == .levelCleared(.full))
        #expect(state.effectiveLevel(subject: "s") == .backward)
    }

    /// Registers v1 then `candidate` under `level`; true when accepted.
    private func accepts(_ level: AvroCompatibilityLevel, history: [String], candidate: String) throws -> Bool {
        var state = RegistryState(defaultLevel: .none)
        for text in history { try register(&state, "s", text) }
        _ = state.apply(.setLevel(subject: "s", level: level))
        let result: Result<(id: Int32, version: Int32), SchemaRegistryError> = Result { () throws(SchemaRegistryError) in try register(&state, "s", candidate) }
        switch result {
        case .success:
            return true
        case .failure(let error):
            #expect(error.errorCode == 409)
            #expect(error.httpStatus == 409)
            #expect(error.message.contains("incompatible"))
            return false
        }
    }

    @Test("a field added without a default breaks BACKWARD, not FORWARD (Confluent semantics)")
    func addedWithoutDefault() throws {
        let h = [TestSchemas.v1]
        let c = TestSchemas.v2AddedNoDefault
        #expect(try !accepts(.backward, history: h, candidate: c))
        #expect(try accepts(.forward, history: h, candidate: c))
        #expect(try !accepts(.full, history: h, candidate: c))
        #expect(try accepts(.none, history: h, candidate: c))
    }

    @Test("a field removed without a default breaks FORWARD, not BACKWARD")
    func removedWithoutDefault() throws {
        let h = [TestSchemas.v1]
        let c = TestSchemas.v2RemovedNoDefault
        #expect(try accepts(.backward, history: h, candidate: c))
        #expect(try !accepts(.forward, history: h, candidate: c))
        #expect(try !accepts(.full, history: h, candidate: c))
    }

    @Test("a field added with a default is FULL compatible")
    func addedWithDefault() throws {
        for level in AvroCompatibilityLevel.allCases {
            #expect(try accepts(level, history: [TestSchemas.v1], candidate: TestSchemas.v2WithDefault), "\(level)")
        }
    }

    @Test("transitive levels check every live version, non-transitive only the latest")
    func transitive() throws {
        let x = #"{"name":"x","type":"int"}"#
        let yDefault = #"{"name":"y","type":"string","default":""}"#
        let yRequired = #"{"name":"y","type":"string"}"#
        // BACKWARD: {x} -> {x, y=""} -> {x, y}: {x,y} reads {x,y=""} data but not {x} data.
        let backwardHistory = [TestSchemas.record([x]), TestSchemas.record([x, yDefault])]
        let backwardCandidate = TestSchemas.record([x, yRequired])
        #expect(try accepts(.backward, history: backwardHistory, candidate: backwardCandidate))
        #expect(try !accepts(.backwardTransitive, history: backwardHistory, candidate: backwardCandidate))
        #expect(try !accepts(.fullTransitive, history: backwardHistory, candidate: backwardCandidate))
        // FORWARD: {x, y} -> {x, y=""} -> {x}: {x,y=""} reads {x} data, {x,y} cannot.
        let forwardHistory = [TestSchemas.record([x, yRequired]), TestSchemas.record([x, yDefault])]
        let forwardCandidate = TestSchemas.record([x])
        #expect(try accepts(.forward, history: forwardHistory, candidate: forwardCandidate))
        #expect(try !accepts(.forwardTransitive, history: forwardHistory, candidate: forwardCandidate))
        // FULL checks only the latest ({x, y=""} both ways: fine); FULL_TRANSITIVE also {x} (above: rejected).
        #expect(try accepts(.full, history: backwardHistory, candidate: backwardCandidate))
    }

    @Test("soft-deleted versions are excluded from compatibility checks")
    func deletedExcluded() throws {
        var state = RegistryState(defaultLevel: .none)
        try register(&state, "s", TestSchemas.v1)
        try register(&state, "s", TestSchemas.v2AddedNoDefault)
        _ = state.apply(.setLevel(subject: "s", level: .backwardTransitive))
        // {id, actor, region=eu} reads v2 data but not v1 data (no actor): rejected while v1 is live.
        let candidate = TestSchemas.record([TestSchemas.id, TestSchemas.actorNoDefault, TestSchemas.regionWithDefault])
        #expect(throws: SchemaRegistryError.self) { try state.planRegister(subject: "s", schema: TestSchemas.parse(candidate)) }
        _ = state.apply(try state.planDeleteVersion(subject: "s", version: .number(1), permanent: false))
        #expect(try register(&state, "s", candidate).version == 3)
    }

    @Test("checkCompatibility against one version or all, and lookups")
    func compatibilityAndLookup() throws {
        var state = RegistryState()
        try register(&state, "s", TestSchemas.v1)
        let result = try state.checkCompatibility(subject: "s", candidate: TestSchemas.parse(TestSchemas.v2AddedNoDefault), version: .latest)
        #expect(result.level == .backward)
        #expect(result.issues.map(\.kind) == [.readerFieldMissingDefaultValue])
        #expect(try state.checkCompatibility(subject: "s", candidate: TestSchemas.parse(TestSchemas.v2WithDefault), version: nil).issues.isEmpty)
        do {
            _ = try state.checkCompatibility(subject: "s", candidate: TestSchemas.parse(TestSchemas.v1), version: .number(7))
            Issue.record("expected 40402")
        } catch {
            #expect(error.errorCode == 40402)
        }
        #expect(try state.lookup(subject: "s", schema: TestSchemas.parse(TestSchemas.v1)).version.number == 1)
        do {
            _ = try state.lookup(subject: "s", schema: TestSchemas.parse(TestSchemas.v2WithDefault))
            Issue.record("expected 40403")
        } catch {
            #expect(error.errorCode == 40403)
        }
    }

    @Test("version selectors parse like Confluent's (latest, -1, 1...2^31-1; 42202 otherwise)")
    func selectors() throws {
        #expect(try SchemaVersionSelector(parsing: "latest") == .latest)
        #expect(try SchemaVersionSelector(parsing: "-1") == .latest)
        #expect(try SchemaVersionSelector(parsing: "12") == .number(12))
        for bad in ["0", "-2", "abc", "2147483648", ""] {
            do {
                _ = try SchemaVersionSelector(parsing: bad)
                Issue.record("\(bad) parsed")
            } catch {
                #expect(error.errorCode == 42202)
            }
        }
    }

    @Test("log records round-trip through their JSON encoding")
    func recordFormat() throws {
        let mutations: [RegistryMutation] = [
            .register(subject: "s/ü", schema: TestSchemas.v1, expectedRevision: 3),
            .deleteVersion(subject: "s", version: 2, permanent: true, expectedRevision: 4),
            .deleteSubject(subject: "s", permanent: false, expectedRevision: 5),
            .setLevel(subject: "s", level: .fullTransitive),
            .setLevel(subject: nil, level: .none),
            .clearLevel(subject: "s"),
            .clearLevel(subject: nil),
        ]
        for mutation in mutations {
            let record = RegistryLogRecord(mutation: mutation, request: "req-1")
            let decoded = try record.decode()
            #expect(decoded.mutation == mutation)
            if case .setLevel = mutation { #expect(decoded.request == nil) } else if case .clearLevel = mutation {
                #expect(record.value == nil, "clearing a level is a tombstone")
            } else {
                #expect(decoded.request == "req-1")
            }
        }
        let key = String(decoding: RegistryLogRecord(mutation: .setLevel(subject: "s", level: .full), request: "x").key, as: UTF8.self)
        #expect(key == #"{"keytype":"CONFIG","magic":1,"subject":"s"}"#)
        #expect(throws: RegistryLogRecord.FormatError.self) { try RegistryLogRecord(key: Array(#"{"keytype":"REGISTER","magic":2,"request":"r"}"#.utf8), value: []).decode() }
    }
}
