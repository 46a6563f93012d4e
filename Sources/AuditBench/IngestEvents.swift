package import AuditEvents
package import AvroCodec
package import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The events every side of a benchmark sends: a fixed set of realistic templates, generated
/// deterministically from a seed, cycled by index. Ours and the ceiling use the same templates in
/// Swift; the Python peer reads them from the JSON that ``templatesJSON()`` writes.
package struct BenchEventCorpus: Sendable {
    /// The templates; their `eventID` is a fixed UUIDv7 (each sender may replace it per send).
    package let templates: [AuditEvent]

    /// `count` templates from `seed`, with timestamps just before `nowMilliseconds`.
    package init(count: Int = 1024, seed: UInt64 = 0x5EED, nowMilliseconds: Int64 = UnixTime.nowMilliseconds()) {
        precondition(count >= 1, "a corpus has at least one event")
        var random = SplitMix64(seed: seed)
        let kinds: [(type: String, action: String, resource: String)] = [
            ("auth", "login", "session"), ("auth", "logout", "session"), ("auth", "login_failed", "session"),
            ("data_access", "read", "document"), ("data_access", "export", "report"),
            ("data_change", "update", "customer"), ("data_change", "delete", "invoice"),
            ("permission_change", "grant", "role"), ("permission_change", "revoke", "role"),
        ]
        templates = (0..<count).map { index in
            let kind = kinds[Int(random.next() % UInt64(kinds.count))]
            let tenant = "tenant-\(random.next() % 20)"
            let actor = "user-\(random.next() % 5000)"
            let resourceID = random.next() % 1_000_000
            let ip = "10.\(random.next() % 256).\(random.next() % 256).\(random.next() % 256)"
            return AuditEvent(
                eventID: UUIDv7.make(milliseconds: nowMilliseconds - Int64(count - index)),
                tenantID: tenant,
                actorID: actor,
                eventType: kind.type,
                resource: "\(kind.resource)/\(resourceID)",
                action: kind.action,
                timestampMilliseconds: nowMilliseconds - Int64(count - index),
                metadata: [
                    "ip": ip,
                    "user_agent": "auditpipe-bench/1.0 (service \(random.next() % 12))",
                    "request_id": "req-\(String(random.next(), radix: 16))",
                ]
            )
        }
    }

    /// Template `index % count` with `eventID`.
    package func event(_ index: Int, eventID: String) -> AuditEvent {
        var event = templates[index % templates.count]
        event.eventID = eventID
        return event
    }

    /// The templates as a JSON array of Avro-shaped records (`timestamp` in ms), for the Python peer.
    package func templatesJSON() -> String {
        let items = templates.map { event -> String in
            let metadata = event.metadata.sorted { $0.key < $1.key }
                .map { "\(JSONText.string($0.key)):\(JSONText.string($0.value))" }
                .joined(separator: ",")
            return "{\"event_id\":\(JSONText.string(event.eventID)),\"tenant_id\":\(JSONText.string(event.tenantID)),"
                + "\"actor_id\":\(JSONText.string(event.actorID)),\"event_type\":\(JSONText.string(event.eventType)),"
                + "\"resource\":\(JSONText.string(event.resource)),\"action\":\(JSONText.string(event.action)),"
                + "\"timestamp\":\(event.timestampMilliseconds),\"metadata\":{\(metadata)}}"
        }
        return "[" + items.joined(separator: ",\n") + "]"
    }

    /// Every template validated and encoded with `schema` in Confluent wire format (what the
    /// server would write for it): the pre-encoded bytes of the ceiling.
    ///
    /// - Throws: `BenchError` when a template is refused (a bug in the corpus or an incompatible schema).
    package func wireRecords(schema: RegisteredSchema) throws(BenchError) -> [(key: [UInt8], value: [UInt8], eventID: String)] {
        let validator = EventValidator()
        let now = UnixTime.nowMilliseconds()
        return try templates.map { event throws(BenchError) -> (key: [UInt8], value: [UInt8], eventID: String) in
            let violations = validator.violations(of: event, nowMilliseconds: now)
            guard violations.isEmpty else { throw BenchError("corpus event \(event.eventID) is invalid: \(violations)") }
            switch AuditEventSchema.encode(event, with: schema.schema) {
            case .success(let body):
                return (key: Array(event.tenantID.utf8), value: ConfluentWireFormat.encode(schemaID: schema.id, body: body), eventID: event.eventID)
            case .failure(let refused):
                throw BenchError("corpus event \(event.eventID) does not encode with schema id \(schema.id): \(refused.violations)")
            }
        }
    }
}

/// The schema registered for a subject, as the server encodes with it.
package struct RegisteredSchema: Sendable {
    package var subject: String
    package var id: Int32
    package var version: Int
    package var schemaJSON: String
    package var schema: AvroSchema

    package init(subject: String, id: Int32, version: Int, schemaJSON: String, schema: AvroSchema) {
        self.subject = subject
        self.id = id
        self.version = version
        self.schemaJSON = schemaJSON
        self.schema = schema
    }
}

/// Reads the latest schema of a subject from a Confluent-compatible registry (AuditPipe's own on
/// its HTTP port): `GET /subjects/{subject}/versions/latest`.
package enum BenchRegistry {
    /// The latest version of `subject` at `baseURL`.
    ///
    /// - Throws: `BenchError` when the registry cannot be reached or has no such subject.
    package static func latest(subject: String, baseURL: String, httpClient: HTTPClient) async throws -> RegisteredSchema {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        let escaped = subject.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? subject
        let url = "\(base)/subjects/\(escaped)/versions/latest"
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await httpClient.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
            body = try await response.body.collect(upTo: 4 * 1024 * 1024)
        } catch {
            throw BenchError("cannot read \(url): \(error); is `auditpipe serve` running with its HTTP port at \(base)?")
        }
        guard response.status == .ok else {
            throw BenchError("\(url) answered \(response.status.code): \(String(buffer: body)); does the server use events topic `\(subject.replacingOccurrences(of: "-value", with: ""))`?")
        }
        struct Version: Decodable {
            var id: Int32
            var version: Int
            var schema: String
        }
        let decoded: Version
        do {
            decoded = try JSONDecoder().decode(Version.self, from: Data(body.readableBytesView))
        } catch {
            throw BenchError("\(url) did not answer a registry version object: \(error)")
        }
        let schema: AvroSchema
        do {
            schema = try AvroSchema(parsing: decoded.schema)
        } catch {
            throw BenchError("the schema of \(subject) (id \(decoded.id)) does not parse: \(error)")
        }
        return RegisteredSchema(subject: subject, id: decoded.id, version: decoded.version, schemaJSON: decoded.schema, schema: schema)
    }
}
