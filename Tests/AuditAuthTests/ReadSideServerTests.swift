import AuditAuth
import AuditPipeProto
import AuditPipeTestSupport
import AuditQuery
import AuditServer
import ClickHouseHTTP
import Foundation
import NIOCore
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import SwiftProtobuf
import Synchronization
import Testing

/// The read-side handlers as the server wires them: authenticate (interceptor), resolve the
/// tenant from the credentials, then run the report. (The production handler lives in
/// AuditServer; this one exercises the same AuditAuth and AuditQuery calls end to end.)
struct ReadSideTestService: Auditpipe_V1_AuditService.SimpleServiceProtocol {
    static let queryIDPrefix = "read-side-test-\(UUID())"
    let executor: ComplianceReportExecutor

    func ingest(request: RPCAsyncSequence<Auditpipe_V1_IngestRequest, any Error>, response: RPCWriter<Auditpipe_V1_IngestResult>, context: ServerContext) async throws {
        throw RPCError(code: .unimplemented, message: "not in this test")
    }

    func ingestBatch(request: Auditpipe_V1_IngestBatchRequest, context: ServerContext) async throws -> Auditpipe_V1_IngestBatchResponse {
        let principal = try Principal.required()
        for event in request.events { try principal.authorize(tenant: event.tenantID, role: .ingest) }
        return .init()
    }

    func verify(request: Auditpipe_V1_VerifyRequest, context: ServerContext) async throws -> Auditpipe_V1_VerifyResponse {
        throw RPCError(code: .unimplemented, message: "Verify is not part of this test")
    }

    func recentEvents(request: Auditpipe_V1_RecentEventsRequest, context: ServerContext) async throws -> Auditpipe_V1_RecentEventsResponse {
        _ = try Principal.required().resolveTenant(request.tenantID, role: .recentEvents)
        return .init()
    }

    func complianceReport(request: Auditpipe_V1_ComplianceReportRequest, response: RPCWriter<Auditpipe_V1_ComplianceReportChunk>, context: ServerContext) async throws {
        throw RPCError(code: .internalError, message: "ComplianceReport is registered by ReportBytesService")
    }
}

/// ComplianceReport as the server sends it: each chunk's bytes as the executor encoded them (no
/// message is decoded or encoded again). Registered after ``ReadSideTestService``, whose
/// registration of the method it replaces.
struct ReportBytesService: RegistrableRPCService {
    let executor: ComplianceReportExecutor

    struct ChunkBytesSerializer: MessageSerializer {
        func serialize<Bytes: GRPCContiguousBytes>(_ chunk: ReportChunk) throws -> Bytes {
            Bytes(chunk.bytes.readableBytesView)
        }
    }

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(
            forMethod: Auditpipe_V1_AuditService.Method.ComplianceReport.descriptor,
            deserializer: ProtobufDeserializer<Auditpipe_V1_ComplianceReportRequest>(),
            serializer: ChunkBytesSerializer()
        ) { request, context in
            let single = try await ServerRequest(stream: request)
            let tenant = try Principal.required().resolveTenant(single.message.tenantID, role: .reports)
            let statement = try executor.statement(for: ComplianceReportQuery(single.message, tenantID: tenant))
            return StreamingServerResponse(metadata: [:]) { writer in
                // Query ids this suite can tell from other suites' report queries running meanwhile.
                try await executor.run(statement, queryID: "\(ReadSideTestService.queryIDPrefix)-\(UUID())") { try await writer.write($0) }
                return [:]
            }
        }
    }
}

/// PEM files made with openssl at test time: a CA, a server certificate for localhost and a
/// client certificate with CN reports.acme.example, both signed by the CA.
struct TestPKI {
    let directory: URL
    var path: (String) -> String { { directory.appendingPathComponent($0).path } }

