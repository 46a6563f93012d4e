package import AvroCodec

/// A version reference: a number, or the latest (non-deleted) version of a subject.
package enum SchemaVersionSelector: Sendable, Hashable, CustomStringConvertible {
    /// The highest version that is not (soft-)deleted.
    case latest
    /// A version number, 1...2^31-1.
    case number(Int32)

    /// Parses the API's spelling: `latest`, `-1` (Confluent's alias for latest) or a number.
    package init(parsing text: String) throws(SchemaRegistryError) {
        if text.lowercased() == "latest" || text == "-1" {
            self = .latest
        } else if let number = Int32(text), number >= 1 {
            self = .number(number)
        } else {
            throw .invalidVersion(text)
        }
    }

    /// `latest` or the number.
    package var description: String {
        switch self {
        case .latest: "latest"
        case .number(let n): String(n)
        }
    }
}

/// One change of the registry, as carried by one record of the registry log.
///
/// Registrations and deletions carry the subject's `expectedRevision`: the revision the writer
/// checked the change against (compatibility, existence). Applying a change whose expectation no
/// longer holds yields ``RegistryState/Outcome/conflict`` and changes nothing: the writer then
/// re-reads and tries again. This makes concurrent writers on several instances safe without a
/// leader, and makes every instance reach the same decision because they apply the same records
/// in the same (log) order.
package enum RegistryMutation: Sendable, Hashable {
    /// Register `schema` (the JSON text as submitted) under `subject`.
    case register(subject: String, schema: String, expectedRevision: Int)
    /// Delete one version (soft, or permanent after a soft delete).
    case deleteVersion(subject: String, version: Int32, permanent: Bool, expectedRevision: Int)
    /// Delete every version of a subject (soft, or permanent after a soft delete).
    case deleteSubject(subject: String, permanent: Bool, expectedRevision: Int)
    /// Set the compatibility level of a subject, or the global one when `subject` is nil.
    case setLevel(subject: String?, level: AvroCompatibilityLevel)
    /// Remove the level of a subject (it falls back to the global level), or reset the global one
    /// to the registry's default when `subject` is nil.
    case clearLevel(subject: String?)
}

