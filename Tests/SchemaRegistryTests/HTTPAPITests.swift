import AuditPipeTestSupport
import AvroCodec
import Foundation
import NIOHTTP1
import SchemaRegistry
import Testing

@Suite("Registry HTTP API and client, through a real Hummingbird server")
struct HTTPAPITests {
    @Test("Confluent paths, bodies, status codes and error codes")
    func rawAPI() async throws {
        let registry = try await RunningRegistry(log: InMemoryRegistryLog())
        let server = try await RunningHTTPServer(registry: registry.service)
        let base = server.baseURL

        var r = try await http(.GET, "\(base)/schemas/types")
        #expect(r.status == 200 && r.body == #"["AVRO"]"#)
        #expect(r.contentType == "application/vnd.schemaregistry.v1+json")

        r = try await http(.POST, "\(base)/subjects/orders-value/versions", body: schemaBody(TestSchemas.v1))
        #expect(r.status == 200 && r.body == #"{"id":1}"#, "\(r.body)")
        // application/json is accepted too; idempotent.
        r = try await http(.POST, "\(base)/subjects/orders-value/versions", body: schemaBody(TestSchemas.v1), contentType: "application/json")
        #expect(r.status == 200 && r.body == #"{"id":1}"#)
        // Other content types: 415.
        r = try await http(.POST, "\(base)/subjects/orders-value/versions", body: schemaBody(TestSchemas.v1), contentType: "text/plain")
        #expect(r.status == 415)
        // Invalid schema: 422 / 42201.
        r = try await http(.POST, "\(base)/subjects/orders-value/versions", body: schemaBody(#"{"type":"record","name":"X"}"#))
        #expect(r.status == 422 && errorCode(r) == 42201, "\(r.body)")
        // Non-Avro types and references: 42201.
        r = try await http(.POST, "\(base)/subjects/orders-value/versions", body: #"{"schema":"{}","schemaType":"PROTOBUF"}"#)
        #expect(r.status == 422 && errorCode(r) == 42201)
        // Incompatible under the default BACKWARD: 409 / 409.
        r = try await http(.POST, "\(base)/subjects/orders-value/versions", body: schemaBody(TestSchemas.v2AddedNoDefault))
        #expect(r.status == 409 && errorCode(r) == 409, "\(r.body)")
        r = try await http(.POST, "\(base)/subjects/orders-value/versions", body: schemaBody(TestSchemas.v2WithDefault))
        #expect(r.body == #"{"id":2}"#)
        // The same schema under another subject shares its id (subject names are URL-decoded).
        r = try await http(.POST, "\(base)/subjects/other%2Fsubject/versions", body: schemaBody(TestSchemas.v1))
        #expect(r.body == #"{"id":1}"#)

        r = try await http(.GET, "\(base)/subjects")
        #expect(r.json as? [String] == ["orders-value", "other/subject"])
        r = try await http(.GET, "\(base)/subjects/orders-value/versions")
        #expect(r.json as? [Int] == [1, 2])
        r = try await http(.GET, "\(base)/subjects/orders-value/versions/latest")
        let latest = r.json as? [String: Any]
        #expect(latest?["subject"] as? String == "orders-value")
        #expect(latest?["version"] as? Int == 2)
        #expect(latest?["id"] as? Int == 2)
        #expect(latest?["schema"] as? String == TestSchemas.v2WithDefault)
        r = try await http(.GET, "\(base)/subjects/orders-value/versions/1/schema")
        #expect(r.body == TestSchemas.v1)
        r = try await http(.GET, "\(base)/subjects/orders-value/versions/9")
        #expect(r.status == 404 && errorCode(r) == 40402)
        r = try await http(.GET, "\(base)/subjects/orders-value/versions/zero")
        #expect(r.status == 422 && errorCode(r) == 42202)
        r = try await http(.GET, "\(base)/subjects/nope/versions")
        #expect(r.status == 404 && errorCode(r) == 40401)

        r = try await http(.GET, "\(base)/schemas/ids/1")
        #expect((r.json as? [String: Any])?["schema"] as? String == TestSchemas.v1)
        r = try await http(.GET, "\(base)/schemas/ids/1/schema")
        #expect(r.body == TestSchemas.v1)
        r = try await http(.GET, "\(base)/schemas/ids/1/subjects")
        #expect(r.json as? [String] == ["orders-value", "other/subject"])
        r = try await http(.GET, "\(base)/schemas/ids/1/versions")
        #expect((r.json as? [[String: Any]])?.map { "\($0["subject"]!)@\($0["version"]!)" } == ["orders-value@1", "other/subject@1"])
        r = try await http(.GET, "\(base)/schemas/ids/99")
        #expect(r.status == 404 && errorCode(r) == 40403)

        // Lookup under a subject.
        r = try await http(.POST, "\(base)/subjects/orders-value", body: schemaBody(TestSchemas.v1))
        #expect((r.json as? [String: Any])?["version"] as? Int == 1 && (r.json as? [String: Any])?["id"] as? Int == 1)
        r = try await http(.POST, "\(base)/subjects/orders-value", body: schemaBody(TestSchemas.v2RemovedNoDefault))
        #expect(r.status == 404 && errorCode(r) == 40403)

        // Config.
        r = try await http(.GET, "\(base)/config")
        #expect(r.body == #"{"compatibilityLevel":"BACKWARD"}"#)
        r = try await http(.PUT, "\(base)/config/orders-value", body: #"{"compatibility":"forward"}"#)
        #expect(r.status == 200 && r.body == #"{"compatibility":"FORWARD"}"#)
        r = try await http(.GET, "\(base)/config/orders-value")
        #expect(r.body == #"{"compatibilityLevel":"FORWARD"}"#)
        r = try await http(.GET, "\(base)/config/other%2Fsubject")
        #expect(r.status == 404 && errorCode(r) == 40408)
        r = try await http(.GET, "\(base)/config/other%2Fsubject?defaultToGlobal=true")
        #expect(r.body == #"{"compatibilityLevel":"BACKWARD"}"#)
        r = try await http(.PUT, "\(base)/config", body: #"{"compatibility":"SIDEWAYS"}"#)
        #expect(r.status == 422 && errorCode(r) == 42203)

        // Compatibility checks (FORWARD now on orders-value).
        r = try await http(.POST, "\(base)/compatibility/subjects/orders-value/versions/latest", body: schemaBody(TestSchemas.v2RemovedNoDefault))
        #expect(r.body == #"{"is_compatible":false}"#, "\(r.body)")
        r = try await http(.POST, "\(base)/compatibility/subjects/orders-value/versions/latest?verbose=true", body: schemaBody(TestSchemas.v2RemovedNoDefault))
        let verbose = r.json as? [String: Any]
        #expect(verbose?["is_compatible"] as? Bool == false)
        #expect((verbose?["messages"] as? [String])?.contains { $0.contains("READER_FIELD_MISSING_DEFAULT_VALUE") } == true, "\(r.body)")
        r = try await http(.POST, "\(base)/compatibility/subjects/orders-value/versions", body: schemaBody(TestSchemas.v2AddedNoDefault))
        #expect(r.body == #"{"is_compatible":true}"#, "FORWARD allows adding a field without a default: \(r.body)")
        r = try await http(.DELETE, "\(base)/config/orders-value")
        #expect(r.body == #"{"compatibilityLevel":"FORWARD"}"#)

        // Deletes.
        r = try await http(.DELETE, "\(base)/subjects/orders-value/versions/1?permanent=true")
        #expect(r.status == 404 && errorCode(r) == 40407)
        r = try await http(.DELETE, "\(base)/subjects/orders-value/versions/1")
        #expect(r.status == 200 && r.body == "1")
        r = try await http(.GET, "\(base)/subjects/orders-value/versions")
        #expect(r.json as? [Int] == [2])
        r = try await http(.GET, "\(base)/subjects/orders-value/versions?deleted=true")
        #expect(r.json as? [Int] == [1, 2])
        r = try await http(.DELETE, "\(base)/subjects/orders-value?permanent=true")
        #expect(r.status == 404 && errorCode(r) == 40405)
        r = try await http(.DELETE, "\(base)/subjects/orders-value")
        #expect(r.json as? [Int] == [2])
        r = try await http(.DELETE, "\(base)/subjects/orders-value")
        #expect(r.status == 404 && errorCode(r) == 40404)
        r = try await http(.DELETE, "\(base)/subjects/orders-value?permanent=true")
        #expect(r.json as? [Int] == [1, 2])
        r = try await http(.GET, "\(base)/subjects?deleted=true")
        #expect(r.json as? [String] == ["other/subject"])

        await server.stop()
        await registry.stop()
    }

    @Test("SchemaRegistryClient against the served registry (under a path prefix)")
    func client() async throws {
        let registry = try await RunningRegistry(log: InMemoryRegistryLog())
        let server = try await RunningHTTPServer(registry: registry.service, prefix: "registry")
        let client = try SchemaRegistryClient(configuration: .init(baseURL: server.baseURL + "/registry/"), logger: testLogger)

        #expect(try await client.register(subject: "t-value", schema: TestSchemas.v1) == 1)
        #expect(try await client.register(subject: "t-value", schema: TestSchemas.v2WithDefault) == 2)
        do {
            _ = try await client.register(subject: "t-value", schema: TestSchemas.v2AddedNoDefault)
            Issue.record("expected 409")
        } catch {
            #expect(error.kind == .incompatibleSchema && error.errorCode == 409 && !error.isRetriable)
        }
        let latest = try await client.schema(subject: "t-value", version: .latest)
        #expect(latest.id == 2 && latest.version == 2 && latest.schema == TestSchemas.parse(TestSchemas.v2WithDefault))
        #expect(try await client.schema(subject: "t-value", version: .number(1)).id == 1)
        #expect(try await client.schema(id: 1) == TestSchemas.parse(TestSchemas.v1))
        #expect(try await client.lookup(subject: "t-value", schema: TestSchemas.v1).version == 1)
        let check = try await client.checkCompatibility(subject: "t-value", schema: TestSchemas.v2AddedNoDefault, verbose: true)
        #expect(!check.isCompatible && !check.messages.isEmpty)
        #expect(try await client.checkCompatibility(subject: "t-value", schema: TestSchemas.v2WithDefault).isCompatible)
        #expect(try await client.compatibilityLevel() == .backward)
        try await client.setCompatibilityLevel(.fullTransitive, subject: "t-value")
        #expect(try await client.compatibilityLevel(subject: "t-value") == .fullTransitive)
        try await client.deleteCompatibilityLevel(subject: "t-value")
        #expect(try await client.compatibilityLevel(subject: "t-value") == .backward)
        #expect(try await client.subjects() == ["t-value"])
        #expect(try await client.versions(subject: "t-value") == [1, 2])
        #expect(try await client.deleteVersion(subject: "t-value", version: .number(1)) == 1)
        #expect(try await client.deleteSubject("t-value") == [2])
        #expect(try await client.deleteSubject("t-value", permanent: true) == [1, 2])
        do {
            _ = try await client.schema(subject: "t-value", version: .latest)
            Issue.record("expected 40401")
        } catch {
            #expect(error.kind == .subjectNotFound && error.errorCode == 40401)
        }
        await server.stop()
        await registry.stop()
    }

    @Test("fail closed: registry down with a cold cache is a clear retriable error; cached schemas are served")
    func failClosed() async throws {
        let registry = try await RunningRegistry(log: InMemoryRegistryLog())
        let server = try await RunningHTTPServer(registry: registry.service)
        var configuration = SchemaRegistryClientConfiguration(baseURL: server.baseURL)
        configuration.latestTTL = .zero  // always refresh, so the stale path is exercised
        configuration.requestTimeout = .seconds(2)
        let client = try SchemaRegistryClient(configuration: configuration, logger: testLogger)
        let source = RegistrySchemaSource(client: client)
        let pinnedSource = RegistrySchemaSource(client: client, policy: SchemaVersionPolicy(pinned: ["pinned": 1]))

        _ = try await client.register(subject: "cached-value", schema: TestSchemas.v1)
        _ = try await client.register(subject: "pinned-value", schema: TestSchemas.v1)
        _ = try await client.register(subject: "cold-value", schema: TestSchemas.v2WithDefault)
        let warm = try await source.schema(forTopic: "cached")
        #expect(warm.subject == "cached-value" && warm.id == 1 && warm.version == 1)
        #expect(try await pinnedSource.schema(forTopic: "pinned").id == 1)
        let url = server.baseURL
        await server.stop()

        // Stale latest served while down; pinned version and id from the cache.
        let stale = try await source.schema(forTopic: "cached")
        #expect(stale == warm)
        #expect(try await pinnedSource.schema(forTopic: "pinned").id == 1)
        #expect(try await source.schema(id: 1) == TestSchemas.parse(TestSchemas.v1))

        // Nothing cached for this subject: refused, retriable, and says why.
        do {
            _ = try await source.schema(forTopic: "cold")
            Issue.record("expected the source to fail closed")
        } catch {
            #expect(error.kind == .unreachable)
            #expect(error.isRetriable)
            #expect(error.message.hasPrefix("schema registry at \(url) unreachable: "), "\(error.message)")
            #expect(error.message.contains("no cached schema for subject cold-value; events are refused until it is back"), "\(error.message)")
            #expect(error.message.components(separatedBy: "no cached schema").count == 2, "said once: \(error.message)")
        }
        // A pinned version never fetched: the same answer, said once.
        do {
            _ = try await RegistrySchemaSource(client: client, policy: SchemaVersionPolicy(pinned: ["cold": 1])).schema(forTopic: "cold")
            Issue.record("expected the pinned source to fail closed")
        } catch {
            #expect(error.kind == .unreachable && error.isRetriable)
            #expect(error.message.contains("no cached schema for subject cold-value; events are refused until it is back"), "\(error.message)")
            #expect(error.message.components(separatedBy: "no cached schema").count == 2, "said once: \(error.message)")
        }
        do {
            _ = try await source.schema(id: 2)
            Issue.record("expected unreachable")
        } catch {
            #expect(error.kind == .unreachable && error.isRetriable)
        }
        await registry.stop()
    }

    @Test("LocalSchemaSource reads the in-process registry (latest and pinned)")
    func localSource() async throws {
        let registry = try await RunningRegistry(log: InMemoryRegistryLog())
        _ = try await registry.service.register(subject: "audit-value", schema: TestSchemas.v1)
        _ = try await registry.service.register(subject: "audit-value", schema: TestSchemas.v2WithDefault)
        #expect(try await LocalSchemaSource(registry: registry.service).schema(forTopic: "audit").version == 2)
        let pinned = try await LocalSchemaSource(registry: registry.service, policy: .init(pinned: ["audit": 1])).schema(forTopic: "audit")
        #expect(pinned.id == 1 && pinned.schema == TestSchemas.parse(TestSchemas.v1))
        await #expect(throws: SchemaRegistryError.self) { try await LocalSchemaSource(registry: registry.service).schema(forTopic: "none") }
        await registry.stop()
    }
}

private func errorCode(_ response: RawResponse) -> Int? {
    (response.json as? [String: Any])?["error_code"] as? Int
}