    static func make() throws -> TestPKI {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("pki"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let script = """
            set -e
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj '/CN=AuditPipe Test CA' \
              -keyout ca.key -out ca.pem 2>/dev/null
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=localhost' -keyout server.key -out server.csr 2>/dev/null
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile server.ext -out server.pem 2>/dev/null
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=reports.acme.example' -keyout client.key -out client.csr 2>/dev/null
            printf 'extendedKeyUsage=clientAuth\\n' > client.ext
            openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile client.ext -out client.pem 2>/dev/null
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=intruder.example' -keyout intruder.key -out intruder.csr 2>/dev/null
            openssl x509 -req -in intruder.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile client.ext -out intruder.pem 2>/dev/null
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        process.currentDirectoryURL = directory
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("openssl failed with status \(process.terminationStatus)") }
        return TestPKI(directory: directory)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// A value set from a `@Sendable` closure and read afterwards.
final class RecordedValue: Sendable {
    private let storage = Mutex(-1)
    func set(_ value: Int) { storage.withLock { $0 = value } }
    var value: Int { storage.withLock { $0 } }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite("Read side over gRPC: authentication, tenant isolation, TLS", .serialized, .enabled(if: TestService.available(.clickhouse, .clickhouseUser, .clickhousePassword)))
struct ReadSideServerTests {
    static let acmeKey = "ap_acme-reports-key-0123456789"
    static let globexKey = "ap_globex-reports-key-0123456789"
    static let ingestOnlyKey = "ap_acme-ingest-only-key-0123456789"
    // 2026-03-01 and 2026-04-01 (UTC).
    static let march = (from: Int64(1_772_323_200_000), to: Int64(1_775_001_600_000))

    static let authConfiguration = try! AuthConfiguration.parse(json: Data("""
        {
          "api_keys": [
            { "name": "acme", "sha256": "\(APIKeys.sha256Hex(of: acmeKey))", "tenants": ["acme"], "roles": ["reports", "recent-events"] },
            { "name": "globex", "sha256": "\(APIKeys.sha256Hex(of: globexKey))", "tenants": ["globex"], "roles": ["reports"] },
            { "name": "acme-ingest", "sha256": "\(APIKeys.sha256Hex(of: ingestOnlyKey))", "tenants": ["acme"], "roles": ["ingest"] }
          ],
          "client_certificates": [
            { "name": "acme-cert", "common_name": "reports.acme.example", "tenants": ["acme"], "roles": ["reports"] }
          ]
        }
        """.utf8))

    /// A database with acme and globex events in March 2026; `inj*` events carry injection strings.
    static func makeData(rows: Int, padding: Int) async throws -> (ClickHouseClient, String) {
        let client = try ClickHouseClient(configuration: ClickHouseConfiguration(
            url: try TestService.clickhouse.value, user: try TestService.clickhouseUser.value, password: try TestService.clickhousePassword.value))
        let database = TestEnvironment.uniqueName("rs_grpc")
        do {
            try await fillData(client, database, rows: rows, padding: padding)
        } catch {
            _ = try? await client.execute("DROP DATABASE IF EXISTS {db:Identifier}", parameters: ["db": .string(database)])
            try? await client.shutdown()
            throw error
        }
        return (client, database)
    }

    static func fillData(_ client: ClickHouseClient, _ database: String, rows: Int, padding: Int) async throws {
        try await client.execute("CREATE DATABASE {db:Identifier}", parameters: ["db": .string(database)])
        try await client.execute("""
            CREATE TABLE {db:Identifier}.audit_events (
                tenant_id LowCardinality(String), event_type LowCardinality(String), timestamp DateTime64(3, 'UTC'),
                event_id String, actor_id String, resource String, action LowCardinality(String), metadata Map(String, String),
                ingested_at DateTime64(3, 'UTC'), schema_id Int32, kafka_partition Int32, kafka_offset Int64, insert_token String
            ) ENGINE = MergeTree PARTITION BY toYYYYMM(timestamp) ORDER BY (tenant_id, event_type, timestamp)
            """, parameters: ["db": .string(database)])
        try await client.execute("""
            INSERT INTO {db:Identifier}.audit_events
                (tenant_id, event_type, timestamp, event_id, actor_id, resource, action, metadata, ingested_at, schema_id, kafka_partition, kafka_offset)
            SELECT ['acme', 'globex'][number % 2 + 1], 'auth', fromUnixTimestamp64Milli(toInt64({from:Int64} + number * 60000), 'UTC'),
                   'e' || toString(number), 'alice', 'doc/1', 'login',
                   if({padding:UInt64} = 0, map('ip', '10.0.0.1'), map('ip', '10.0.0.1', 'pad', repeat('x', {padding:UInt64}))),
                   now64(3), 1, 0, toInt64(number)
            FROM numbers({rows:UInt64})
            """, parameters: ["db": .string(database), "from": .integer(march.from), "rows": .integer(rows), "padding": .integer(padding)])
    }

    /// Runs a server (plaintext or TLS) with the interceptor and the test service, and a client.
    static func withServer(
        tls: GRPCTLSConfiguration? = nil,
        clientSecurity: HTTP2ClientTransport.Posix.TransportSecurity = .plaintext,
        rows: Int = 1000,
        padding: Int = 0,
        _ body: @Sendable (Auditpipe_V1_AuditService.Client<HTTP2ClientTransport.Posix>, Int) async throws -> Void
    ) async throws {
        let (clickHouse, database) = try await makeData(rows: rows, padding: padding)
        do {
            let executor = ComplianceReportExecutor(client: clickHouse, table: AuditEventsTable(database: database), cursors: ReportCursorCodec(), pieceBytes: 1 << 20, chunkBytes: 16 << 10)
            let transport = HTTP2ServerTransport.Posix(
                address: .ipv4(host: "127.0.0.1", port: 0),
                transportSecurity: try tls?.transportSecurity() ?? .plaintext
            )
            let server = GRPCServer(
                transport: transport,
                services: [ReadSideTestService(executor: executor), ReportBytesService(executor: executor)],
                interceptors: [AuthenticationInterceptor(authenticator: try Authenticator(configuration: authConfiguration))]
            )
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                defer { server.beginGracefulShutdown() }
                let port = try #require(try await transport.listeningAddress.ipv4?.port)
                let client = GRPCClient(transport: try HTTP2ClientTransport.Posix(target: .dns(host: "localhost", port: port), transportSecurity: clientSecurity))
                group.addTask { try await client.runConnections() }
                defer { client.beginGracefulShutdown() }
                try await body(Auditpipe_V1_AuditService.Client(wrapping: client), port)
            }
        } catch {
            _ = try? await clickHouse.execute("DROP DATABASE IF EXISTS {db:Identifier}", parameters: ["db": .string(database)])
            try? await clickHouse.shutdown()
            throw error
        }
        _ = try? await clickHouse.execute("DROP DATABASE IF EXISTS {db:Identifier}", parameters: ["db": .string(database)])
        try await clickHouse.shutdown()
    }

    static func report(
        _ client: Auditpipe_V1_AuditService.Client<HTTP2ClientTransport.Posix>,
        key: String?,
        _ edit: (inout Auditpipe_V1_ComplianceReportRequest) -> Void = { _ in }
    ) async throws -> [Auditpipe_V1_StoredEvent] {
        var request = Auditpipe_V1_ComplianceReportRequest()
        request.tenantID = "acme"
        request.fromMs = march.from
        request.toMs = march.to
        edit(&request)
        var metadata = Metadata()
        if let key { metadata.addString("Bearer \(key)", forKey: "authorization") }
        return try await client.complianceReport(request: ClientRequest(message: request, metadata: metadata)) { response in
            var events: [Auditpipe_V1_StoredEvent] = []
            for try await chunk in response.messages { events.append(contentsOf: chunk.events) }
            return events
        }
    }

    static func expectCode(_ code: RPCError.Code, _ message: String? = nil, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            try await body()
            Issue.record("expected \(code), the call succeeded", sourceLocation: sourceLocation)
        } catch let error as RPCError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            if let message { #expect(error.message.contains(message), "\(error.message)", sourceLocation: sourceLocation) }
        } catch {
            Issue.record("expected RPCError \(code), got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func authenticationAndTenantIsolation() async throws {
        try await Self.withServer { client, _ in
            // The right key sees its own tenant's events, all of them, and only those.
            let acme = try await Self.report(client, key: Self.acmeKey)
            #expect(acme.count == 500)
            #expect(acme.allSatisfy { $0.event.tenantID == "acme" })
            // A single-tenant key may leave the tenant out: it comes from the credentials.
            let implicit = try await Self.report(client, key: Self.acmeKey) { $0.tenantID = "" }
            #expect(implicit.map(\.event.eventID) == acme.map(\.event.eventID))

            await Self.expectCode(.unauthenticated, "missing credentials") { _ = try await Self.report(client, key: nil) }
            await Self.expectCode(.unauthenticated, "invalid API key") { _ = try await Self.report(client, key: "ap_not-a-configured-key-000000") }
            await Self.expectCode(.unauthenticated) { _ = try await Self.report(client, key: APIKeys.sha256Hex(of: Self.acmeKey)) }
            // Forged tenant: acme's key asks for globex's events.
            await Self.expectCode(.permissionDenied, "may not act for tenant 'globex'") {
                _ = try await Self.report(client, key: Self.acmeKey) { $0.tenantID = "globex" }
            }
            // Injection in the tenant field is just another tenant name: denied.
            await Self.expectCode(.permissionDenied) {
                _ = try await Self.report(client, key: Self.acmeKey) { $0.tenantID = "acme' OR tenant_id = 'globex" }
            }
            // A key without the reports role.
            await Self.expectCode(.permissionDenied, "lack the role 'reports'") { _ = try await Self.report(client, key: Self.ingestOnlyKey) }
            // globex sees only globex.
            let globex = try await Self.report(client, key: Self.globexKey) { $0.tenantID = "globex" }
            #expect(globex.count == 500 && globex.allSatisfy { $0.event.tenantID == "globex" })
            // Bad requests name the field.
            await Self.expectCode(.invalidArgument, "to_ms") { _ = try await Self.report(client, key: Self.acmeKey) { $0.toMs = $0.fromMs } }
            // A cursor of globex's report does not work for acme.
            var globexRequest = Auditpipe_V1_ComplianceReportRequest()
            globexRequest.tenantID = "globex"
            globexRequest.fromMs = Self.march.from
            globexRequest.toMs = Self.march.to
            let globexCursor = try await client.complianceReport(
                request: ClientRequest(message: globexRequest, metadata: ["authorization": "Bearer \(Self.globexKey)"])
            ) { response in
                var cursor = ""
                for try await chunk in response.messages where cursor.isEmpty { cursor = chunk.nextCursor }
                return cursor
            }
            await Self.expectCode(.invalidArgument, "cursor") { _ = try await Self.report(client, key: Self.acmeKey) { $0.cursor = globexCursor } }
            // RecentEvents: same rules.
            _ = try await client.recentEvents(request: ClientRequest(message: .with { $0.tenantID = "acme"; $0.actorID = "alice" }, metadata: ["authorization": "Bearer \(Self.acmeKey)"]))
            await Self.expectCode(.permissionDenied) {
                _ = try await client.recentEvents(request: ClientRequest(message: .with { $0.tenantID = "globex"; $0.actorID = "alice" }, metadata: ["authorization": "Bearer \(Self.acmeKey)"]))
            }
            await Self.expectCode(.unauthenticated) {
                _ = try await client.recentEvents(request: ClientRequest(message: .with { $0.tenantID = "acme"; $0.actorID = "alice" }))
            }
        }
    }

    @Test func injectionAttemptsInEveryFilterReturnNoOtherTenantsRows() async throws {
        let values = ["x' OR 1=1 --", "\\", "\0", "'", "') OR ('1'='1", "globex", "%", "{tenant:String}", "acme' OR tenant_id = 'globex"]
        try await Self.withServer { client, _ in
            for value in values {
                let edits: [(String, @Sendable (inout Auditpipe_V1_ComplianceReportRequest) -> Void)] = [
                    ("event_types", { $0.eventTypes = [value] }),
                    ("actor_ids", { $0.actorIds = [value] }),
                    ("resources", { $0.resources = [value] }),
                    ("actions", { $0.actions = [value] }),
                    ("metadata key", { $0.metadataEquals = [value: "10.0.0.1"] }),
                    ("metadata value", { $0.metadataEquals = ["ip": value] }),
                    ("every filter", { $0.eventTypes = [value, "auth"]; $0.actorIds = [value, "alice"]; $0.resources = [value, "doc/1"]; $0.actions = [value, "login"] }),
                ]
                for (name, edit) in edits {
                    let events = try await Self.report(client, key: Self.acmeKey, edit)
                    #expect(events.allSatisfy { $0.event.tenantID == "acme" }, "\(name) = \(value.debugDescription)")
                    #expect(events.count == (name == "every filter" ? 500 : 0), "\(name) = \(value.debugDescription)")
                }
            }
        }
    }

    /// The caller's deadline passes while the report streams: the call ends with
    /// DEADLINE_EXCEEDED and no ClickHouse query of it is left (system.processes). A slow reader
    /// holds no query open meanwhile: each piece of the report is read whole before it is sent.
    @Test func callerDeadlineKillsTheClickHouseQuery() async throws {
        try await Self.withServer(rows: 400_000, padding: 500) { client, _ in
            let observer = try ClickHouseClient(configuration: ClickHouseConfiguration(
                url: try TestService.clickhouse.value, user: try TestService.clickhouseUser.value, password: try TestService.clickhousePassword.value))
            @Sendable func reportQueriesRunning() async throws -> Int {
                let body = try await observer.queryCollecting(
                    "SELECT count() FROM system.processes WHERE startsWith(query_id, {prefix:String}) FORMAT TabSeparated",
                    parameters: ["prefix": .string(ReadSideTestService.queryIDPrefix)])
                return Int(String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            }
            var options = CallOptions.defaults
            options.timeout = .seconds(2)
            var request = Auditpipe_V1_ComplianceReportRequest()
            request.tenantID = "acme"
            request.fromMs = Self.march.from
            request.toMs = Self.march.to + 365 * 86_400_000
            let runningDuringCall = RecordedValue()
            do {
                try await client.complianceReport(
                    request: ClientRequest(message: request, metadata: ["authorization": "Bearer \(Self.acmeKey)"]), options: options
                ) { response in
                    var chunks = 0
                    for try await _ in response.messages {
                        chunks += 1
                        if chunks == 1 {
                            // The next piece, fetched meanwhile, has long been read whole.
                            try await Task.sleep(for: .milliseconds(1000))
                            runningDuringCall.set(try await reportQueriesRunning())
                        }
                        try await Task.sleep(for: .milliseconds(100)) // a slow reader
                    }
                }
                Issue.record("the report finished before its deadline")
            } catch let error as RPCError {
                #expect(error.code == .deadlineExceeded, "\(error)")
            }
            #expect(runningDuringCall.value == 0, "a query of the report ran while its reader paused")
            var running = -1
            for _ in 0..<50 {
                running = try await reportQueriesRunning()
                if running == 0 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(running == 0, "the ClickHouse query still runs after the caller's deadline")
            try await observer.shutdown()
        }
    }

    @Test func serverTLS() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let tls = GRPCTLSConfiguration(certificateChainPath: pki.path("server.pem"), privateKeyPath: pki.path("server.key"))
        try await Self.withServer(tls: tls, clientSecurity: .tls { $0.trustRoots = .certificates([.file(path: pki.path("ca.pem"), format: .pem)]) }) { client, _ in
            let events = try await Self.report(client, key: Self.acmeKey)
            #expect(events.count == 500)
            await Self.expectCode(.unauthenticated) { _ = try await Self.report(client, key: nil) }
        }
        // A client that does not trust the server's CA cannot connect.
        try await Self.withServer(tls: tls, clientSecurity: .tls { $0.trustRoots = .certificates([]) }) { client, _ in
            await Self.expectCode(.unavailable) { _ = try await Self.report(client, key: Self.acmeKey) }
        }
        // A plaintext client cannot talk to the TLS port.
        try await Self.withServer(tls: tls, clientSecurity: .plaintext) { client, _ in
            await Self.expectCode(.unavailable) { _ = try await Self.report(client, key: Self.acmeKey) }
        }
    }

    @Test func mutualTLSMapsTheClientCertificateToAPrincipal() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let tls = GRPCTLSConfiguration(certificateChainPath: pki.path("server.pem"), privateKeyPath: pki.path("server.key"), clientCAPath: pki.path("ca.pem"))
        let trust: TLSConfig.TrustRootsSource = .certificates([.file(path: pki.path("ca.pem"), format: .pem)])
        // The mapped certificate needs no API key.
        try await Self.withServer(tls: tls, clientSecurity: .mTLS(certificateChain: [.file(path: pki.path("client.pem"), format: .pem)], privateKey: .file(path: pki.path("client.key"), format: .pem)) { $0.trustRoots = trust }) { client, _ in
            let events = try await Self.report(client, key: nil)
            #expect(events.count == 500 && events.allSatisfy { $0.event.tenantID == "acme" })
            await Self.expectCode(.permissionDenied) { _ = try await Self.report(client, key: nil) { $0.tenantID = "globex" } }
        }
        // A valid certificate that is not mapped is unauthenticated.
        try await Self.withServer(tls: tls, clientSecurity: .mTLS(certificateChain: [.file(path: pki.path("intruder.pem"), format: .pem)], privateKey: .file(path: pki.path("intruder.key"), format: .pem)) { $0.trustRoots = trust }) { client, _ in
            await Self.expectCode(.unauthenticated, "intruder.example") { _ = try await Self.report(client, key: nil) }
        }
        // Without a client certificate the handshake fails.
        try await Self.withServer(tls: tls, clientSecurity: .tls { $0.trustRoots = trust }) { client, _ in
            await Self.expectCode(.unavailable) { _ = try await Self.report(client, key: Self.acmeKey) }
        }
    }
}
