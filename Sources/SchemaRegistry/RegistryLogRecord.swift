import AvroCodec
import Foundation

/// One record of the registry log (the compacted Kafka topic `_auditpipe_schemas`).
///
/// ## Record format (version 1)
///
/// Keys and values are UTF-8 JSON objects. Every key has `"keytype"` and `"magic": 1`.
///
/// | change | key | value |
/// |---|---|---|
/// | register a schema | `{"keytype":"REGISTER","magic":1,"request":"<uuid>"}` | `{"subject":"s","schema":"<Avro JSON text>","schemaType":"AVRO","expectedRevision":3}` |
/// | delete a version | `{"keytype":"DELETE_VERSION","magic":1,"request":"<uuid>"}` | `{"subject":"s","version":2,"permanent":false,"expectedRevision":4}` |
/// | delete a subject | `{"keytype":"DELETE_SUBJECT","magic":1,"request":"<uuid>"}` | `{"subject":"s","permanent":true,"expectedRevision":5}` |
/// | set a level | `{"keytype":"CONFIG","magic":1,"subject":"s"}` (no `subject`: global) | `{"compatibilityLevel":"FULL"}` |
/// | clear a level | the CONFIG key of that subject | null (a Kafka tombstone) |
///
/// Why these keys: compaction keeps only the newest record of each key, so a record may only
/// share a key with records whose loss cannot change the state.
/// - Registrations and deletions decide things (ids, versions, conflicts) from the records before
///   them, so each has a key of its own (`request`, a fresh UUID): compaction never removes
///   them, and every instance that replays the topic, before or after compaction, applies the same
///   sequence and reaches the same ids and versions. Their value carries the subject revision the
///   writer checked against; a record whose expectation no longer holds when applied is a
///   conflict, changes nothing, and is retried by its writer with a new request id.
/// - Compatibility levels are plain last-writer-wins settings that no other record's outcome
///   depends on (the writer checks compatibility before appending, the record carries the
///   revision it checked), so their key is the subject and compaction keeps only the newest one;
///   clearing a level is a tombstone that compaction eventually removes too.
///
/// Consequence: a permanent delete removes the version from the registry's state and API, but
/// the schema text stays in the topic (its registration record is needed to rebuild the same
/// ids). Schemas describe data; they should not contain personal data.
///
/// The topic must have exactly one partition (a total order) and `cleanup.policy=compact`
/// (infinite retention); create it with replication factor 3 and `min.insync.replicas=2` in
/// production.
package struct RegistryLogRecord: Sendable, Hashable {
    /// The record key (JSON).
    package var key: [UInt8]
    /// The record value (JSON), or nil for a tombstone.
    package var value: [UInt8]?

    /// Creates a record from raw bytes.
    package init(key: [UInt8], value: [UInt8]?) {
        self.key = key
        self.value = value
    }

    /// The record for `mutation`; `request` identifies registrations and deletions (the key).
    package init(mutation: RegistryMutation, request: String) {
        var key = Key(keytype: "", magic: 1)
        var value: Value? = Value()
        switch mutation {
        case .register(let subject, let schema, let expectedRevision):
            key.keytype = "REGISTER"
            key.request = request
            value = Value(subject: subject, schema: schema, schemaType: "AVRO", expectedRevision: expectedRevision)
        case .deleteVersion(let subject, let version, let permanent, let expectedRevision):
            key.keytype = "DELETE_VERSION"
            key.request = request
            value = Value(subject: subject, version: version, permanent: permanent, expectedRevision: expectedRevision)
        case .deleteSubject(let subject, let permanent, let expectedRevision):
            key.keytype = "DELETE_SUBJECT"
            key.request = request
            value = Value(subject: subject, permanent: permanent, expectedRevision: expectedRevision)
        case .setLevel(let subject, let level):
            key.keytype = "CONFIG"
            key.subject = subject
            value = Value(compatibilityLevel: level.rawValue)
        case .clearLevel(let subject):
            key.keytype = "CONFIG"
            key.subject = subject
            value = nil
        }
        let encoder = JSONEncoder()
        // Sorted keys: the same mutation always gives the same bytes.
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding these plain structs cannot fail.
        self.key = Array((try? encoder.encode(key)) ?? Data())
        self.value = value.map { Array((try? encoder.encode($0)) ?? Data()) }
    }

    struct Key: Codable {
        var keytype: String
        var magic: Int
        var request: String?
        var subject: String?
    }

    struct Value: Codable {
        var subject: String?
        var schema: String?
        var schemaType: String?
        var version: Int32?
        var permanent: Bool?
        var expectedRevision: Int?
        var compatibilityLevel: String?
    }

    /// Why a record could not be read.
    package struct FormatError: Error, Sendable, CustomStringConvertible {
        /// What is wrong with it.
        package var description: String
    }

    /// The mutation and (for registrations and deletions) its request id.
    /// - Throws: ``FormatError`` for a record this version does not understand.
    package func decode() throws(FormatError) -> (mutation: RegistryMutation, request: String?) {
        let decoder = JSONDecoder()
        guard let key = try? decoder.decode(Key.self, from: Data(self.key)) else {
            throw FormatError(description: "record key is not a JSON object with keytype and magic: \(String(decoding: self.key, as: UTF8.self).prefix(200))")
        }
        guard key.magic == 1 else {
            throw FormatError(description: "record key has magic \(key.magic); this version reads magic 1 (upgrade this instance)")
        }
        if key.keytype == "CONFIG" {
            guard let bytes = self.value else { return (.clearLevel(subject: key.subject), nil) }
            guard let value = try? decoder.decode(Value.self, from: Data(bytes)), let text = value.compatibilityLevel,
                let level = AvroCompatibilityLevel(rawValue: text)
            else {
                throw FormatError(description: "CONFIG record value is not {\"compatibilityLevel\": LEVEL}")
            }
            return (.setLevel(subject: key.subject, level: level), nil)
        }
        guard let request = key.request else { throw FormatError(description: "\(key.keytype) record key has no request id") }
        guard let bytes = self.value, let value = try? decoder.decode(Value.self, from: Data(bytes)),
            let subject = value.subject, let expected = value.expectedRevision
        else {
            throw FormatError(description: "\(key.keytype) record value lacks subject or expectedRevision")
        }
        switch key.keytype {
        case "REGISTER":
            guard let schema = value.schema else { throw FormatError(description: "REGISTER record value has no schema") }
            guard (value.schemaType ?? "AVRO") == "AVRO" else { throw FormatError(description: "REGISTER record has schemaType \(value.schemaType ?? "")") }
            return (.register(subject: subject, schema: schema, expectedRevision: expected), request)
        case "DELETE_VERSION":
            guard let version = value.version, let permanent = value.permanent else {
                throw FormatError(description: "DELETE_VERSION record value lacks version or permanent")
            }
            return (.deleteVersion(subject: subject, version: version, permanent: permanent, expectedRevision: expected), request)
        case "DELETE_SUBJECT":
            guard let permanent = value.permanent else { throw FormatError(description: "DELETE_SUBJECT record value lacks permanent") }
            return (.deleteSubject(subject: subject, permanent: permanent, expectedRevision: expected), request)
        default:
            throw FormatError(description: "unknown record keytype \(key.keytype)")
        }
    }
}
