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

/// A local TCP port with nothing listening (bound, then closed).
func closedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw InProcessRegistry.NotListening() }
    return Int(UInt16(bigEndian: address.sin_port))
}
