/// One stored audit event as it enters the hash chain: the columns of the events table that the
/// chain covers.
///
/// Excluded on purpose: `ingested_at` (the wall clock of the insert attempt, so a replayed batch
/// would hash differently), `insert_token` (bookkeeping), and the chain columns themselves (the
/// sequence number is bound by the chain's order; the hash is the output).
public struct ChainedEvent: Sendable, Hashable {
    /// `tenant_id`: whose chain the event is on.
    public var tenantID: String
    /// `event_id`.
    public var eventID: String
    /// `event_type`.
    public var eventType: String
    /// `timestamp`, milliseconds since the Unix epoch (UTC).
    public var timestampMilliseconds: Int64
    /// `actor_id`.
    public var actorID: String
    /// `resource`.
    public var resource: String
    /// `action`.
    public var action: String
    /// `metadata`.
    public var metadata: [String: String]
    /// `schema_id`: the Avro writer schema the record was produced with.
    public var schemaID: Int32
    /// `kafka_partition`: where the record was read from.
    public var kafkaPartition: Int32
    /// `kafka_offset`: the record's offset in that partition.
    public var kafkaOffset: Int64

    /// Creates an event with every chained column.
    public init(
        tenantID: String, eventID: String, eventType: String, timestampMilliseconds: Int64, actorID: String,
        resource: String, action: String, metadata: [String: String], schemaID: Int32, kafkaPartition: Int32, kafkaOffset: Int64
    ) {
        self.tenantID = tenantID
        self.eventID = eventID
        self.eventType = eventType
        self.timestampMilliseconds = timestampMilliseconds
        self.actorID = actorID
        self.resource = resource
        self.action = action
        self.metadata = metadata
        self.schemaID = schemaID
        self.kafkaPartition = kafkaPartition
        self.kafkaOffset = kafkaOffset
    }

    /// The canonical encoding, version 1. Stable: never change it; add a version instead.
    ///
    /// `lp(s)` is the UTF-8 byte count of `s` as a 4-byte big-endian unsigned integer followed by
    /// those bytes; `i32`/`i64`/`u32` are big-endian two's complement. The encoding is:
    ///
    /// ```
    /// lp("auditpipe.event.v1")
    /// lp(tenant_id) lp(event_id) lp(event_type) i64(timestamp_ms)
    /// lp(actor_id) lp(resource) lp(action)
    /// u32(number of metadata entries) then, sorted by the key's UTF-8 bytes, lp(key) lp(value)
    /// i32(schema_id) i32(kafka_partition) i64(kafka_offset)
    /// ```
    ///
    /// Every field is length-prefixed or fixed-width, so no two different events share an encoding.
    public var canonicalBytes: [UInt8] {
        var encoder = CanonicalEncoder()
        encoder.bytes.reserveCapacity(128 + tenantID.utf8.count + eventID.utf8.count + resource.utf8.count + metadata.count * 32)
        encoder.append(string: Self.canonicalVersion)
        encoder.append(string: tenantID)
        encoder.append(string: eventID)
        encoder.append(string: eventType)
        encoder.append(int64: timestampMilliseconds)
        encoder.append(string: actorID)
        encoder.append(string: resource)
        encoder.append(string: action)
        encoder.append(uint32: UInt32(metadata.count))
        let entries = metadata.count < 2 ? Array(metadata) : metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        for entry in entries {
            encoder.append(string: entry.key)
            encoder.append(string: entry.value)
        }
        encoder.append(int32: schemaID)
        encoder.append(int32: kafkaPartition)
        encoder.append(int64: kafkaOffset)
        return encoder.bytes
    }
}

extension ChainedEvent {
    /// The first field of ``canonicalBytes``.
    package static let canonicalVersion = "auditpipe.event.v1"
}

/// Builds canonical byte strings: length-prefixed byte strings and big-endian integers.
package struct CanonicalEncoder: Sendable {
    package var bytes: [UInt8] = []

    package init() {}

    package mutating func append(string: String) {
        // No intermediate array: the UTF-8 view is appended directly (the hot path of the sink).
        let utf8 = string.utf8
        append(uint32: UInt32(truncatingIfNeeded: utf8.count))
        bytes.append(contentsOf: utf8)
    }

    mutating func append(bytes value: [UInt8]) {
        append(uint32: UInt32(truncatingIfNeeded: value.count))
        bytes.append(contentsOf: value)
    }

    /// Appends UTF-8 bytes as a length-prefixed string (the same bytes as ``append(string:)``).
    package mutating func append(utf8 value: UnsafeRawBufferPointer) {
        append(uint32: UInt32(truncatingIfNeeded: value.count))
        bytes.append(contentsOf: value)
    }

    package mutating func append(uint32 value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    package mutating func append(int32 value: Int32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    package mutating func append(int64 value: Int64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(uint64 value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}
