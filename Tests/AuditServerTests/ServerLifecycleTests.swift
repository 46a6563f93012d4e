import AuditPipeProto
import AuditPipeTestSupport
import AuditServer
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Prometheus
import ServiceLifecycle
import SwiftProtobuf
import Synchronization
import Testing

@Suite("Server lifecycle")
struct ServerLifecycleTests {
    @Test("the gRPC server answers a health check and stops on graceful shutdown", .enabled(if: TestService.available(.kafka, .kafkaControl)))
    func healthCheckAndGracefulShutdown() async throws {
        try await withServer(try testConfiguration()) { server in
            try await withGRPCClient(
                transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: server.grpcPort), transportSecurity: .plaintext)
            ) { client in
                let health = Grpc_Health_V1_Health.Client(wrapping: client)
                // The server serves once its registry has replayed its log.
                let overall = try await waitUntilServing(health)
                #expect(overall.status == .serving)
                let api = try await health.check(.with { $0.service = "auditpipe.v1.AuditService" })
                #expect(api.status == .serving)
                await #expect(throws: RPCError.self) {
                    _ = try await health.check(.with { $0.service = "no.such.Service" })
                }
            }
            let (body, status) = try await httpGet(port: server.httpPort, path: "/healthz")
            #expect(status == 200)
            #expect(body == "ok\n")
        }
    }

    @Test(
        "a setting found wrong after clients were opened stops the start naming it, and closes those clients",
        .enabled(if: TestService.available(.kafka, .kafkaControl, .clickhouse, .redis))
    )
    func failedStartClosesItsClients() async throws {
        var configuration = try fullPipelineConfiguration()
        // The sink's role opens the producer, the registry log and two ClickHouse clients
        // (AsyncHTTPClient's debug build traps when one is released without a shutdown); then
        // the recent role finds its Redis URL unusable.
        configuration.redisURL = "redis://127.0.0.1:6379/not-a-database"
        var logger = Logger(label: "test-server")
        logger.logLevel = .critical
        let server = try AuditPipeServer(configuration: configuration, metrics: sharedMetrics, logger: logger)
        let error = await #expect(throws: ConfigurationError.self) { try await server.run() }
        #expect(error?.setting == "AUDITPIPE_REDIS_URL", "\(String(describing: error))")
        #expect(error?.problem.contains("not-a-database") == true, "\(String(describing: error))")
    }

    @Test("`auditpipe serve` stops cleanly on SIGTERM", .enabled(if: TestService.available(.kafka)))
    func serveExitsOnSIGTERM() async throws {
        let binary = TestEnvironment.productsDirectory.appendingPathComponent("auditpipe")
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build the product first: swift build --build-tests")
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--kafka-brokers", try TestService.kafka.value]
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()

        // Wait for the "listening" log line, then ask the process to stop.
        let listening = try await waitForLine(containing: "AuditPipe is listening", in: stderr.fileHandleForReading, timeout: .seconds(30))
        #expect(listening)
        kill(process.processIdentifier, SIGTERM)
        let exited = await waitForExit(process, timeout: .seconds(15))
        #expect(exited, "auditpipe did not exit within 15 s of SIGTERM")
        if exited {
            #expect(process.terminationReason == .exit)
            #expect(process.terminationStatus == 0)
        } else {
            process.terminate()
        }
    }
}

/// Polls the health service until it answers SERVING (or 30 s pass) and returns the last answer.
func waitUntilServing(_ health: Grpc_Health_V1_Health.Client<some ClientTransport>) async throws -> Grpc_Health_V1_HealthCheckResponse {
    let deadline = ContinuousClock.now + .seconds(30)
    while true {
        let answer = try await health.check(.with { $0.service = "" })
        if answer.status == .serving || ContinuousClock.now > deadline { return answer }
        try await Task.sleep(for: .milliseconds(100))
    }
}

/// GET http://127.0.0.1:port/path, returning the body and the status code.
func httpGet(port: Int, path: String) async throws -> (String, Int) {
    let url = URL(string: "http://127.0.0.1:\(port)\(path)")!
    let (data, response) = try await URLSession.shared.data(from: url)
    return (String(decoding: data, as: UTF8.self), (response as? HTTPURLResponse)?.statusCode ?? 0)
}

func waitForLine(containing needle: String, in handle: FileHandle, timeout: Duration) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    let buffer = Mutex("")
    handle.readabilityHandler = { handle in
        let chunk = String(decoding: handle.availableData, as: UTF8.self)
        buffer.withLock { $0 += chunk }
    }
    defer { handle.readabilityHandler = nil }
    while ContinuousClock.now < deadline {
        if buffer.withLock({ $0.contains(needle) }) { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return false
}

func waitForExit(_ process: Process, timeout: Duration) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while process.isRunning, ContinuousClock.now < deadline {
        try? await Task.sleep(for: .milliseconds(50))
    }
    return !process.isRunning
}
