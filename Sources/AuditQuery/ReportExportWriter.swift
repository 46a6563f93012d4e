import AuditEvents
import Foundation

/// The text formats a report's events are exported in.
public enum ReportExportFormat: Sendable, Hashable {
    /// RFC 4180 CSV with a header line: `timestamp,event_type,actor_id,action,resource,event_id,metadata`,
    /// metadata as `key=value` pairs sorted by key and joined with `;`.
    case csv
    /// One JSON object per line, keys sorted: `action, actor_id, event_id, event_type,
    /// ingested_at, kafka_offset, kafka_partition, metadata (keys sorted), resource, schema_id,
    /// tenant_id, timestamp`; times in RFC 3339 UTC with milliseconds.
    case ndjson
}

/// Writes the events of `ComplianceReportChunk` messages as CSV or NDJSON lines straight from
/// the messages' protobuf bytes: no message, string or formatter per event, so exporting keeps
/// up with the server.
///
/// ```swift
/// var writer = ReportExportWriter(format: .csv)
/// var output: [UInt8] = []
/// writer.appendHeader(to: &output)
/// let summary = try writer.append(chunk: bytes, to: &output)   // bytes of one gRPC message
/// ```
public struct ReportExportWriter {
    /// The format written.
    public let format: ReportExportFormat
    private var entries: [Entry] = []

    /// A writer of `format`.
    public init(format: ReportExportFormat) { self.format = format }

    /// The CSV header line (nothing for NDJSON).
    public func appendHeader(to output: inout [UInt8]) {
        guard format == .csv else { return }
        output.append(contentsOf: "timestamp,event_type,actor_id,action,resource,event_id,metadata\n".utf8)
    }

    /// What one chunk held.
    public struct ChunkSummary: Sendable, Hashable {
        /// Events written.
        public var events: Int
        /// Aggregate rows in the chunk (not written: aggregate reports are small, format them from the message).
        public var aggregates: Int
        /// The chunk's `next_cursor` (empty when none).
        public var nextCursor: String

        /// Creates a summary.
        public init(events: Int, aggregates: Int, nextCursor: String) {
            self.events = events
            self.aggregates = aggregates
            self.nextCursor = nextCursor
        }
    }

    /// Appends one line per event of the chunk whose protobuf encoding is `chunk`.
    ///
    /// - Throws: ``ReportExportError`` when the bytes are not a `ComplianceReportChunk`.
    public mutating func append(chunk: UnsafeRawBufferPointer, to output: inout [UInt8]) throws(ReportExportError) -> ChunkSummary {
        var summary = ChunkSummary(events: 0, aggregates: 0, nextCursor: "")
        var reader = ProtobufWire.Reader(chunk)
        while let (field, wireType) = try reader.tag() {
            switch (field, wireType) {
            case (1, 2):
                try appendEvent(try reader.bytes(), to: &output)
                summary.events += 1
            case (2, 2):
                _ = try reader.bytes()
                summary.aggregates += 1
            case (3, 2):
                summary.nextCursor = String(decoding: try reader.bytes(), as: UTF8.self)
            default:
                try reader.skip(wireType)
            }
        }
        return summary
    }

    /// Appends `chunk` (its bytes in an array).
    ///
    /// - Throws: ``ReportExportError`` when the bytes are not a `ComplianceReportChunk`.
    public mutating func append(chunk: [UInt8], to output: inout [UInt8]) throws -> ChunkSummary {
        try chunk.withUnsafeBytes { bytes in try append(chunk: bytes, to: &output) }
    }

    // MARK: Events

    private struct Entry {
        var key: UnsafeRawBufferPointer
        var value: UnsafeRawBufferPointer
    }

    private struct Event {
        var eventID = UnsafeRawBufferPointer(start: nil, count: 0)
        var tenant = UnsafeRawBufferPointer(start: nil, count: 0)
        var actor = UnsafeRawBufferPointer(start: nil, count: 0)
        var eventType = UnsafeRawBufferPointer(start: nil, count: 0)
        var resource = UnsafeRawBufferPointer(start: nil, count: 0)
        var action = UnsafeRawBufferPointer(start: nil, count: 0)
        var timestamp: Int64 = 0
        var ingestedAt: Int64 = 0
        var schemaID: Int32 = 0
        var partition: Int32 = 0
        var offset: Int64 = 0
    }

