package import KafkaClient
import ServiceLifecycle

/// Keeps the shared `KafkaProducer` open while the server runs and, on graceful shutdown (after
/// the gRPC server has answered its last RPC), flushes what is queued and closes it.
package struct KafkaProducerService: Service {
    package let producer: KafkaProducer
    package var flushTimeout: Duration = .seconds(30)

    package init(producer: KafkaProducer) {
        self.producer = producer
    }

    package func run() async throws {
        // Wait for shutdown; cancellation (an abrupt stop) ends the wait too.
        try? await gracefulShutdown()
        await producer.shutdown(timeout: flushTimeout)
    }
}
