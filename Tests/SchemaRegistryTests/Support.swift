import AsyncHTTPClient
import AvroCodec
import AuditPipeTestSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import SchemaRegistry
import Synchronization
import Testing

let testLogger: Logger = {
    var logger = Logger(label: "SchemaRegistryTests")
    logger.logLevel = ProcessInfo.processInfo.environment["REGISTRY_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
    return logger
}()

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// A registry instance (service + its log-following task).
final class RunningRegistry: Sendable {
    let service: SchemaRegistryService
    private let task: Task<Void, any Error>

    init(log: any RegistryLog, defaultLevel: AvroCompatibilityLevel = .backward) async throws {
        var configuration = SchemaRegistryService.Configuration()
        configuration.defaultLevel = defaultLevel
        let service = SchemaRegistryService(log: log, configuration: configuration, logger: testLogger)
        self.service = service
        self.task = Task { try await service.run() }
        try await service.waitUntilReady(timeout: .seconds(60))
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

/// A Hummingbird server on 127.0.0.1, port 0, serving the registry API.
final class RunningHTTPServer: Sendable {
    let port: Int
    private let task: Task<Void, any Error>

    var baseURL: String { "http://127.0.0.1:\(port)" }

    init(registry: SchemaRegistryService, prefix: String = "") async throws {
        let router = Router()
        SchemaRegistryHTTPAPI(registry: registry).addRoutes(to: router, prefix: prefix)
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "registry-test"),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: testLogger
        )
        self.task = Task { try await app.run() }
        var iterator = stream.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw TimedOut(what: "the HTTP server to listen") }
        self.port = port
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

/// A raw HTTP exchange (to check status codes, error bodies and content types exactly).
struct RawResponse {
    var status: Int
    var contentType: String?
    var body: String
    var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed]) }
}

func http(_ method: HTTPMethod, _ url: String, body: String? = nil, contentType: String? = "application/vnd.schemaregistry.v1+json") async throws -> RawResponse {
    var request = HTTPClientRequest(url: url)
    request.method = method
    if let body {
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        request.body = .bytes(ByteBuffer(string: body))
    }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    let bytes = try await response.body.collect(upTo: 1 << 24)
    return RawResponse(status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type"), body: String(buffer: bytes))
}

/// `{"schema": text}` as JSON.
func schemaBody(_ text: String) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: ["schema": text]), as: UTF8.self)
}