    private mutating func appendEvent(_ stored: UnsafeRawBufferPointer, to output: inout [UInt8]) throws(ReportExportError) {
        var event = Event()
        entries.removeAll(keepingCapacity: true)
        var outer = ProtobufWire.Reader(stored)
        while let (field, wireType) = try outer.tag() {
            switch (field, wireType) {
            case (1, 2):
                var inner = ProtobufWire.Reader(try outer.bytes())
                while let (field, wireType) = try inner.tag() {
                    switch (field, wireType) {
                    case (1, 2): event.eventID = try inner.bytes()
                    case (2, 2): event.tenant = try inner.bytes()
                    case (3, 2): event.actor = try inner.bytes()
                    case (4, 2): event.eventType = try inner.bytes()
                    case (5, 2): event.resource = try inner.bytes()
                    case (6, 2): event.action = try inner.bytes()
                    case (7, 0): event.timestamp = Int64(bitPattern: try inner.varint())
                    case (8, 2):
                        var entry = ProtobufWire.Reader(try inner.bytes())
                        var pair = Entry(key: UnsafeRawBufferPointer(start: nil, count: 0), value: UnsafeRawBufferPointer(start: nil, count: 0))
                        while let (field, wireType) = try entry.tag() {
                            switch (field, wireType) {
                            case (1, 2): pair.key = try entry.bytes()
                            case (2, 2): pair.value = try entry.bytes()
                            default: try entry.skip(wireType)
                            }
                        }
                        // A later entry with the same key wins, as in a protobuf map.
                        if let index = entries.firstIndex(where: { Self.equal($0.key, pair.key) }) {
                            entries[index] = pair
                        } else {
                            entries.append(pair)
                        }
                    default: try inner.skip(wireType)
                    }
                }
            case (2, 0): event.ingestedAt = Int64(bitPattern: try outer.varint())
            case (3, 0): event.schemaID = Int32(truncatingIfNeeded: try outer.varint())
            case (4, 0): event.partition = Int32(truncatingIfNeeded: try outer.varint())
            case (5, 0): event.offset = Int64(bitPattern: try outer.varint())
            default: try outer.skip(wireType)
            }
        }
        sortEntries()
        switch format {
        case .csv: appendCSV(event, to: &output)
        case .ndjson: appendJSON(event, to: &output)
        }
    }

    /// Insertion sort by key bytes (UTF-8 byte order is code point order): few entries, no allocation.
    private mutating func sortEntries() {
        guard entries.count > 1 else { return }
        for index in 1..<entries.count {
            let entry = entries[index]
            var position = index
            while position > 0, Self.less(entry.key, entries[position - 1].key) {
                entries[position] = entries[position - 1]
                position -= 1
            }
            entries[position] = entry
        }
    }

    private static func less(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        let common = min(a.count, b.count)
        if common > 0 {
            let order = memcmp(a.baseAddress!, b.baseAddress!, common)
            if order != 0 { return order < 0 }
        }
        return a.count < b.count
    }

