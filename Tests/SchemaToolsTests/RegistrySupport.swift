import AuditPipeTestSupport
import AvroCodec
import Foundation
import Hummingbird
import Logging
import SchemaRegistry
import Testing

let quietLogger: Logger = {
    var logger = Logger(label: "SchemaToolsTests")
    logger.logLevel = .warning
    return logger
}()

/// AuditPipe's own registry (SchemaRegistryService over an in-memory log), served over HTTP by
/// Hummingbird on 127.0.0.1, port 0, inside the test process.
final class InProcessRegistry: Sendable {
    let service: SchemaRegistryService
    let port: Int
    private let logTask: Task<Void, any Error>
    private let serverTask: Task<Void, any Error>

    var url: String { "http://127.0.0.1:\(port)" }

    struct NotListening: Error {}

    init(defaultLevel: AvroCompatibilityLevel = .backward) async throws {
        var configuration = SchemaRegistryService.Configuration()
        configuration.defaultLevel = defaultLevel
        let service = SchemaRegistryService(log: InMemoryRegistryLog(), configuration: configuration, logger: quietLogger)
        self.service = service
        logTask = Task { try await service.run() }
        try await service.waitUntilReady(timeout: .seconds(30))

        let router = Router()
        SchemaRegistryHTTPAPI(registry: service).addRoutes(to: router)
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "schematools-test"),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: quietLogger
        )
        serverTask = Task { try await app.run() }
        var iterator = stream.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw NotListening() }
        self.port = port
    }

    func stop() async {
        serverTask.cancel()
        logTask.cancel()
        _ = try? await serverTask.value
        _ = try? await logTask.value
    }
}
