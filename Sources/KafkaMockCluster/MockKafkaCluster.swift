import CRdkafka
import Synchronization

/// A Kafka-protocol cluster of several brokers living inside this process, hosted by librdkafka's
/// mock cluster (`rdkafka_mock.h`, Debian's librdkafka-dev 2.0.2).
///
/// Development and tests only: data lives in this process's memory and is gone when it exits;
/// topics are created through this API (the mock answers no CreateTopics over the wire); and
/// read_committed does not hide aborted transactions. Production runs on Apache Kafka.
///
/// This type is the only code in the package that touches the mock API's C pointers. Every method
/// is safe to call from any thread: librdkafka hands each operation to the mock cluster's own
/// thread and waits for its answer, and a lock keeps the handles alive while a call is in flight,
/// so ``shutdown()`` never frees them under a running call. The calls block briefly: call them from
/// a dedicated thread, never from Swift's cooperative pool.
package final class MockKafkaCluster: Sendable {
    /// The comma-separated `host:port` list that clients use as `bootstrap.servers`.
    package let bootstrapServers: String

    /// How many brokers the cluster has; their ids run from 1 to this number.
    package let brokerCount: Int

    /// The C handles: the bookkeeping `rd_kafka_t` and the mock cluster created on it.
    ///
    /// `@unchecked Sendable`: the mock API is thread-safe (operations are queued to the mock
    /// cluster's thread); the lock in ``handles`` only guards their lifetime.
    private struct Handles: @unchecked Sendable {
        var kafka: OpaquePointer
        var cluster: OpaquePointer
    }

    /// nil once ``shutdown()`` destroyed the cluster.
    private let handles: Mutex<Handles?>

    /// Creates a cluster of `brokerCount` brokers listening on 127.0.0.1 (ports chosen by the
    /// system).
    package init(brokerCount: Int) throws(MockClusterError) {
        guard (1 ... 64).contains(brokerCount) else {
            throw MockClusterError(
                operation: "create mock cluster",
                message: "broker count must be between 1 and 64, got \(brokerCount)"
            )
        }
        // The handle only does the mock cluster's bookkeeping: it connects to nothing.
        guard let conf = rd_kafka_conf_new() else {
            throw MockClusterError(operation: "create mock cluster", message: "rd_kafka_conf_new failed (out of memory?)")
        }
        var errorText = [CChar](repeating: 0, count: 512)
        // log_level 4: warnings and errors only (the handle has, by design, no bootstrap.servers).
        for (name, value) in [("client.id", "auditpipe-dev-kafka"), ("log_level", "4"), ("log.connection.close", "false")] {
            let result = rd_kafka_conf_set(conf, name, value, &errorText, errorText.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw MockClusterError(operation: "configure mock cluster handle", message: Self.string(errorText))
            }
        }
        // On success rd_kafka_new takes ownership of `conf`; on failure it stays ours.
        guard let kafka = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            throw MockClusterError(operation: "create mock cluster handle", message: Self.string(errorText))
        }
        guard let cluster = rd_kafka_mock_cluster_new(kafka, Int32(brokerCount)) else {
            rd_kafka_destroy(kafka)
            throw MockClusterError(
                operation: "create mock cluster",
                message: "rd_kafka_mock_cluster_new failed: could it bind ports on 127.0.0.1?"
            )
        }
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        self.brokerCount = brokerCount
        self.handles = Mutex(Handles(kafka: kafka, cluster: cluster))
    }

    deinit {
        self.shutdown()
    }

    /// Destroys the cluster: its brokers close their listeners and all data is dropped.
    /// Idempotent; later calls of the other methods throw. Blocks until librdkafka is done.
    package func shutdown() {
        guard let handles = self.handles.withLock({ (handles: inout Handles?) -> Handles? in
            let taken = handles
            handles = nil
            return taken
        }) else {
            return
        }
        rd_kafka_mock_cluster_destroy(handles.cluster)
        rd_kafka_destroy(handles.kafka)
    }

    /// Creates a topic with `partitions` partitions and `replicationFactor` replicas each.
    package func createTopic(_ name: String, partitions: Int, replicationFactor: Int) throws(MockClusterError) {
        let operation = "create topic \(name)"
        guard !name.isEmpty, name.utf8.count <= 249 else {
            throw MockClusterError(operation: operation, message: "a topic name has 1 to 249 characters")
        }
        guard partitions >= 1, partitions <= 10_000 else {
            throw MockClusterError(operation: operation, message: "partitions must be between 1 and 10000, got \(partitions)")
        }
        guard replicationFactor >= 1, replicationFactor <= self.brokerCount else {
            throw MockClusterError(
                operation: operation,
                message: "replication factor must be between 1 and the broker count \(self.brokerCount), got \(replicationFactor)"
            )
        }
        try self.call(operation) { cluster in
            rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(replicationFactor))
        }
    }

    /// Disconnects broker `id` (or every broker when `id` is -1) and refuses new connections.
    /// Leadership does not move: use ``setPartitionLeader(topic:partition:broker:)`` for that.
    package func setBrokerDown(_ id: Int32) throws(MockClusterError) {
        try self.checkBroker(id, operation: "set broker \(id) down", minusOne: "for all")
        try self.call("set broker \(id) down") { cluster in rd_kafka_mock_broker_set_down(cluster, id) }
    }

    /// Makes broker `id` (or every broker when `id` is -1) accept connections again.
    package func setBrokerUp(_ id: Int32) throws(MockClusterError) {
        try self.checkBroker(id, operation: "set broker \(id) up", minusOne: "for all")
        try self.call("set broker \(id) up") { cluster in rd_kafka_mock_broker_set_up(cluster, id) }
    }

    /// Moves the leadership of `topic`/`partition` to `broker`; -1 leaves the partition without a
    /// leader. The mock creates the topic if it does not exist.
    package func setPartitionLeader(topic: String, partition: Int32, broker: Int32) throws(MockClusterError) {
        let operation = "set leader of \(topic) [\(partition)] to \(broker)"
        try self.checkBroker(broker, operation: operation, minusOne: "for no leader")
        guard partition >= 0 else {
            throw MockClusterError(operation: operation, message: "partition must be 0 or more")
        }
        try self.call(operation) { cluster in
            rd_kafka_mock_partition_set_leader(cluster, topic, partition, broker)
        }
    }

    /// Delays every response of broker `id` (or of every broker when `id` is -1) by
    /// `milliseconds`; 0 removes the delay.
    package func setRoundTripTime(broker id: Int32, milliseconds: Int32) throws(MockClusterError) {
        let operation = "set round-trip time of broker \(id)"
        try self.checkBroker(id, operation: operation, minusOne: "for all")
        guard milliseconds >= 0 else {
            throw MockClusterError(operation: operation, message: "the delay must be 0 ms or more")
        }
        try self.call(operation) { cluster in rd_kafka_mock_broker_set_rtt(cluster, id, milliseconds) }
    }

    /// Makes the next `errors.count` requests with protocol API key `apiKey` (on any broker) fail
    /// with these error codes, in order. ``MockClusterError/transportErrorCode`` makes the broker
    /// drop the connection instead.
    package func pushRequestErrors(apiKey: Int16, errors: [Int32]) throws(MockClusterError) {
        let operation = "push \(errors.count) errors for API key \(apiKey)"
        guard apiKey >= 0 else {
            throw MockClusterError(operation: operation, message: "API key must be 0 or more")
        }
        guard !errors.isEmpty, errors.count <= 100_000 else {
            throw MockClusterError(operation: operation, message: "push between 1 and 100000 errors")
        }
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        try self.withCluster(operation) { cluster in
            codes.withUnsafeBufferPointer { buffer in
                rd_kafka_mock_push_request_errors_array(cluster, apiKey, buffer.count, buffer.baseAddress)
            }
        }
    }

    /// Drops the errors still queued by ``pushRequestErrors(apiKey:errors:)`` for `apiKey`.
    package func clearRequestErrors(apiKey: Int16) throws(MockClusterError) {
        try self.withCluster("clear errors for API key \(apiKey)") { cluster in
            rd_kafka_mock_clear_request_errors(cluster, apiKey)
        }
    }

    /// Makes `broker` the coordinator of a consumer group (`keyType` "group") or of a
    /// transactional id (`keyType` "transaction").
    package func setCoordinator(keyType: String, key: String, broker: Int32) throws(MockClusterError) {
        let operation = "set \(keyType) coordinator of \(key) to \(broker)"
        guard keyType == "group" || keyType == "transaction" else {
            throw MockClusterError(operation: operation, message: "the key type is \"group\" or \"transaction\"")
        }
        try self.call(operation) { cluster in rd_kafka_mock_coordinator_set(cluster, keyType, key, broker) }
    }

    /// Makes Metadata requests report `errorCode` for `topic` (0 clears it).
    package func setTopicError(topic: String, errorCode: Int32) throws(MockClusterError) {
        try self.withCluster("set error of topic \(topic)") { cluster in
            rd_kafka_mock_topic_set_error(cluster, topic, rd_kafka_resp_err_t(rawValue: errorCode))
        }
    }

    // MARK: Error codes

    /// The error code librdkafka knows by `name`: a Kafka protocol error such as
    /// `NOT_LEADER_FOR_PARTITION` (6) or a librdkafka-internal one such as `_TRANSPORT` (-195).
    /// Case-insensitive; an `RD_KAFKA_RESP_ERR_` prefix is accepted. nil when unknown.
    package static func errorCode(named name: String) -> Int32? {
        var wanted = name.uppercased()
        if wanted.hasPrefix("RD_KAFKA_RESP_ERR_") {
            wanted.removeFirst("RD_KAFKA_RESP_ERR_".count)
        }
        var descriptions: UnsafePointer<rd_kafka_err_desc>? = nil
        var count = 0
        rd_kafka_get_err_descs(&descriptions, &count)
        guard let descriptions else { return nil }
        for index in 0 ..< count {
            let description = descriptions[index]
            guard let cName = description.name else { continue }
            if String(cString: cName) == wanted {
                return description.code.rawValue
            }
        }
        return nil
    }

    /// librdkafka's name of an error code, e.g. `NOT_LEADER_FOR_PARTITION` for 6.
    package static func errorName(_ code: Int32) -> String {
        String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: code)))
    }

    // MARK: Private

    /// Runs `body` with the live cluster pointer, under the lifetime lock.
    private func withCluster<Result: Sendable>(
        _ operation: String,
        _ body: (OpaquePointer) -> Result
    ) throws(MockClusterError) -> Result {
        let result: Result? = self.handles.withLock { handles in
            guard let handles else { return nil }
            return body(handles.cluster)
        }
        guard let result else {
            throw MockClusterError(operation: operation, message: "the mock cluster was shut down")
        }
        return result
    }

    /// Runs a mock call that returns a librdkafka error code, and throws when it is not success.
    private func call(_ operation: String, _ body: (OpaquePointer) -> rd_kafka_resp_err_t) throws(MockClusterError) {
        let code = try self.withCluster(operation) { cluster in body(cluster).rawValue }
        if code != RD_KAFKA_RESP_ERR_NO_ERROR.rawValue {
            throw MockClusterError(
                operation: operation,
                message: String(cString: rd_kafka_err2str(rd_kafka_resp_err_t(rawValue: code))),
                code: code
            )
        }
    }

    /// Checks a broker id before librdkafka sees it; -1 is allowed with the meaning `minusOne`.
    private func checkBroker(_ id: Int32, operation: String, minusOne: String) throws(MockClusterError) {
        guard id == -1 || (id >= 1 && id <= Int32(self.brokerCount)) else {
            throw MockClusterError(
                operation: operation,
                message: "broker ids run from 1 to \(self.brokerCount) (or -1 \(minusOne)), got \(id)"
            )
        }
    }

    private static func string(_ buffer: [CChar]) -> String {
        buffer.withUnsafeBufferPointer { pointer in
            pointer.baseAddress.map { String(cString: $0) } ?? ""
        }
    }
}

/// A mock cluster operation that failed, with what to do about it.
package struct MockClusterError: Error, CustomStringConvertible, Sendable {
    /// librdkafka's error code for a dropped connection (`_TRANSPORT`): pushed as a request error,
    /// it makes the broker disconnect the client.
    package static let transportErrorCode: Int32 = -195

    /// What was attempted, e.g. "create topic auditpipe.events".
    package var operation: String
    /// Why it failed.
    package var message: String
    /// librdkafka's error code when librdkafka reported one.
    package var code: Int32?

    /// Creates an error for `operation`.
    package init(operation: String, message: String, code: Int32? = nil) {
        self.operation = operation
        self.message = message
        self.code = code
    }

    /// "could not OPERATION: MESSAGE [NAME]".
    package var description: String {
        var text = "could not \(self.operation): \(self.message)"
        if let code = self.code {
            text += " [\(MockKafkaCluster.errorName(code))]"
        }
        return text
    }
}
