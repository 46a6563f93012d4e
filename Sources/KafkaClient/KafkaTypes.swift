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
///
/// Its value, key and headers share one byte array, so a record costs one allocation and one
/// reference however many parts it has. ``valueBytes`` reads the value in place (the hot path);
/// ``value``, ``key`` and ``headers`` make arrays of their own on each access.
public struct KafkaMessage: Sendable, Hashable {
    /// The topic.
    public var topic: String
    /// The partition.
    public var partition: Int32
    /// The record's offset.
    public var offset: Int64
    /// The record timestamp (ms since epoch), `nil` if the record has none.
    public var timestampMilliseconds: Int64?
    /// The value, then the key, then each header: its name's and its value's length (4 bytes
    /// each, little endian), its name, its value.
    private let storage: [UInt8]
    /// The value's length; -1 for a null value.
    private let valueCount: Int32
    /// The key's length; -1 for no key.
    private let keyCount: Int32

    /// The value bytes in place, `nil` for a null value.
    public var valueBytes: ArraySlice<UInt8>? {
        valueCount < 0 ? nil : storage[0..<Int(valueCount)]
    }

    /// The value bytes, `nil` for a null value (a copy: ``valueBytes`` reads them in place).
    public var value: [UInt8]? { valueBytes.map { Array($0) } }

    /// The key bytes, `nil` when the record has no key.
    public var key: [UInt8]? {
        guard keyCount >= 0 else { return nil }
        let start = max(Int(valueCount), 0)
        return Array(storage[start..<start + Int(keyCount)])
    }

    /// The headers, in record order.
    public var headers: [KafkaHeader] {
        var headers: [KafkaHeader] = []
        forEachHeader { name, value in
            headers.append(KafkaHeader(name: String(decoding: storage[name], as: UTF8.self), value: Array(storage[value])))
        }
        return headers
    }

    /// The values of the headers named `name`, in record order, read in place: no header
    /// array and no String per header, so it is cheap to ask of every record.
    public func headerValues(named name: String) -> [ArraySlice<UInt8>] {
        var values: [ArraySlice<UInt8>] = []
        let wanted = name.utf8
        forEachHeader { name, value in
            if name.count == wanted.count, storage[name].elementsEqual(wanted) { values.append(storage[value]) }
        }
        return values
    }

    /// Calls `body` with the ranges in ``storage`` of each header's name and value, in order.
    private func forEachHeader(_ body: (Range<Int>, Range<Int>) -> Void) {
        var index = max(Int(valueCount), 0) + max(Int(keyCount), 0)
        func length() -> Int {
            defer { index += 4 }
            return Int(storage[index]) | Int(storage[index + 1]) << 8 | Int(storage[index + 2]) << 16 | Int(storage[index + 3]) << 24
        }
        while index < storage.count {
            let nameCount = length()
            let valueCount = length()
            let valueStart = index + nameCount
            body(index..<valueStart, valueStart..<valueStart + valueCount)
            index = valueStart + valueCount
        }
    }

    /// Creates a message (for tests and adapters).
    public init(
        topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]?,
        headers: [KafkaHeader], timestampMilliseconds: Int64?
    ) {
        var storage: [UInt8] = []
        storage.reserveCapacity((value?.count ?? 0) + (key?.count ?? 0) + headers.reduce(0) { $0 + 8 + $1.name.utf8.count + $1.value.count })
        if let value { storage.append(contentsOf: value) }
        if let key { storage.append(contentsOf: key) }
        for header in headers { Self.appendHeader(name: header.name.utf8, value: header.value, to: &storage) }
        self.init(
            topic: topic, partition: partition, offset: offset, timestampMilliseconds: timestampMilliseconds,
            storage: storage, valueCount: value.map { Int32($0.count) } ?? -1, keyCount: key.map { Int32($0.count) } ?? -1
        )
    }

    /// A message over `storage` laid out as described on the property (the consumer builds it
    /// straight from librdkafka's record).
    init(topic: String, partition: Int32, offset: Int64, timestampMilliseconds: Int64?, storage: [UInt8], valueCount: Int32, keyCount: Int32) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestampMilliseconds = timestampMilliseconds
        self.storage = storage
        self.valueCount = valueCount
        self.keyCount = keyCount
    }

    /// Appends one header in the storage's layout.
    static func appendHeader(name: some Collection<UInt8>, value: some Collection<UInt8>, to storage: inout [UInt8]) {
        for count in [name.count, value.count] {
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: count).littleEndian) { storage.append(contentsOf: $0) }
        }
        storage.append(contentsOf: name)
        storage.append(contentsOf: value)
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