    private static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
    }

    private static func appendTime(_ milliseconds: Int64, to output: inout [UInt8]) {
        withUnsafeTemporaryAllocation(byteCount: RFC3339.length, alignment: 1) { buffer in
            RFC3339.write(milliseconds: milliseconds, to: buffer.baseAddress!)
            output.appendBytes(UnsafeRawBufferPointer(buffer))
        }
    }

    // MARK: CSV

    private static func needsQuotes(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for byte in bytes where byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
            return true
        }
        return false
    }

    /// Appends `bytes` with quotes doubled (the caller writes the surrounding quotes).
    private static func appendQuotedBody(_ bytes: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        for byte in bytes {
            if byte == UInt8(ascii: "\"") { output.append(byte) }
            output.append(byte)
        }
    }

    private static func appendCSVField(_ bytes: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        if needsQuotes(bytes) {
            output.append(UInt8(ascii: "\""))
            appendQuotedBody(bytes, to: &output)
            output.append(UInt8(ascii: "\""))
        } else {
            output.appendBytes(bytes)
        }
    }

    private func appendCSV(_ event: Event, to output: inout [UInt8]) {
        Self.appendTime(event.timestamp, to: &output)
        output.append(UInt8(ascii: ","))
        Self.appendCSVField(event.eventType, to: &output)
        output.append(UInt8(ascii: ","))
        Self.appendCSVField(event.actor, to: &output)
        output.append(UInt8(ascii: ","))
        Self.appendCSVField(event.action, to: &output)
        output.append(UInt8(ascii: ","))
        Self.appendCSVField(event.resource, to: &output)
        output.append(UInt8(ascii: ","))
        Self.appendCSVField(event.eventID, to: &output)
        output.append(UInt8(ascii: ","))
        // The metadata cell: key=value;key=value, quoted as a whole when any part needs it.
        let quoted = entries.contains { Self.needsQuotes($0.key) || Self.needsQuotes($0.value) }
        if quoted { output.append(UInt8(ascii: "\"")) }
        for (index, entry) in entries.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ";")) }
            if quoted {
                Self.appendQuotedBody(entry.key, to: &output)
                output.append(UInt8(ascii: "="))
                Self.appendQuotedBody(entry.value, to: &output)
            } else {
                output.appendBytes(entry.key)
                output.append(UInt8(ascii: "="))
                output.appendBytes(entry.value)
            }
        }
        if quoted { output.append(UInt8(ascii: "\"")) }
        output.append(UInt8(ascii: "\n"))
    }

    // MARK: JSON

    private static let hex = Array("0123456789abcdef".utf8)

    private static func appendJSONString(_ bytes: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var clean = 0
        for (index, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            output.appendBytes(UnsafeRawBufferPointer(rebasing: bytes[clean..<index]))
            clean = index + 1
            output.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): output.append(byte)
            case UInt8(ascii: "\n"): output.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): output.append(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"): output.append(UInt8(ascii: "t"))
            case 0x08: output.append(UInt8(ascii: "b"))
            case 0x0C: output.append(UInt8(ascii: "f"))
            default:
                output.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            }
        }
        output.appendBytes(UnsafeRawBufferPointer(rebasing: bytes[clean...]))
        output.append(UInt8(ascii: "\""))
    }

    private static func appendKey(_ key: StaticString, to output: inout [UInt8]) {
        output.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
    }

    private static func appendInteger<I: BinaryInteger>(_ value: I, to output: inout [UInt8]) {
        guard value != 0 else {
            output.append(UInt8(ascii: "0"))
            return
        }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var count = 0
            while magnitude > 0 {
                digits[19 - count] = UInt8(truncatingIfNeeded: 48 + magnitude % 10)
                magnitude /= 10
                count += 1
            }
            if value < 0 { output.append(UInt8(ascii: "-")) }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: digits[(20 - count)...]))
        }
    }

    private func appendJSON(_ event: Event, to output: inout [UInt8]) {
        Self.appendKey("{\"action\":", to: &output)
        Self.appendJSONString(event.action, to: &output)
        Self.appendKey(",\"actor_id\":", to: &output)
        Self.appendJSONString(event.actor, to: &output)
        Self.appendKey(",\"event_id\":", to: &output)
        Self.appendJSONString(event.eventID, to: &output)
        Self.appendKey(",\"event_type\":", to: &output)
        Self.appendJSONString(event.eventType, to: &output)
        Self.appendKey(",\"ingested_at\":\"", to: &output)
        Self.appendTime(event.ingestedAt, to: &output)
        Self.appendKey("\",\"kafka_offset\":", to: &output)
        Self.appendInteger(event.offset, to: &output)
        Self.appendKey(",\"kafka_partition\":", to: &output)
        Self.appendInteger(event.partition, to: &output)
        Self.appendKey(",\"metadata\":{", to: &output)
        for (index, entry) in entries.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            Self.appendJSONString(entry.key, to: &output)
            output.append(UInt8(ascii: ":"))
            Self.appendJSONString(entry.value, to: &output)
        }
        Self.appendKey("},\"resource\":", to: &output)
        Self.appendJSONString(event.resource, to: &output)
        Self.appendKey(",\"schema_id\":", to: &output)
        Self.appendInteger(event.schemaID, to: &output)
        Self.appendKey(",\"tenant_id\":", to: &output)
        Self.appendJSONString(event.tenant, to: &output)
        Self.appendKey(",\"timestamp\":\"", to: &output)
        Self.appendTime(event.timestamp, to: &output)
        Self.appendKey("\"}\n", to: &output)
    }
}

/// The bytes are not a `ComplianceReportChunk`.
public struct ReportExportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong.
    public var description: String
}

extension [UInt8] {
    /// Appends raw bytes with one copy (`append(contentsOf:)` of a raw buffer goes byte by byte).
    @inline(__always) fileprivate mutating func appendBytes(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        append(contentsOf: UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: bytes.count))
    }
}
