/// A topic and partition.
public struct KafkaTopicPartition: Sendable, Hashable, CustomStringConvertible {
    /// The topic name.
    public var topic: String
    /// The partition number (0-based).
    public var partition: Int32

    /// Creates a topic-partition.
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// `topic[partition]`.
    public var description: String { "\(topic)[\(partition)]" }
}

/// A topic, partition and offset: for commits, the offset is the *next* offset to read
/// (last processed offset + 1), as in Kafka's own convention.
public struct KafkaTopicPartitionOffset: Sendable, Hashable, CustomStringConvertible {
    /// The topic name.
    public var topic: String
    /// The partition number.
    public var partition: Int32
    /// The offset (for commits: the next offset to consume).
    public var offset: Int64

    /// Creates a topic-partition-offset.
    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    /// The topic-partition part.
    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }

    /// `topic[partition]@offset`.
    public var description: String { "\(topic)[\(partition)]@\(offset)" }
}

/// A record header: a name and raw bytes.
public struct KafkaHeader: Sendable, Hashable {
    /// The header name.
    public var name: String
    /// The header value bytes.
    public var value: [UInt8]

    /// Creates a header.
    public init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }
}

/// A record to produce.
public struct KafkaOutgoingMessage: Sendable, Hashable {
    /// The topic to write to.
    public var topic: String
    /// The key bytes; records with equal keys go to the same partition (murmur2, Java-compatible).
    /// `nil` writes a record without key (random partition).
    public var key: [UInt8]?
    /// The value bytes; `nil` writes a null value (a tombstone on compacted topics).
    public var value: [UInt8]?
    /// Headers, in order; names may repeat.
    public var headers: [KafkaHeader]
    /// An explicit partition, or `nil` to let the partitioner choose from the key.
    public var partition: Int32?
    /// The record timestamp in milliseconds since the epoch, or `nil` for "now".
    public var timestampMilliseconds: Int64?

    /// Creates a record.
    public init(
        topic: String,
        key: [UInt8]?,
        value: [UInt8]?,
        headers: [KafkaHeader] = [],
        partition: Int32? = nil,
        timestampMilliseconds: Int64? = nil
    ) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.partition = partition
        self.timestampMilliseconds = timestampMilliseconds
    }

    /// Convenience: headers as `(name, bytes)` pairs.
    public init(
        topic: String,
        key: [UInt8]?,
        value: [UInt8]?,
        headers: [(String, [UInt8])],
        partition: Int32? = nil
    ) {
        self.init(
            topic: topic, key: key, value: value,
            headers: headers.map { KafkaHeader(name: $0.0, value: $0.1) },
            partition: partition
        )
    }
}

/// Records for one topic produced as one unit by ``KafkaProducer/sendBatch(_:)``: their keys,
/// values and header values lie back to back in one byte buffer, each record names its ranges.
/// Building one costs two arrays per batch, not arrays per record.
public struct KafkaOutgoingBatch: Sendable {
    /// One record: ranges of ``KafkaOutgoingBatch/bytes``.
    public struct Record: Sendable, Hashable {
        /// The key's bytes; `nil` writes a record without key (random partition).
        public var key: Range<Int>?
        /// The value's bytes.
        public var value: Range<Int>
        /// The value of the batch's header (``KafkaOutgoingBatch/headerName``); `nil`: no header.
        public var headerValue: Range<Int>?
        /// An explicit partition, or `nil` to let the partitioner choose from the key.
        public var partition: Int32?

        /// Creates a record from ranges of the batch's bytes.
        public init(key: Range<Int>?, value: Range<Int>, headerValue: Range<Int>? = nil, partition: Int32? = nil) {
            self.key = key
            self.value = value
            self.headerValue = headerValue
            self.partition = partition
        }
    }

    /// The topic every record goes to (partitioned by key).
    public var topic: String
    /// The name of the one header a record may carry (e.g. `event_id`).
    public var headerName: String?
    /// Every record's bytes.
    public var bytes: [UInt8]
    /// The records, in order.
    public var records: [Record]

    /// Creates a batch; records are added with ``append(key:value:headerValue:)``.
    public init(topic: String, headerName: String? = nil, bytes: [UInt8] = [], records: [Record] = []) {
        self.topic = topic
        self.headerName = headerName
        self.bytes = bytes
        self.records = records
    }

    /// The number of records.
    public var count: Int { records.count }

    /// Appends a record whose bytes are copied into the batch's buffer.
    public mutating func append(
        key: (some Collection<UInt8>)?, value: some Collection<UInt8>, headerValue: (some Collection<UInt8>)?, partition: Int32? = nil
    ) {
        func add(_ part: some Collection<UInt8>) -> Range<Int> {
            let start = bytes.count
            bytes.append(contentsOf: part)
            return start..<bytes.count
        }
        let keyRange = key.map { add($0) }
        let valueRange = add(value)
        records.append(Record(key: keyRange, value: valueRange, headerValue: headerValue.map { add($0) }, partition: partition))
    }
}

/// The broker's acknowledgement of one record: where it was written.
public struct KafkaDeliveryReport: Sendable, Hashable {
    /// The topic written to.
    public var topic: String
    /// The partition written to.
    public var partition: Int32
    /// The offset the broker assigned.
    public var offset: Int64
    /// The record timestamp (ms since epoch) as reported, or `nil` if unavailable.
    public var timestampMilliseconds: Int64?
}

/// A record read by a ``KafkaConsumer``.
public struct KafkaMessage: Sendable, Hashable {
    /// The topic.
    public var topic: String
    /// The partition.
    public var partition: Int32
    /// The record's offset.
    public var offset: Int64
    /// The key bytes, `nil` when the record has no key.
    public var key: [UInt8]?
    /// The value bytes, `nil` for a null value.
    public var value: [UInt8]?
    /// The headers, in record order.
    public var headers: [KafkaHeader]
    /// The record timestamp (ms since epoch), `nil` if the record has none.
    public var timestampMilliseconds: Int64?

    /// Creates a message (for tests and adapters).
    public init(
        topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]?,
        headers: [KafkaHeader], timestampMilliseconds: Int64?
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
    }

    /// The offset to commit once this record is processed (`offset + 1`).
    public var nextOffset: KafkaTopicPartitionOffset {
        KafkaTopicPartitionOffset(topic: topic, partition: partition, offset: offset + 1)
    }
}

/// What a ``KafkaConsumer`` delivers, in order.
public enum KafkaConsumerEvent: Sendable, Hashable {
    /// A record.
    case message(KafkaMessage)
    /// Partitions were added to this consumer's assignment (for EAGER: the whole new assignment).
    case assigned([KafkaTopicPartition])
    /// Partitions were taken away (for EAGER: the whole previous assignment). See
    /// ``KafkaConsumer`` for the ordering guarantee.
    case revoked([KafkaTopicPartition])
}
