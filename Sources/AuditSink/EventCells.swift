import AuditStore
import AuditConsumer
import AuditEvents
import AuditIntegrity
import AvroCodec
import ClickHouseHTTP
import NIOCore

/// The event's own cells of a row of the events table, `tenant_id` through `metadata` (the
/// first eight of ``EventRow/columns``), in RowBinary; the sink writes them into its insert as
/// they are and hashes the chain from them.
///
/// The metadata map holds one entry per key, sorted by the keys' UTF-8 bytes (the last value of
/// a key an Avro map repeats, as a decoder into a dictionary keeps). Records with the seed's
/// layout are transcoded into cells straight from their Avro bytes (``transcodeSeedRecord``):
/// no `AuditEvent`, no dictionary, no `String` but the tenant and the event id, which the
/// duplicate check keys on.
enum EventCells {
    /// A metadata entry of a record being transcoded: where its key and value are in the body.
    struct Entry {
        var key: Range<Int>
        var value: Range<Int>
    }

    /// What the sink reads of a transcoded record besides its cells.
    struct Summary {
        var tenantID: String
        var eventID: String
        var timestampMilliseconds: Int64
    }


    /// The outcome of transcoding one record.
    enum Transcoded {
        /// The cells were appended to the buffer.
        case cells(Summary)
        /// The record decodes, but the table cannot hold it (nothing was appended).
        case rejected(String)
    }

    /// Transcodes the binary body of a record with the seed's layout (the fields of
    /// `AuditEventSchema.seed` in order, see `AuditEventSchema.decodeSeedRecord`) into cells at
    /// the end of `cells`. Throws what `decodeSeedRecord` throws for the same body (nothing is
    /// appended then). `entries` is scratch space, reused from record to record.
    static func transcodeSeedRecord(
        _ body: UnsafeBufferPointer<UInt8>, into cells: inout ByteBuffer, entries: inout [Entry],
        options: AvroDecodingOptions = .default
    ) throws(AvroDecodingError) -> Transcoded {
        var reader = AvroByteReader(body, options: options)
        entries.removeAll(keepingCapacity: true)
        let fields = try AuditEventSchema.readSeedRecord(&reader) { key, value in entries.append(Entry(key: key, value: value)) }
        let timestamp = fields.timestampMilliseconds
        if let reason = StorableEvent.rejection(timestampMilliseconds: timestamp, eventIDIsEmpty: fields.eventID.isEmpty) { return .rejected(reason) }
        sortByKey(&entries, in: body)

        cells.writeRowBinaryString(reader.bytes(fields.tenantID))
        cells.writeRowBinaryString(reader.bytes(fields.eventType))
        cells.writeInteger(timestamp, endianness: .little)
        cells.writeRowBinaryString(reader.bytes(fields.eventID))
        cells.writeRowBinaryString(reader.bytes(fields.actorID))
        cells.writeRowBinaryString(reader.bytes(fields.resource))
        cells.writeRowBinaryString(reader.bytes(fields.action))
        cells.writeLEB128(UInt64(entries.count))
        for entry in entries {
            cells.writeRowBinaryString(reader.bytes(entry.key))
            cells.writeRowBinaryString(reader.bytes(entry.value))
        }
        return .cells(Summary(tenantID: reader.string(fields.tenantID), eventID: reader.string(fields.eventID), timestampMilliseconds: timestamp))
    }

    /// Sorts the entries by their keys' bytes, keeping the last entry of a repeated key. Ingest
    /// writes maps sorted already, so this is usually one comparison per entry.
    private static func sortByKey(_ entries: inout [Entry], in body: UnsafeBufferPointer<UInt8>) {
        func key(_ entry: Entry) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: body[entry.key]) }
        var sorted = true
        for index in entries.indices.dropFirst() where !key(entries[index - 1]).lexicographicallyPrecedes(key(entries[index])) {
            sorted = false
            break
        }
        if sorted { return }
        // By key, then by position, so that the last of equal keys comes last and wins.
        let ordered = entries.indices.sorted { a, b in
            let (x, y) = (key(entries[a]), key(entries[b]))
            if x.elementsEqual(y) { return a < b }
            return x.lexicographicallyPrecedes(y)
        }
        var unique: [Entry] = []
        unique.reserveCapacity(entries.count)
        for index in ordered {
            if let last = unique.last, key(last).elementsEqual(key(entries[index])) {
                unique[unique.count - 1] = entries[index]
            } else {
                unique.append(entries[index])
            }
        }
        entries = unique
    }

    /// Appends the cells of `event` (a record resolved from another writer schema, or a test's).
    static func write(_ event: AuditEvent, into cells: inout ByteBuffer) {
        cells.writeRowBinaryString(event.tenantID)
        cells.writeRowBinaryString(event.eventType)
        cells.writeInteger(event.timestampMilliseconds, endianness: .little)
        cells.writeRowBinaryString(event.eventID)
        cells.writeRowBinaryString(event.actorID)
        cells.writeRowBinaryString(event.resource)
        cells.writeRowBinaryString(event.action)
        cells.writeLEB128(UInt64(event.metadata.count))
        for (key, value) in event.metadata.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            cells.writeRowBinaryString(key)
            cells.writeRowBinaryString(value)
        }
    }

    /// Appends the chain's canonical encoding of the row (``ChainedEvent/canonicalBytes``) to
    /// `encoder`, read from its cells.
    static func appendCanonical(_ row: DecodedEvent, to encoder: inout CanonicalEncoder) {
        row.cells.withUnsafeReadableBytes { raw in
            var reader = CellReader(raw: raw)
            let tenantID = reader.string()
            let eventType = reader.string()
            let timestamp = reader.int64()
            let eventID = reader.string()
            encoder.append(string: ChainedEvent.canonicalVersion)
            encoder.append(utf8: tenantID)
            encoder.append(utf8: eventID)
            encoder.append(utf8: eventType)
            encoder.append(int64: timestamp)
            encoder.append(utf8: reader.string())  // actor_id
            encoder.append(utf8: reader.string())  // resource
            encoder.append(utf8: reader.string())  // action
            let count = reader.length()
            encoder.append(uint32: UInt32(truncatingIfNeeded: count))
            for _ in 0..<count {
                encoder.append(utf8: reader.string())
                encoder.append(utf8: reader.string())
            }
        }
        encoder.append(int32: row.schemaID)
        encoder.append(int32: row.sourcePartition)
        encoder.append(int64: row.sourceOffset)
    }

    /// Reads cells this type wrote (so it trusts their lengths; a bad one traps).
    private struct CellReader {
        let raw: UnsafeRawBufferPointer
        var position = 0

        mutating func length() -> Int {
            var result = 0
            var shift = 0
            while true {
                let byte = raw[position]
                position += 1
                result |= Int(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
        }

        mutating func string() -> UnsafeRawBufferPointer {
            let count = length()
            defer { position += count }
            return UnsafeRawBufferPointer(rebasing: raw[position..<position + count])
        }

        mutating func int64() -> Int64 {
            defer { position += 8 }
            return Int64(littleEndian: raw.loadUnaligned(fromByteOffset: position, as: Int64.self))
        }
    }
}

extension ByteBuffer {
    fileprivate mutating func writeRowBinaryString(_ bytes: UnsafeBufferPointer<UInt8>) {
        writeLEB128(UInt64(bytes.count))
        writeBytes(UnsafeRawBufferPointer(bytes))
    }
}
