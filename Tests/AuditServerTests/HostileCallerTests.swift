import AuditEvents
import AuditPipeClient
import AuditPipeProto
import AuditPipeTestSupport
import AuditServer
import Foundation
import SwiftProtobuf
import Synchronization
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// What a careless or hostile caller sees, over real connections: Python grpcio (whose C core
/// honours the server's MAX_CONCURRENT_STREAMS) and the Swift client.
@Suite("Hostile callers", .enabled(if: TestService.available(.kafka, .kafkaControl, .python)))
struct HostileCallerTests {
    @Test("spoofable ids, oversized requests, too many streams and idle streams each get a clear answer")
    func hostileRequestsGetClearAnswers() async throws {
        var configuration = try testConfiguration()
        configuration.grpcStreamIdleTimeoutMilliseconds = 1000
        let stubs = try await generatePythonStubs()
        defer { try? FileManager.default.removeItem(at: stubs) }
        let client = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/AuditServerTests/hostile_client.py").path
        let output = try await withServer(configuration) { server in
            _ = try await eventuallyHTTP(port: server.httpPort, path: "/readyz") { !$0.contains("not ready") }
            return try await runPython([client, stubs.path, "127.0.0.1:\(server.grpcPort)", TestEnvironment.uniqueName("hostile")])
        }
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")

        // 1. Blank ids and invisible format characters are refused, naming the field and rule.
        let identifiers = try #require(report["identifiers"] as? [[String: Any]])
        #expect(identifiers.map { $0["status"] as? String } == ["INGEST_STATUS_DURABLE", "INGEST_STATUS_INVALID", "INGEST_STATUS_INVALID"])
        #expect(identifiers[1]["rules"] as? [String] == ["tenant_id blank"])
        #expect(identifiers[2]["rules"] as? [String] == ["tenant_id format_characters"])

        // 2. Over 16 MiB: RESOURCE_EXHAUSTED naming the limit and what to do, never a reset.
        for name in ["oversize_20mib", "oversize_64mb"] {
            let answer = try #require(report[name] as? [String: Any], "\(name)")
            #expect(answer["code"] as? String == "RESOURCE_EXHAUSTED", "\(name): \(answer)")
            let message = answer["message"] as? String ?? ""
            #expect(message.contains("16777216 bytes") && message.contains("Split the batch"), "\(name): \(message)")
        }
        let tooMany = try #require(report["too_many_events"] as? [String: Any])
        #expect(tooMany["code"] as? String == "INVALID_ARGUMENT", "\(tooMany)")
        #expect((tooMany["message"] as? String ?? "").contains("the limit is 10000"), "\(tooMany)")

        // 3. 300 streams on one connection: queued by the client, all durable.
        #expect(report["streams"] as? [String: Int] == ["DURABLE": 300], "\(report["streams"] ?? "-")")

        // 4. An Ingest stream that sends nothing is ended after the idle timeout (1 s here,
        //    checked every quarter of it: 1 to 1.5 s) with DEADLINE_EXCEEDED and a reason.
        let idle = try #require(report["idle"] as? [String: Any])
        #expect(idle["code"] as? String == "DEADLINE_EXCEEDED", "\(idle)")
        #expect((idle["message"] as? String ?? "").contains("grpc.stream_idle_timeout_ms"), "\(idle)")
        let seconds = idle["seconds"] as? Double ?? 0
        #expect(seconds >= 0.9 && seconds < 10, "\(idle)")
    }

    @Test("/readyz and the gRPC health service say not serving until Ingest can accept, then serving")
    func readinessTellsTheTruth() async throws {
        // Server A takes its schemas from server B's registry, which is not running yet.
        var registryHost = try testConfiguration()
        registryHost.httpAddress = HostAndPort(host: "127.0.0.1", port: try unusedLocalPort())
        var configuration = try testConfiguration()
        configuration.eventsTopic = registryHost.eventsTopic
        configuration.schemaRegistryURL = "http://127.0.0.1:\(registryHost.httpAddress.port)"
        try await withServer(configuration) { server in
            let (body, status) = try await eventuallyHTTP(port: server.httpPort, path: "/readyz") { $0.contains("kafka: ok") }
            #expect(status == 503 && body.contains("registry: not ready"), "\(body)")
            #expect(try await healthStatus(port: server.grpcPort) == .notServing)
            try await withClient(port: server.grpcPort) { client in
                let results = try await client.ingestBatch([AuditEvent.new(tenant: "ready", actor: "a", type: "auth", resource: "r", action: "login")])
                guard case .unavailable = results.first else { Issue.record("not ready, yet: \(results)"); return }
            }

            try await withServer(registryHost) { _ in
                let (ready, readyStatus) = try await eventuallyHTTP(port: server.httpPort, path: "/readyz") { !$0.contains("not ready") }
                #expect(readyStatus == 200, "\(ready)")
                #expect(try await healthStatus(port: server.grpcPort) == .serving)
                // Ready means Ingest accepts: the first event is durable, no retry needed.
                try await withClient(port: server.grpcPort) { client in
                    let results = try await client.ingestBatch([AuditEvent.new(tenant: "ready", actor: "a", type: "auth", resource: "r", action: "login")])
                    #expect(results.map(\.isDurable) == [true], "\(results)")
                }
            }
        }
    }
}

