internal import CRdkafka
import Dispatch
import Foundation
import Logging

/// A C pointer that may cross threads: librdkafka handles and queues are thread-safe.
/// Never leaves this module.
struct SendablePointer: @unchecked Sendable {
    let raw: OpaquePointer
}

/// Creates an `rd_kafka_t` from properties, with the given events routed to the main queue.
func makeKafkaHandle(
    type: rd_kafka_type_t,
    properties: [(String, String)],
    events: Int32
) throws(KafkaError) -> OpaquePointer {
    guard let conf = rd_kafka_conf_new() else {
        throw KafkaError(code: .invalidState, message: "rd_kafka_conf_new failed (out of memory?)")
    }
    var errstr = [CChar](repeating: 0, count: 512)
    for (key, value) in properties {
        let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
        if result != RD_KAFKA_CONF_OK {
            rd_kafka_conf_destroy(conf)
            let detail = cString(errstr)
            throw KafkaError(
                code: .invalidArgument,
                message: "invalid librdkafka property \(key)=\(value): \(detail). Fix the configuration.",
                isRetriable: false
            )
        }
    }
    rd_kafka_conf_set_events(conf, events)
    guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
        // On failure the configuration is still ours.
        rd_kafka_conf_destroy(conf)
        throw KafkaError(
            code: .invalidArgument,
            message: "could not create the Kafka client: \(cString(errstr)). Fix the configuration.",
            isRetriable: false
        )
    }
    return handle
}

/// Decodes a NUL-terminated C string held in a buffer.
func cString(_ buffer: [CChar]) -> String {
    buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

/// Maps a syslog level from librdkafka to swift-log.
func logLevel(syslog level: Int32) -> Logger.Level {
    switch level {
    case ...2: .critical
    case 3: .error
    case 4: .warning
    case 5: .notice
    case 6: .info
    default: .debug
    }
}

/// Metadata keys used in log messages.
enum LogKey {
    static let facility = "kafka.facility"
    static let client = "kafka.client"
    static let topicPartition = "kafka.topic_partition"
    static let errorCode = "kafka.error"
}

/// Routes one `RD_KAFKA_EVENT_LOG` event to the logger.
func forwardLog(_ event: OpaquePointer, to logger: Logger) {
    var facility: UnsafePointer<CChar>?
    var text: UnsafePointer<CChar>?
    var level: Int32 = 0
    guard rd_kafka_event_log(event, &facility, &text, &level) == 0 else { return }
    let message = text.map { String(cString: $0) } ?? ""
    let fac = facility.map { String(cString: $0) } ?? ""
    logger.log(level: logLevel(syslog: level), "\(message)", metadata: [LogKey.facility: "\(fac)"])
}

/// Milliseconds for a librdkafka timeout argument (clamped to Int32).
func milliseconds(_ duration: Duration) -> Int32 {
    let (seconds, attoseconds) = duration.components
    let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
    return Int32(clamping: max(0, ms))
}

/// Builds an `rd_kafka_topic_partition_list_t` (caller destroys it).
func makePartitionList(_ entries: [(topic: String, partition: Int32, offset: Int64)]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
    let list = rd_kafka_topic_partition_list_new(Int32(clamping: entries.count))!
    for entry in entries {
        let element = rd_kafka_topic_partition_list_add(list, entry.topic, entry.partition)!
        element.pointee.offset = entry.offset
    }
    return list
}

/// One element of a partition list, copied into Swift.
struct PartitionListEntry {
    var topic: String
    var partition: Int32
    var offset: Int64
    var error: rd_kafka_resp_err_t
}

/// Reads an `rd_kafka_topic_partition_list_t` (does not destroy it).
func readPartitionList(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [PartitionListEntry] {
    guard let list, list.pointee.cnt > 0, let elements = list.pointee.elems else { return [] }
    return (0..<Int(list.pointee.cnt)).map { index in
        let element = elements[index]
        return PartitionListEntry(
            topic: String(cString: element.topic),
            partition: element.partition,
            offset: element.offset,
            error: element.err
        )
    }
}

/// A `Thread` whose end can be awaited from another (non-async) thread.
final class DedicatedThread: Sendable {
    private let done = DispatchSemaphore(value: 0)

    init(name: String, body: @escaping @Sendable () -> Void) {
        let done = self.done
        let thread = Thread {
            body()
            done.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Blocks the calling (dedicated) thread until the thread's body has returned.
    func join() {
        done.wait()
    }
}

/// Runs `body` on a dedicated serial queue and awaits its result without blocking the
/// cooperative pool.
func runBlocking<T: Sendable>(
    on queue: DispatchQueue,
    _ body: @escaping @Sendable () -> Result<T, KafkaError>
) async throws(KafkaError) -> T {
    let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, KafkaError>, Never>) in
        queue.async { continuation.resume(returning: body()) }
    }
    return try result.get()
}

/// Reads an `RD_KAFKA_EVENT_ERROR` event of `handle`: nil after logging it at `warning` when
/// librdkafka recovers by itself (reconnects, retries); the fatal error, logged at `critical`,
/// when the client must be recreated. `client` names it in messages ("consumer", "producer");
/// `remedy` says what the caller must do.
func fatalErrorEvent(_ event: OpaquePointer, handle: OpaquePointer, client: String, remedy: String, logger: Logger) -> KafkaError? {
    let err = rd_kafka_event_error(event)
    let text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? ""
    guard rd_kafka_event_error_is_fatal(event) != 0 else {
        logger.warning("kafka \(client) error: \(text)", metadata: [LogKey.errorCode: "\(KafkaError.Code(err).name)"])
        return nil
    }
    var buffer = [CChar](repeating: 0, count: 512)
    let original = rd_kafka_fatal_error(handle, &buffer, buffer.count)
    let error = KafkaError(
        code: KafkaError.Code(original == RD_KAFKA_RESP_ERR_NO_ERROR ? err : original),
        message: "the \(client) hit a fatal error (\(cString(buffer).isEmpty ? text : cString(buffer))): \(remedy)",
        isRetriable: false,
        isFatal: true
    )
    logger.critical("\(error.message)", metadata: [LogKey.errorCode: "\(error.code.name)"])
    return error
}