/// The whole state of a served registry, rebuilt by applying log records in order.
///
/// A pure state machine: no I/O, no clock, no randomness. Every instance that applies the same
/// records in the same order holds an equal state (the type is `Equatable` so tests can check
/// exactly that). Schema ids come from the apply order: a schema that has no id yet gets
/// `highest id so far + 1` when the first registration record for it is *applied*, so instances
/// never need a local counter and can never hand out colliding ids.
///
/// Schema identity is ``AvroCodec/AvroSchema`` equality (same types, names, fields, defaults,
/// aliases; documentation and formatting ignored). The same schema under two subjects shares
/// one id, like Confluent's registry. An id stays bound to its schema for ever, even after every
/// version using it was permanently deleted (it then reads as "not found" until the schema is
/// registered again, when it gets the same id back).
package struct RegistryState: Sendable, Equatable {
    /// A schema known to the registry.
    package struct StoredSchema: Sendable, Equatable {
        /// Its global id.
        package var id: Int32
        /// The JSON text of its first registration (served back verbatim).
        package var text: String
        /// The parsed schema.
        package var schema: AvroSchema
    }

    /// One version of a subject.
    package struct Version: Sendable, Hashable {
        /// The version number (1, 2, ...).
        package var number: Int32
        /// The schema id it refers to.
        package var schemaID: Int32
        /// Soft-deleted: hidden unless asked for, excluded from compatibility checks.
        package var deleted: Bool
    }

    /// A subject and its versions.
    package struct Subject: Sendable, Equatable {
        /// The versions, in ascending order (permanently deleted ones are gone).
        package var versions: [Version] = []
        /// Bumped by every accepted registration or deletion; the optimistic-concurrency token.
        package var revision: Int = 0

        /// Whether the subject has at least one version that is not soft-deleted.
        package var isLive: Bool { versions.contains { !$0.deleted } }
    }

    /// The result of applying one mutation.
    package enum Outcome: Sendable, Hashable {
        /// A new version was created; `id` is the schema's id (new or shared).
        case registered(id: Int32, version: Int32)
        /// The schema was already a live version of the subject: nothing changed.
        case alreadyRegistered(id: Int32, version: Int32)
        /// A version was deleted.
        case deletedVersion(Int32)
        /// A subject was deleted; these versions went.
        case deletedSubject([Int32])
        /// A level was set.
        case levelSet(AvroCompatibilityLevel)
        /// A level was removed; the level in force before, if one was set.
        case levelCleared(AvroCompatibilityLevel?)
        /// The subject changed since the writer looked: nothing changed, re-plan and retry.
        case conflict
        /// The mutation cannot apply (e.g. its schema does not parse): nothing changed.
        case rejected(SchemaRegistryError)
    }

    /// What to do to register a schema, decided from the current state.
    package enum RegisterPlan: Sendable, Hashable {
        /// It is already a live version of the subject: answer with this id, write nothing.
        case existing(id: Int32, version: Int32)
        /// Append a registration record with this expected subject revision.
        case append(expectedRevision: Int)
    }

    /// The level used when neither the subject nor the global config sets one.
    package let defaultLevel: AvroCompatibilityLevel
    /// Schemas by id.
    package private(set) var schemas: [Int32: StoredSchema] = [:]
    /// Ids by schema.
    package private(set) var ids: [AvroSchema: Int32] = [:]
    /// The highest id handed out.
    package private(set) var highestID: Int32 = 0
    /// Subjects by name (including ones whose versions were all permanently deleted, which keep
    /// their revision but read as not found).
    package private(set) var subjects: [String: Subject] = [:]
    /// The global level, when set through the API.
    package private(set) var globalLevel: AvroCompatibilityLevel?
    /// Subject-level levels.
    package private(set) var subjectLevels: [String: AvroCompatibilityLevel] = [:]

    /// An empty registry whose levels default to `defaultLevel` (Confluent's default: BACKWARD).
    package init(defaultLevel: AvroCompatibilityLevel = .backward) {
        self.defaultLevel = defaultLevel
    }

    // MARK: Applying records

    /// Applies one mutation (one log record) and says what happened.
    package mutating func apply(_ mutation: RegistryMutation) -> Outcome {
        switch mutation {
        case .register(let subject, let text, let expectedRevision):
            guard revision(of: subject) == expectedRevision else { return .conflict }
            let schema: AvroSchema
            do {
                schema = try AvroSchema(parsing: text)
            } catch {
                return .rejected(SchemaRegistryError(.invalidSchema, "Invalid schema: \(error)"))
            }
            var entry = subjects[subject] ?? Subject()
            if let id = ids[schema], let live = entry.versions.first(where: { !$0.deleted && $0.schemaID == id }) {
                return .alreadyRegistered(id: id, version: live.number)
            }
            let id: Int32
            if let existing = ids[schema] {
                id = existing
            } else {
                highestID += 1
                id = highestID
                ids[schema] = id
                schemas[id] = StoredSchema(id: id, text: text, schema: schema)
            }
            let version = (entry.versions.last?.number ?? 0) + 1
            entry.versions.append(Version(number: version, schemaID: id, deleted: false))
            entry.revision += 1
            subjects[subject] = entry
            return .registered(id: id, version: version)

        case .deleteVersion(let subject, let version, let permanent, let expectedRevision):
            guard revision(of: subject) == expectedRevision else { return .conflict }
            do {
                try checkDeleteVersion(subject: subject, version: version, permanent: permanent)
            } catch {
                return .rejected(error)
            }
            var entry = subjects[subject]!
            let index = entry.versions.firstIndex { $0.number == version }!
            if permanent {
                entry.versions.remove(at: index)
            } else {
                entry.versions[index].deleted = true
            }
            entry.revision += 1
            subjects[subject] = entry
            return .deletedVersion(version)

        case .deleteSubject(let subject, let permanent, let expectedRevision):
            guard revision(of: subject) == expectedRevision else { return .conflict }
            let deleted: [Int32]
            do {
                deleted = try checkDeleteSubject(subject: subject, permanent: permanent)
            } catch {
                return .rejected(error)
            }
            var entry = subjects[subject]!
            if permanent {
                entry.versions.removeAll()
            } else {
                for i in entry.versions.indices { entry.versions[i].deleted = true }
            }
            entry.revision += 1
            subjects[subject] = entry
            return .deletedSubject(deleted)

        case .setLevel(let subject, let level):
            if let subject {
                subjectLevels[subject] = level
            } else {
                globalLevel = level
            }
            return .levelSet(level)

        case .clearLevel(let subject):
            if let subject {
                return .levelCleared(subjectLevels.removeValue(forKey: subject))
            }
            defer { globalLevel = nil }
            return .levelCleared(globalLevel)
        }
    }

    // MARK: Planning writes (what the writer checks before appending a record)

    /// Decides how to register `schema` under `subject`: already there, or append a record.
    /// - Throws: 409 `incompatibleSchema` when the subject's level rejects it, with one message
    ///   per broken rule.
    package func planRegister(subject: String, schema: AvroSchema) throws(SchemaRegistryError) -> RegisterPlan {
        if let id = ids[schema], let live = subjects[subject]?.versions.first(where: { !$0.deleted && $0.schemaID == id }) {
            return .existing(id: id, version: live.number)
        }
        let level = effectiveLevel(subject: subject)
        let issues = AvroCompatibility.check(candidate: schema, previous: liveSchemas(subject), level: level)
        if !issues.isEmpty {
            throw SchemaRegistryError(
                .incompatibleSchema,
                "Schema being registered is incompatible with an earlier schema for subject \"\(subject)\" under compatibility level \(level.rawValue), details: [\(issues.map(\.description).joined(separator: "; "))]"
            )
        }
        return .append(expectedRevision: revision(of: subject))
    }

    /// Validates a version delete and returns the mutation to append.
    package func planDeleteVersion(subject: String, version: SchemaVersionSelector, permanent: Bool) throws(SchemaRegistryError) -> RegistryMutation {
        let number: Int32
        switch version {
        case .number(let n): number = n
        case .latest:
            // Confluent: `latest` is the highest version, soft-deleted ones included when the
            // delete is permanent.
            guard let entry = subjects[subject], !entry.versions.isEmpty else { throw .subjectNotFound(subject) }
            guard let last = permanent ? entry.versions.last : entry.versions.last(where: { !$0.deleted }) else {
                throw .subjectNotFound(subject)
            }
            number = last.number
        }
        try checkDeleteVersion(subject: subject, version: number, permanent: permanent)
        return .deleteVersion(subject: subject, version: number, permanent: permanent, expectedRevision: revision(of: subject))
    }

    /// Validates a subject delete and returns the mutation to append.
    package func planDeleteSubject(subject: String, permanent: Bool) throws(SchemaRegistryError) -> RegistryMutation {
        _ = try checkDeleteSubject(subject: subject, permanent: permanent)
        return .deleteSubject(subject: subject, permanent: permanent, expectedRevision: revision(of: subject))
    }

    private func checkDeleteVersion(subject: String, version: Int32, permanent: Bool) throws(SchemaRegistryError) {
        guard let entry = subjects[subject], !entry.versions.isEmpty else { throw .subjectNotFound(subject) }
        guard let found = entry.versions.first(where: { $0.number == version }) else { throw .versionNotFound(version) }
        if permanent, !found.deleted {
            throw SchemaRegistryError(
                .versionNotSoftDeleted,
                "Subject '\(subject)' Version \(version) was not deleted first before being permanently deleted"
            )
        }
        if !permanent, found.deleted {
            throw SchemaRegistryError(
                .versionSoftDeleted,
                "Subject '\(subject)' Version \(version) was soft deleted. Set permanent=true to delete permanently"
            )
        }
    }

    private func checkDeleteSubject(subject: String, permanent: Bool) throws(SchemaRegistryError) -> [Int32] {
        guard let entry = subjects[subject], !entry.versions.isEmpty else { throw .subjectNotFound(subject) }
        if permanent {
            guard !entry.isLive else {
                throw SchemaRegistryError(
                    .subjectNotSoftDeleted,
                    "Subject '\(subject)' was not deleted first before being permanently deleted"
                )
            }
            return entry.versions.map(\.number)
        }
        guard entry.isLive else {
            throw SchemaRegistryError(.subjectSoftDeleted, "Subject '\(subject)' was soft deleted. Set permanent=true to delete permanently")
        }
        return entry.versions.filter { !$0.deleted }.map(\.number)
    }

    // MARK: Queries

    /// The optimistic-concurrency token of a subject (0 for one never written).
    package func revision(of subject: String) -> Int {
        subjects[subject]?.revision ?? 0
    }

    /// The level that applies to `subject`: its own, else the global one, else the default.
    package func effectiveLevel(subject: String?) -> AvroCompatibilityLevel {
        if let subject, let level = subjectLevels[subject] { return level }
        return globalLevel ?? defaultLevel
    }

    /// The schemas of the subject's live versions, oldest first (what compatibility checks use).
    package func liveSchemas(_ subject: String) -> [AvroSchema] {
        (subjects[subject]?.versions ?? []).filter { !$0.deleted }.compactMap { schemas[$0.schemaID]?.schema }
    }

    /// Subject names, sorted; soft-deleted subjects only with `includeDeleted`.
    package func subjectNames(includeDeleted: Bool = false) -> [String] {
        subjects.filter { includeDeleted ? !$0.value.versions.isEmpty : $0.value.isLive }.keys.sorted()
    }

    /// A subject's version numbers, ascending.
    /// - Throws: 40401 when the subject has no (live, unless `includeDeleted`) version.
    package func versionNumbers(subject: String, includeDeleted: Bool = false) throws(SchemaRegistryError) -> [Int32] {
        let versions = (subjects[subject]?.versions ?? []).filter { includeDeleted || !$0.deleted }
        guard !versions.isEmpty else { throw .subjectNotFound(subject) }
        return versions.map(\.number)
    }

    /// One version of a subject with its schema.
    /// - Throws: 40401 (unknown subject), 40402 (unknown or soft-deleted version, unless
    ///   `includeDeleted`).
    package func version(subject: String, _ selector: SchemaVersionSelector, includeDeleted: Bool = false) throws(SchemaRegistryError) -> (version: Version, schema: StoredSchema) {
        guard let entry = subjects[subject], entry.versions.contains(where: { includeDeleted || !$0.deleted }) else {
            throw .subjectNotFound(subject)
        }
        let found: Version?
        switch selector {
        case .latest: found = entry.versions.last { includeDeleted || !$0.deleted }
        case .number(let n): found = entry.versions.first { $0.number == n && (includeDeleted || !$0.deleted) }
        }
        guard let found, let schema = schemas[found.schemaID] else {
            if case .number(let n) = selector { throw .versionNotFound(n) }
            throw .subjectNotFound(subject)
        }
        return (found, schema)
    }

    /// The schema with this id, if some version (live or soft-deleted) still refers to it.
    /// - Throws: 40403.
    package func schema(id: Int32) throws(SchemaRegistryError) -> StoredSchema {
        guard let stored = schemas[id], !usages(id: id, includeDeleted: true).isEmpty else {
            throw .schemaNotFound("Schema \(id) not found")
        }
        return stored
    }

    /// The (subject, version) pairs that use schema `id`, sorted.
    package func usages(id: Int32, includeDeleted: Bool = false) -> [(subject: String, version: Int32)] {
        var result: [(String, Int32)] = []
        for (name, entry) in subjects {
            for version in entry.versions where version.schemaID == id && (includeDeleted || !version.deleted) {
                result.append((name, version.number))
            }
        }
        return result.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
    }

    /// The version of `subject` holding `schema` (the `POST /subjects/{subject}` lookup).
    /// - Throws: 40401 (no such subject), 40403 (the schema is not registered under it).
    package func lookup(subject: String, schema: AvroSchema, includeDeleted: Bool = false) throws(SchemaRegistryError) -> (version: Version, schema: StoredSchema) {
        guard let entry = subjects[subject], entry.versions.contains(where: { includeDeleted || !$0.deleted }) else {
            throw .subjectNotFound(subject)
        }
        guard let id = ids[schema], let stored = schemas[id],
            let version = entry.versions.last(where: { $0.schemaID == id && (includeDeleted || !$0.deleted) })
        else {
            throw .schemaNotFound()
        }
        return (version, stored)
    }

    /// Checks `candidate` against the subject under its level: against one version (as the
    /// `/compatibility/subjects/{s}/versions/{v}` endpoint does) or, with `version` nil, against
    /// every live version.
    /// - Returns: the issues; empty when compatible.
    /// - Throws: 40401 / 40402 when the subject or version does not exist.
    package func checkCompatibility(subject: String, candidate: AvroSchema, version: SchemaVersionSelector?) throws(SchemaRegistryError) -> (level: AvroCompatibilityLevel, issues: [AvroCompatibilityIssue]) {
        let level = effectiveLevel(subject: subject)
        let previous: [AvroSchema]
        if let version {
            previous = [try self.version(subject: subject, version).schema.schema]
        } else {
            previous = liveSchemas(subject)
        }
        return (level, AvroCompatibility.check(candidate: candidate, previous: previous, level: level))
    }
}
