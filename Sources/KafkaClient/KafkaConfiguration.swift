import CRdkafka

/// Configuration of a ``KafkaProducer``.
///
/// The delivery guarantees are fixed and cannot be weakened: `enable.idempotence=true`,
/// `acks=all`, at most 5 requests in flight per connection, `partitioner=murmur2_random`
/// (Java-compatible key hashing, random partition for records without key) and
/// `log.queue=true` (librdkafka's logs go to the producer's `Logger`). ``validate()`` rejects
/// ``additionalProperties`` that would override them or a field below.
public struct KafkaProducerConfiguration: Sendable, Hashable {
    /// `bootstrap.servers`: `host:port` of at least one broker. Required.
    public var bootstrapServers: [String]
    /// `client.id`: shown in broker logs and metrics. Default `"auditpipe"`.
    public var clientID: String = "auditpipe"
    /// `linger.ms`: how long to wait to batch records before sending (0...900000). Default 25,
    /// not librdkafka's 5: while a partition's request is in flight (the idempotent producer sends
    /// the next one only when fewer than 5 of its records are out), a queue whose linger has
    /// passed wakes the broker thread at once, again and again, until the answer comes
    /// (`rd_kafka_toppar_producer_serve`, librdkafka 2.0.2 and upstream). A linger above the
    /// produce round trip lets the thread sleep: at 5,000 events/s with the sinks on the dev stack
    /// the server used 229 us of CPU per event with 5, 181 with 10, 127 with 15, 100-111 with 25,
    /// and its acknowledgement p99 fell from 1,189 ms to 59-276 ms. The price: 20 ms more per
    /// acknowledgement on an idle cluster.
    public var lingerMilliseconds: Int = 25
    /// `max.in.flight.requests.per.connection`: 1...5 (the idempotent producer keeps ordering
    /// only up to 5). Default 5.
    public var maxInFlightRequestsPerConnection: Int = 5
    /// `message.timeout.ms`: how long librdkafka keeps retrying one record before its `send`
    /// fails with `_MSG_TIMED_OUT`. Default 300000 (5 minutes); 1000...2147483647.
    public var deliveryTimeoutMilliseconds: Int = 300_000
    /// `queue.buffering.max.messages`: records buffered locally before `send` waits for room
    /// (backpressure). Default 100000; 1...10000000.
    public var maxQueuedMessages: Int = 100_000
    /// `compression.codec`. Default ``Compression/lz4``.
    public var compression: Compression = .lz4
    /// Any other librdkafka producer property (e.g. `security.protocol`, `debug`,
    /// `test.mock.num.brokers`). Keys managed by this struct are rejected by ``validate()``.
    public var additionalProperties: [String: String] = [:]

    /// A compression codec.
    public enum Compression: String, Sendable, Hashable, CaseIterable {
        /// No compression.
        case none
        /// gzip.
        case gzip
        /// Snappy.
        case snappy
        /// LZ4 (fast, the default).
        case lz4
        /// Zstandard.
        case zstd
    }

    /// Creates a configuration with the safe defaults documented on each field.
    public init(bootstrapServers: [String]) {
        self.bootstrapServers = bootstrapServers
    }

    /// Keys that this struct sets itself (or fixes for safety).
    static let managedKeys: [String: String] = [
        "bootstrap.servers": "bootstrapServers", "metadata.broker.list": "bootstrapServers",
        "client.id": "clientID",
        "enable.idempotence": "(fixed: true)",
        "acks": "(fixed: all)", "request.required.acks": "(fixed: all)",
        "max.in.flight.requests.per.connection": "maxInFlightRequestsPerConnection",
        "max.in.flight": "maxInFlightRequestsPerConnection",
        "linger.ms": "lingerMilliseconds", "queue.buffering.max.ms": "lingerMilliseconds",
        "message.timeout.ms": "deliveryTimeoutMilliseconds", "delivery.timeout.ms": "deliveryTimeoutMilliseconds",
        "queue.buffering.max.messages": "maxQueuedMessages",
        "compression.codec": "compression", "compression.type": "compression",
        "partitioner": "(fixed: murmur2_random)",
        "log.queue": "(fixed: true)",
        "enable.gapless.guarantee": "(not supported)",
        "transactional.id": "(not supported: this producer is idempotent, not transactional)",
    ]