@Suite("Graceful shutdown with open Ingest streams", .enabled(if: TestService.available(.kafka, .kafkaControl)))
struct IngestShutdownTests {
    @Test("a graceful shutdown answers what a stream sent, ends it with UNAVAILABLE and finishes promptly")
    func openStreamsEndAtShutdown() async throws {
        let configuration = try testConfiguration()
        let clock = ContinuousClock()
        let (answered, answeredContinuation) = AsyncStream.makeStream(of: Void.self)
        let (stream, shutdownStarted) = try await withServer(configuration) { server in
            _ = try await eventuallyHTTP(port: server.httpPort, path: "/readyz") { !$0.contains("not ready") }
            // A caller that sends one event, then keeps its stream open without sending more.
            let stream = Task { () -> (results: Int, error: RPCError?) in
                let results = Atomic<Int>(0)
                do {
                    try await withGRPCClient(transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: server.grpcPort), transportSecurity: .plaintext)) { client in
                        let service = Auditpipe_V1_AuditService.Client(wrapping: client)
                        try await service.ingest(requestProducer: { writer in
                            var request = Auditpipe_V1_IngestRequest()
                            request.event = .with {
                                $0.eventID = UUIDv7.make(milliseconds: Int64(Date().timeIntervalSince1970 * 1000))
                                $0.tenantID = "shutdown"
                                $0.actorID = "a"
                                $0.eventType = "auth"
                                $0.resource = "r"
                                $0.action = "login"
                                $0.timestampMs = Int64(Date().timeIntervalSince1970 * 1000)
                            }
                            try await writer.write(request)
                            try await Task.sleep(for: .seconds(120))
                        }) { response in
                            for try await _ in response.messages {
                                results.add(1, ordering: .relaxed)
                                answeredContinuation.yield()
                            }
                        }
                    }
                    return (results.load(ordering: .relaxed), nil)
                } catch let error as RPCError {
                    return (results.load(ordering: .relaxed), error)
                } catch {
                    return (results.load(ordering: .relaxed), RPCError(code: .unknown, message: "\(error)"))
                }
            }
            var iterator = answered.makeAsyncIterator()
            _ = await iterator.next()
            return (stream, clock.now)
        }
        let shutdownTook = clock.now - shutdownStarted
        let (results, error) = await stream.value
        #expect(results == 1)
        #expect(error?.code == .unavailable, "\(String(describing: error))")
        #expect(error?.message.contains("shutting down") == true, "\(String(describing: error))")
        // Without the drain the server would wait for the caller to close its stream.
        #expect(shutdownTook < .seconds(10), "\(shutdownTook)")
    }
}

/// The gRPC health service's answer for `auditpipe.v1.AuditService`.
func healthStatus(port: Int) async throws -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
    try await withGRPCClient(transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)) { client in
        let health = Grpc_Health_V1_Health.Client(wrapping: client)
        var request = Grpc_Health_V1_HealthCheckRequest()
        request.service = "auditpipe.v1.AuditService"
        return try await health.check(request: ClientRequest(message: request)).status
    }
}

/// Python grpcio stubs generated from Protos/ into a temporary folder (remove it after use).
func generatePythonStubs() async throws -> URL {
    let stubs = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("stubs"))
    try FileManager.default.createDirectory(at: stubs, withIntermediateDirectories: true)
    let protos = TestEnvironment.repositoryRoot.appendingPathComponent("Protos").path
    _ = try await runPython([
        "-m", "grpc_tools.protoc", "-I", protos, "--python_out=\(stubs.path)", "--grpc_python_out=\(stubs.path)",
        "\(protos)/auditpipe/v1/audit.proto",
    ])
    return stubs
}
