internal import CRdkafka

/// An error from the Kafka client: a librdkafka error code, a message a human can act on, and
/// whether retrying can help.
///
/// - ``isRetriable``: the same operation may succeed if tried again later (leader change,
///   timeout, broker briefly unreachable). Retrying a `send` may produce a duplicate record when
///   the first attempt was possibly persisted; downstream deduplication (the event id) handles it.
/// - ``isFatal``: the client instance can no longer be used. Shut it down and create a new one.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, as librdkafka's error code.
    public var code: Code
    /// A sentence for a human: what failed and what to do about it.
    public var message: String
    /// Whether retrying the same operation later can succeed.
    public var isRetriable: Bool
    /// Whether the client instance is unusable and must be recreated.
    public var isFatal: Bool

    /// Creates an error. `isRetriable` defaults to what is known about `code`.
    public init(code: Code, message: String, isRetriable: Bool? = nil, isFatal: Bool = false) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable ?? (!isFatal && code.isRetriableByDefault)
        self.isFatal = isFatal
    }

    /// `"KafkaError(CODE_NAME): message [retriable] [fatal]"`.
    public var description: String {
        var text = "KafkaError(\(code.name)): \(message)"
        if isRetriable { text += " [retriable]" }
        if isFatal { text += " [fatal]" }
        return text
    }

    /// A librdkafka error code (`rd_kafka_resp_err_t`): negative values are raised by the client
    /// itself, positive values are Kafka protocol errors returned by a broker.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The numeric value of `rd_kafka_resp_err_t`.
        public var rawValue: Int32

        /// Wraps a raw librdkafka error code.
        public init(rawValue: Int32) { self.rawValue = rawValue }

        init(_ err: rd_kafka_resp_err_t) { self.rawValue = err.rawValue }

        var rdKafkaValue: rd_kafka_resp_err_t { rd_kafka_resp_err_t(rawValue: rawValue) }

        /// librdkafka's symbolic name without the `RD_KAFKA_RESP_ERR_` prefix, e.g. `_QUEUE_FULL`.
        public var name: String { String(cString: rd_kafka_err2name(rdKafkaValue)) }

        /// librdkafka's one-line explanation of the code.
        public var explanation: String { String(cString: rd_kafka_err2str(rdKafkaValue)) }

        /// The name, e.g. `_MSG_TIMED_OUT`.
        public var description: String { name }

        /// The client was shut down or destroyed before the operation completed.
        public static let destroyed = Code(RD_KAFKA_RESP_ERR__DESTROY)
        /// An argument or configuration value is invalid.
        public static let invalidArgument = Code(RD_KAFKA_RESP_ERR__INVALID_ARG)
        /// The operation did not complete in time.
        public static let timedOut = Code(RD_KAFKA_RESP_ERR__TIMED_OUT)
        /// A message was not delivered within `message.timeout.ms`.
        public static let messageTimedOut = Code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
        /// The local produce queue is full (handled internally by waiting; never thrown by `send`).
        public static let queueFull = Code(RD_KAFKA_RESP_ERR__QUEUE_FULL)
        /// The client is in a state where the operation is not allowed (e.g. closed).
        public static let invalidState = Code(RD_KAFKA_RESP_ERR__STATE)
        /// The operation was interrupted (e.g. the calling task was cancelled).
        public static let interrupted = Code(RD_KAFKA_RESP_ERR__INTR)
        /// A fatal error was raised; see ``KafkaError/isFatal``.
        public static let fatal = Code(RD_KAFKA_RESP_ERR__FATAL)
        /// The message was purged from the local queue before it was sent (shutdown).
        public static let purgedFromQueue = Code(RD_KAFKA_RESP_ERR__PURGE_QUEUE)
        /// The message was purged while in flight (shutdown); it may or may not have been written.
        public static let purgedInFlight = Code(RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
        /// The topic or partition does not exist.
        public static let unknownTopicOrPartition = Code(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        /// The partition is unknown to the client (local error).
        public static let unknownPartition = Code(RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
        /// The consumer group is rebalancing; retry the commit after the rebalance.
        public static let rebalanceInProgress = Code(RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
        /// The consumer is not (or no longer) a member of the group generation that owned the partition.
        public static let illegalGeneration = Code(RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION)
        /// The consumer group member id is unknown to the coordinator.
        public static let unknownMemberID = Code(RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID)

        /// Codes that are transient by nature (the same request may succeed later).
        var isRetriableByDefault: Bool {
            switch rdKafkaValue {
            case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
                RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__TIMED_OUT,
                RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE,
                RD_KAFKA_RESP_ERR__RESOLVE, RD_KAFKA_RESP_ERR__WAIT_COORD,
                RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT,
                RD_KAFKA_RESP_ERR__DESTROY,
                RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
                RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
                RD_KAFKA_RESP_ERR_FETCH_SESSION_ID_NOT_FOUND, RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE,
                RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED,
                RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT:
                return true
            default:
                return false
            }
        }
    }
}

extension KafkaError {
    /// Builds an error from a librdkafka code with what we were doing and a hint for the reader.
    init(_ err: rd_kafka_resp_err_t, doing context: String, hint: String? = nil, isFatal: Bool = false) {
        let code = Code(err)
        var message = "\(context) failed: \(code.explanation)"
        if let hint { message += ". \(hint)" }
        self.init(code: code, message: message, isFatal: isFatal || err == RD_KAFKA_RESP_ERR__FATAL)
    }

    /// Consumes (destroys) a librdkafka error object.
    init(consuming error: OpaquePointer, doing context: String) {
        defer { rd_kafka_error_destroy(error) }
        let code = Code(rd_kafka_error_code(error))
        let text = rd_kafka_error_string(error).map { String(cString: $0) } ?? code.explanation
        self.init(
            code: code,
            message: "\(context) failed: \(text)",
            isRetriable: rd_kafka_error_is_retriable(error) != 0 || code.isRetriableByDefault,
            isFatal: rd_kafka_error_is_fatal(error) != 0
        )
        if isFatal { isRetriable = false }
    }

    /// A configuration value breaks a rule: names the field and the rule.
    static func invalidConfiguration(_ field: String, _ rule: String) -> KafkaError {
        KafkaError(code: .invalidArgument, message: "invalid configuration: \(field) \(rule)", isRetriable: false)
    }
}