    /// Checks every field; the error names the field and the rule it breaks.
    public func validate() throws(KafkaError) {
        try validateBootstrapServers(bootstrapServers, in: "KafkaProducerConfiguration")
        if clientID.isEmpty { throw .invalidConfiguration("KafkaProducerConfiguration.clientID", "must not be empty") }
        try checkRange(lingerMilliseconds, 0...900_000, "KafkaProducerConfiguration.lingerMilliseconds")
        try checkRange(maxInFlightRequestsPerConnection, 1...5, "KafkaProducerConfiguration.maxInFlightRequestsPerConnection")
        try checkRange(deliveryTimeoutMilliseconds, 1000...Int(Int32.max), "KafkaProducerConfiguration.deliveryTimeoutMilliseconds")
        try checkRange(maxQueuedMessages, 1...10_000_000, "KafkaProducerConfiguration.maxQueuedMessages")
        try validateAdditional(additionalProperties, managed: Self.managedKeys, in: "KafkaProducerConfiguration")
    }

    /// The librdkafka properties, in the order they are applied.
    var properties: [(String, String)] {
        [
            ("bootstrap.servers", bootstrapServers.joined(separator: ",")),
            ("client.id", clientID),
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("max.in.flight.requests.per.connection", String(maxInFlightRequestsPerConnection)),
            ("linger.ms", String(lingerMilliseconds)),
            ("message.timeout.ms", String(deliveryTimeoutMilliseconds)),
            ("queue.buffering.max.messages", String(maxQueuedMessages)),
            ("compression.codec", compression.rawValue),
            ("partitioner", "murmur2_random"),
            ("log.queue", "true"),
        ] + additionalProperties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// Configuration of a ``KafkaConsumer`` (a consumer-group member with manual commits).
///
/// Fixed for correctness: `enable.auto.commit=false` and `enable.auto.offset.store=false`
/// (offsets move only through ``KafkaConsumer/commit(_:)``), `log.queue=true`.
public struct KafkaConsumerConfiguration: Sendable, Hashable {
    /// `bootstrap.servers`: `host:port` of at least one broker. Required.
    public var bootstrapServers: [String]
    /// `group.id`: the consumer group. Required, non-empty.
    public var groupID: String
    /// `client.id`. Default `"auditpipe"`.
    public var clientID: String = "auditpipe"
    /// `auto.offset.reset`: where to start when the group has no committed offset. Default
    /// ``OffsetReset/earliest`` (read everything: an audit pipeline must not skip records).
    public var autoOffsetReset: OffsetReset = .earliest
    /// `partition.assignment.strategy`. Default ``AssignmentStrategy/range`` (EAGER).
    ///
    /// ``AssignmentStrategy/cooperativeSticky`` is refused with a librdkafka older than 2.3.0
    /// (Debian 12 ships 2.0.2): a consumer destroyed between its first JoinGroup and its first
    /// SyncGroup aborts the process there (`rd_kafka_sticky_assignor_state_destroy: Assertion
    /// 'assignor_state' failed`, librdkafka issue #4312, fixed by PR #4381). The EAGER assignors
    /// keep no assignor state, so no consumer lifecycle can reach that assertion.
    public var partitionAssignmentStrategy: AssignmentStrategy = .range
    /// `session.timeout.ms`: how long the group waits for a silent member. Default 6000 (the
    /// brokers' default minimum): a killed member's partitions move after about this long, and
    /// librdkafka 2.0.2's mock cluster also delays every rebalance of a stable group by it
    /// minus 1 s. 1000...3600000.
    public var sessionTimeoutMilliseconds: Int = 6_000
    /// `heartbeat.interval.ms`: how often the member tells the group it is alive. Default 2000;
    /// below ``sessionTimeoutMilliseconds``.
    public var heartbeatIntervalMilliseconds: Int = 2_000
    /// `group.instance.id`: static group membership (KIP-345). A member that restarts with the
    /// same id within ``sessionTimeoutMilliseconds`` gets its partitions back without a
    /// rebalance, and a closing static member does not leave the group. Give each replica its
    /// own stable id (a pod name); two live members with the same id fence each other. Default
    /// nil (dynamic membership). librdkafka 2.0.2's mock cluster ignores the id (a restarted
    /// member joins as a new one), so leave it unset there.
    public var groupInstanceID: String? = nil
    /// `max.poll.interval.ms`: the longest the events sequence may go unread (its buffer full)
    /// before the member leaves the group. Default 300000; at least ``sessionTimeoutMilliseconds``.
    public var maxPollIntervalMilliseconds: Int = 300_000
    /// `isolation.level`. Default ``IsolationLevel/readCommitted``.
    public var isolationLevel: IsolationLevel = .readCommitted
    /// Events buffered between librdkafka and the events sequence: polling pauses when this many
    /// are waiting. Default 1000; at least 1.
    public var bufferHighWatermark: Int = 1000
    /// Polling resumes when the buffer is back down to this many. Default 500; 0..<high.
    public var bufferLowWatermark: Int = 500
    /// Any other librdkafka consumer property. Keys managed by this struct are rejected.
    public var additionalProperties: [String: String] = [:]

    /// Where a group with no committed offset starts.
    public enum OffsetReset: String, Sendable, Hashable, CaseIterable {
        /// The oldest retained record.
        case earliest
        /// Only records written after the consumer joined.
        case latest
    }

    /// A partition assignment strategy.
    public enum AssignmentStrategy: String, Sendable, Hashable, CaseIterable {
        /// COOPERATIVE (incremental) rebalancing.
        case cooperativeSticky = "cooperative-sticky"
        /// EAGER: every rebalance revokes everything, then assigns ranges.
        case range
        /// EAGER: every rebalance revokes everything, then assigns round-robin.
        case roundRobin = "roundrobin"
    }

    /// Transactional isolation of reads.
    public enum IsolationLevel: String, Sendable, Hashable, CaseIterable {
        /// Skip records of aborted transactions.
        case readCommitted = "read_committed"
        /// Read all records.
        case readUncommitted = "read_uncommitted"
    }

    /// Creates a configuration with the defaults documented on each field.
    public init(bootstrapServers: [String], groupID: String) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
    }

    static let managedKeys: [String: String] = [
        "bootstrap.servers": "bootstrapServers", "metadata.broker.list": "bootstrapServers",
        "group.id": "groupID", "client.id": "clientID",
        "enable.auto.commit": "(fixed: false)", "enable.auto.offset.store": "(fixed: false)",
        "auto.offset.reset": "autoOffsetReset",
        "partition.assignment.strategy": "partitionAssignmentStrategy",
        "session.timeout.ms": "sessionTimeoutMilliseconds",
        "heartbeat.interval.ms": "heartbeatIntervalMilliseconds",
        "group.instance.id": "groupInstanceID",
        "max.poll.interval.ms": "maxPollIntervalMilliseconds",
        "isolation.level": "isolationLevel",
        "log.queue": "(fixed: true)",
    ]

    /// Checks every field; the error names the field and the rule it breaks.
    public func validate() throws(KafkaError) {
        try validateBootstrapServers(bootstrapServers, in: "KafkaConsumerConfiguration")
        if groupID.isEmpty { throw .invalidConfiguration("KafkaConsumerConfiguration.groupID", "must not be empty") }
        if clientID.isEmpty { throw .invalidConfiguration("KafkaConsumerConfiguration.clientID", "must not be empty") }
        try checkRange(sessionTimeoutMilliseconds, 1000...3_600_000, "KafkaConsumerConfiguration.sessionTimeoutMilliseconds")
        try checkRange(
            heartbeatIntervalMilliseconds, 1...(sessionTimeoutMilliseconds - 1),
            "KafkaConsumerConfiguration.heartbeatIntervalMilliseconds (must be < sessionTimeoutMilliseconds)"
        )
        if let groupInstanceID, groupInstanceID.isEmpty {
            throw .invalidConfiguration("KafkaConsumerConfiguration.groupInstanceID", "must not be empty; use nil for dynamic membership")
        }
        if partitionAssignmentStrategy == .cooperativeSticky, !LibrdkafkaVersion.current.hasStickyAssignorStateFix {
            throw .invalidConfiguration(
                "KafkaConsumerConfiguration.partitionAssignmentStrategy",
                "cooperative-sticky needs librdkafka 2.3.0 or later (this is \(LibrdkafkaVersion.current)): older versions abort the process when a consumer is closed before its first assignment (librdkafka issue #4312). Use range or roundrobin"
            )
        }
        try checkRange(
            maxPollIntervalMilliseconds, sessionTimeoutMilliseconds...86_400_000,
            "KafkaConsumerConfiguration.maxPollIntervalMilliseconds (must be >= sessionTimeoutMilliseconds)"
        )
        if bufferHighWatermark < 1 {
            throw .invalidConfiguration("KafkaConsumerConfiguration.bufferHighWatermark", "must be at least 1 (got \(bufferHighWatermark))")
        }
        if bufferLowWatermark < 0 || bufferLowWatermark >= bufferHighWatermark {
            throw .invalidConfiguration(
                "KafkaConsumerConfiguration.bufferLowWatermark",
                "must be in 0..<bufferHighWatermark (\(bufferHighWatermark)) (got \(bufferLowWatermark))"
            )
        }
        try validateAdditional(additionalProperties, managed: Self.managedKeys, in: "KafkaConsumerConfiguration")
    }

    var properties: [(String, String)] {
        [
            ("bootstrap.servers", bootstrapServers.joined(separator: ",")),
            ("group.id", groupID),
            ("client.id", clientID),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", autoOffsetReset.rawValue),
            ("partition.assignment.strategy", partitionAssignmentStrategy.rawValue),
            ("session.timeout.ms", String(sessionTimeoutMilliseconds)),
            ("heartbeat.interval.ms", String(heartbeatIntervalMilliseconds)),
            ("max.poll.interval.ms", String(maxPollIntervalMilliseconds)),
            ("isolation.level", isolationLevel.rawValue),
            ("log.queue", "true"),
        ] + (groupInstanceID.map { [("group.instance.id", $0)] } ?? []) + additionalProperties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

private func checkRange(_ value: Int, _ range: ClosedRange<Int>, _ field: String) throws(KafkaError) {
    guard range.contains(value) else {
        throw .invalidConfiguration(field, "must be in \(range.lowerBound)...\(range.upperBound) (got \(value))")
    }
}

private func validateBootstrapServers(_ servers: [String], in type: String) throws(KafkaError) {
    if servers.isEmpty {
        throw .invalidConfiguration("\(type).bootstrapServers", "must list at least one host:port")
    }
    for server in servers {
        let parts = server.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 2, !parts.dropLast().joined(separator: ":").isEmpty,
            let port = Int(parts.last!), (1...65535).contains(port), !server.contains(",")
        else {
            throw .invalidConfiguration("\(type).bootstrapServers", "entries must be host:port with a port in 1...65535 (got \"\(server)\")")
        }
    }
}

private func validateAdditional(_ properties: [String: String], managed: [String: String], in type: String) throws(KafkaError) {
    for key in properties.keys.sorted() {
        if key.isEmpty { throw .invalidConfiguration("\(type).additionalProperties", "keys must not be empty") }
        if let field = managed[key] {
            let how = field.hasPrefix("(") ? "it is \(field.dropFirst().dropLast())" : "use \(type).\(field) instead"
            throw .invalidConfiguration("\(type).additionalProperties[\"\(key)\"]", "cannot be set here: \(how)")
        }
    }
}

/// The librdkafka this process is linked with (`rd_kafka_version()`).
public struct LibrdkafkaVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// `0xMMmmrrxx`: major, minor, revision, pre-release (0xff for a release).
    public var hex: UInt32

    /// The linked library's version.
    public static var current: LibrdkafkaVersion { LibrdkafkaVersion(hex: UInt32(bitPattern: rd_kafka_version())) }

    /// Whether closing a `cooperative-sticky` consumer before its first assignment is safe
    /// (librdkafka PR #4381, in 2.3.0).
    public var hasStickyAssignorStateFix: Bool { hex >= 0x0203_0000 }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.hex < rhs.hex }

    public var description: String { "librdkafka \(hex >> 24).\((hex >> 16) & 0xff).\((hex >> 8) & 0xff)" }
}
