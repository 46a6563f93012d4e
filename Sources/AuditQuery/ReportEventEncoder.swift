import ClickHouseHTTP
import Foundation
import NIOCore

/// Turns the `RowBinaryWithNamesAndTypes` answer of a row-mode piece straight into the
/// protobuf bytes of `ComplianceReportChunk` messages, row by row as the bytes arrive, without a
/// value, string or message object per row.
///
/// Each row's cells are located in the input, its `StoredEvent` encoding is sized, then written
/// in one pass. A row holding text that is not valid UTF-8 (protobuf strings must be) is written
/// from a copy of its cells with the invalid bytes replaced by U+FFFD, as `String(decoding:)` does.
///
/// A finished chunk is the complete encoding of a `ComplianceReportChunk` (its events, then its
/// `next_cursor`), which the transport sends as it is: no message type is involved.
struct ReportEventEncoder {
    /// The events of one chunk, ready to send.
    struct Chunk {
        /// The encoded `ComplianceReportChunk`.
        var bytes: ByteBuffer
        var rows: Int
        var last: ReportPosition
    }

    /// Cut a chunk at this many encoded bytes (a chunk may exceed it by one event).
    let chunkBytes: Int
    /// Stop reading the piece at this many encoded bytes (after a complete row).
    let budgetBytes: Int
    let tenant: [UInt8]
    let cursor: (ReportPosition) -> String

    private var pending = ByteBuffer()
    private var headerRead = false
    private var current = ByteBuffer()
    private var currentRows = 0
    private var currentLast: ReportPosition?
    private var metadata: [Slice] = []

    /// The chunks completed so far.
    private(set) var chunks: [Chunk] = []
    /// Rows and encoded bytes so far.
    private(set) var rows = 0
    private(set) var bytes = 0
    /// The last row's position.
    private(set) var last: ReportPosition?

    init(tenant: String, chunkBytes: Int, budgetBytes: Int, cursor: @escaping (ReportPosition) -> String) {
        self.tenant = Array(tenant.utf8)
        self.chunkBytes = max(1, chunkBytes)
        self.budgetBytes = max(1, budgetBytes)
        self.cursor = cursor
        current.reserveCapacity(min(self.chunkBytes, 1 << 20) + 4096)
    }

    /// True once the piece's byte budget is spent: the reader should stop (the rows so far
    /// are a correct prefix of the piece).
    var isOverBudget: Bool { bytes >= budgetBytes }

    /// Encodes the complete rows of `input` (and of earlier input); keeps an incomplete last
    /// row for the next call. Stops at the byte budget.
    ///
    /// - Throws: ``ReportEncodingError`` for a malformed answer, a header other than the row
    ///   columns, or an event of another tenant.
    mutating func feed(_ input: ByteBuffer) throws(ReportEncodingError) {
        if pending.readableBytes == 0 {
            pending = input
        } else {
            var input = input
            if pending.readerIndex > 1 << 16 { pending.discardReadBytes() }
            pending.writeBuffer(&input)
        }
        if !headerRead {
            guard try readHeader() else { return }
        }
        while !isOverBudget, pending.readableBytes > 0 {
            guard try encodeRow() else { break }
        }
    }

    /// Ends the piece: checks that the answer ended on a row boundary (unless the reader stopped
    /// at the budget) and closes the last chunk.
    mutating func finish(stoppedEarly: Bool) throws(ReportEncodingError) {
        if !stoppedEarly {
            guard headerRead else { throw ReportEncodingError("the answer ended before its header was complete") }
            guard pending.readableBytes == 0 else {
                throw ReportEncodingError("the answer ended inside a row (\(pending.readableBytes) bytes left over)")
            }
        }
        closeChunk()
    }

    // MARK: Header

    private mutating func readHeader() throws(ReportEncodingError) -> Bool {
        let start = pending.readerIndex
        func leb128() throws(ReportEncodingError) -> UInt64? {
            do { return try pending.readLEB128() } catch { throw ReportEncodingError(error.message) }
        }
        func text() throws(ReportEncodingError) -> String? {
            guard let length = try leb128() else { return nil }
            guard length < 1 << 20 else { throw ReportEncodingError("a header name is \(length) bytes long") }
            return pending.readString(length: Int(length))
        }
        guard let count = try leb128() else { pending.moveReaderIndex(to: start); return false }
        let expected = ComplianceReportStatement.rowColumns
        guard count == UInt64(expected.count) else {
            throw ReportEncodingError("the answer has \(count) columns, expected \(expected.count)")
        }
        var names: [String] = []
        var types: [String] = []
        for _ in 0..<expected.count {
            guard let name = try text() else { pending.moveReaderIndex(to: start); return false }
            names.append(name)
        }
        for _ in 0..<expected.count {
            guard let type = try text() else { pending.moveReaderIndex(to: start); return false }
            types.append(type)
        }
        for (index, want) in expected.enumerated() {
            let got = try? ClickHouseType(parsing: types[index])
            let plain: ClickHouseType? = if case .lowCardinality(let inner) = got { inner } else { got }
            guard names[index] == want.name, plain == want.type else {
                throw ReportEncodingError("column '\(names[index])' \(types[index]) where '\(want.name)' \(want.type) was expected")
            }
        }
        headerRead = true
        return true
    }

    // MARK: Rows

    struct Slice {
        var start: Int
        var count: Int
    }

    /// The cells of one row, as offsets into the input.
    private struct Row {
        var tenant = Slice(start: 0, count: 0)
        var eventType = Slice(start: 0, count: 0)
        var timestamp: Int64 = 0
        var eventID = Slice(start: 0, count: 0)
        var actor = Slice(start: 0, count: 0)
        var resource = Slice(start: 0, count: 0)
        var action = Slice(start: 0, count: 0)
        var ingestedAt: Int64 = 0
        var schemaID: Int32 = 0
        var partition: Int32 = 0
        var offset: Int64 = 0
    }

    /// Encodes the next row; false when it is not complete yet.
    private mutating func encodeRow() throws(ReportEncodingError) -> Bool {
        metadata.removeAll(keepingCapacity: true)
        var row = Row()
        let consumed: Int? = try pending.withUnsafeReadableBytes { (input) throws(ReportEncodingError) -> Int? in
            var reader = Reader(input)
            guard let tenant = try reader.string(), let eventType = try reader.string(), let timestamp = reader.int64(),
                  let eventID = try reader.string(), let actor = try reader.string(), let resource = try reader.string(),
                  let action = try reader.string(), let entries = try reader.length()
            else { return nil }
            for _ in 0..<entries {
                guard let key = try reader.string(), let value = try reader.string() else { return nil }
                metadata.append(key)
                metadata.append(value)
            }
            guard let ingestedAt = reader.int64(), let schemaID = reader.int32(), let partition = reader.int32(), let offset = reader.int64()
            else { return nil }
            row = Row(
                tenant: tenant, eventType: eventType, timestamp: timestamp, eventID: eventID, actor: actor, resource: resource,
                action: action, ingestedAt: ingestedAt, schemaID: schemaID, partition: partition, offset: offset
            )
            // Defence in depth: the WHERE clause already pins the tenant.
            guard tenant.count == self.tenant.count, memcmp(input.baseAddress! + tenant.start, self.tenant, tenant.count) == 0 else {
                throw ReportEncodingError("ClickHouse returned an event of another tenant")
            }
            return reader.offset
        }
        guard let consumed else { return false }
        let written = pending.withUnsafeReadableBytes { input in
            Self.isValidUTF8(input, row, metadata) ? writeEvent(input, row) : nil
        } ?? writeRepairedEvent(row)
        pending.moveReaderIndex(forwardBy: consumed)
        rows += 1
        bytes += written
        currentRows += 1
        let position = ReportPosition(timestampMilliseconds: row.timestamp, kafkaPartition: row.partition, kafkaOffset: row.offset)
        currentLast = position
        last = position
        if current.readableBytes >= chunkBytes { closeChunk() }
        return true
    }

    /// Writes `StoredEvent` as field 1 of the chunk; returns the bytes written.
    private mutating func writeEvent(_ input: UnsafeRawBufferPointer, _ row: Row) -> Int {
        let base = input.baseAddress!
        @inline(__always) func stringSize(_ slice: Slice) -> Int {
            slice.count == 0 ? 0 : 1 + ProtobufWire.varintSize(UInt64(slice.count)) + slice.count
        }
        var entriesSize = 0
        var index = 0
        while index < metadata.count {
            let entry = Self.entrySize(metadata[index], metadata[index + 1])
            entriesSize += 1 + ProtobufWire.varintSize(UInt64(entry)) + entry
            index += 2
        }
        let eventSize = stringSize(row.eventID) + stringSize(row.tenant) + stringSize(row.actor) + stringSize(row.eventType)
            + stringSize(row.resource) + stringSize(row.action) + ProtobufWire.int64FieldSize(row.timestamp) + entriesSize
        let storedSize = 1 + ProtobufWire.varintSize(UInt64(eventSize)) + eventSize
            + ProtobufWire.int64FieldSize(row.ingestedAt) + ProtobufWire.int64FieldSize(Int64(row.schemaID))
            + ProtobufWire.int64FieldSize(Int64(row.partition)) + ProtobufWire.int64FieldSize(row.offset)
        let total = 1 + ProtobufWire.varintSize(UInt64(storedSize)) + storedSize
        let metadata = self.metadata
        current.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { output in
            var out = ProtobufWire.Writer(output.baseAddress!)
            @inline(__always) func string(_ tag: UInt8, _ slice: Slice) {
                guard slice.count > 0 else { return }
                out.byte(tag)
                out.varint(UInt64(slice.count))
                out.copy(base + slice.start, slice.count)
            }
            out.byte(0x0A)  // ComplianceReportChunk.events
            out.varint(UInt64(storedSize))
            out.byte(0x0A)  // StoredEvent.event
            out.varint(UInt64(eventSize))
            string(0x0A, row.eventID)
            string(0x12, row.tenant)
            string(0x1A, row.actor)
            string(0x22, row.eventType)
            string(0x2A, row.resource)
            string(0x32, row.action)
            out.int64Field(0x38, row.timestamp)
            var index = 0
            while index < metadata.count {
                let key = metadata[index], value = metadata[index + 1]
                out.byte(0x42)  // AuditEvent.metadata entry
                out.varint(UInt64(Self.entrySize(key, value)))
                out.byte(0x0A)
                out.varint(UInt64(key.count))
                out.copy(base + key.start, key.count)
                out.byte(0x12)
                out.varint(UInt64(value.count))
                out.copy(base + value.start, value.count)
                index += 2
            }
            out.int64Field(0x10, row.ingestedAt)
            out.int64Field(0x18, Int64(row.schemaID))
            out.int64Field(0x20, Int64(row.partition))
            out.int64Field(0x28, row.offset)
            return out.written
        }
        return total
    }

    @inline(__always) private static func entrySize(_ key: Slice, _ value: Slice) -> Int {
        2 + ProtobufWire.varintSize(UInt64(key.count)) + key.count + ProtobufWire.varintSize(UInt64(value.count)) + value.count
    }

    /// The slow path for a row with invalid UTF-8: its text cells are copied with each invalid
    /// sequence replaced by U+FFFD, then written as any other row.
    private mutating func writeRepairedEvent(_ row: Row) -> Int {
        var repaired: [UInt8] = []
        var fixed = row
        let original = metadata
        var repairedMetadata: [Slice] = []
        pending.withUnsafeReadableBytes { input in
            func copy(_ slice: Slice) -> Slice {
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: input[slice.start..<(slice.start + slice.count)]), as: UTF8.self)
                let start = repaired.count
                repaired.append(contentsOf: text.utf8)
                return Slice(start: start, count: repaired.count - start)
            }
            fixed.tenant = copy(row.tenant)
            fixed.eventType = copy(row.eventType)
            fixed.eventID = copy(row.eventID)
            fixed.actor = copy(row.actor)
            fixed.resource = copy(row.resource)
            fixed.action = copy(row.action)
            repairedMetadata = original.map(copy)
        }
        metadata = repairedMetadata
        defer { metadata = original }
        return repaired.withUnsafeBytes { writeEvent($0, fixed) }
    }

    /// Whether every text cell of the row is valid UTF-8: one pass over them when they are all
    /// ASCII (the usual case), the full check otherwise.
    private static func isValidUTF8(_ input: UnsafeRawBufferPointer, _ row: Row, _ metadata: [Slice]) -> Bool {
        let base = input.baseAddress!
        var high = orBytes(base, row.tenant) | orBytes(base, row.eventType) | orBytes(base, row.eventID)
        high |= orBytes(base, row.actor) | orBytes(base, row.resource) | orBytes(base, row.action)
        for slice in metadata { high |= orBytes(base, slice) }
        if high & 0x8080_8080_8080_8080 == 0 { return true }
        @inline(__always) func valid(_ slice: Slice) -> Bool {
            ProtobufWire.isValidUTF8(base + slice.start, slice.count)
        }
        guard valid(row.tenant), valid(row.eventType), valid(row.eventID), valid(row.actor), valid(row.resource), valid(row.action) else {
            return false
        }
        return metadata.allSatisfy(valid)
    }

    /// The bitwise OR of a cell's bytes, eight at a time (its high bits say whether it is ASCII).
    @inline(__always) private static func orBytes(_ base: UnsafeRawPointer, _ slice: Slice) -> UInt64 {
        var pointer = base + slice.start
        let end = pointer + slice.count
        var high: UInt64 = 0
        while end - pointer >= 8 {
            high |= pointer.loadUnaligned(as: UInt64.self)
            pointer += 8
        }
        while pointer < end {
            high |= UInt64(pointer.load(as: UInt8.self))
            pointer += 1
        }
        return high
    }

    // MARK: Chunks

    private mutating func closeChunk() {
        guard currentRows > 0, let last = currentLast else { return }
        ProtobufWire.appendString(0x1A, cursor(last), to: &current)  // ComplianceReportChunk.next_cursor
        chunks.append(Chunk(bytes: current, rows: currentRows, last: last))
        current = ByteBuffer()
        current.reserveCapacity(min(chunkBytes, 1 << 20) + 4096)
        currentRows = 0
        currentLast = nil
    }
}

/// The answer of a report query could not be read.
struct ReportEncodingError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// A bounds-checked reader of RowBinary cells; each read returns nil when the input ends first.
private struct Reader {
    let input: UnsafeRawBufferPointer
    var offset = 0

    init(_ input: UnsafeRawBufferPointer) { self.input = input }

    @inline(__always) mutating func length() throws(ReportEncodingError) -> Int? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while offset < input.count {
            let byte = input[offset]
            offset += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 {
                guard value < 1 << 30 else { throw ReportEncodingError("a length of \(value) bytes in the answer") }
                return Int(value)
            }
            shift += 7
            guard shift < 64 else { throw ReportEncodingError("a malformed LEB128 length in the answer") }
        }
        return nil
    }

    @inline(__always) mutating func string() throws(ReportEncodingError) -> ReportEventEncoder.Slice? {
        guard let count = try length(), input.count - offset >= count else { return nil }
        defer { offset += count }
        return ReportEventEncoder.Slice(start: offset, count: count)
    }

    @inline(__always) mutating func int64() -> Int64? {
        guard input.count - offset >= 8 else { return nil }
        defer { offset += 8 }
        return Int64(littleEndian: input.loadUnaligned(fromByteOffset: offset, as: Int64.self))
    }

    @inline(__always) mutating func int32() -> Int32? {
        guard input.count - offset >= 4 else { return nil }
        defer { offset += 4 }
        return Int32(littleEndian: input.loadUnaligned(fromByteOffset: offset, as: Int32.self))
    }
}

/// Protobuf wire-format helpers shared by the report's encoder and its readers.
package enum ProtobufWire {
    /// Appends a string field (tag, length, UTF-8 bytes); nothing for an empty string (proto3).
    static func appendString(_ tag: UInt8, _ text: String, to buffer: inout ByteBuffer) {
        guard !text.isEmpty else { return }
        buffer.writeInteger(tag)
        buffer.writeLEB128(UInt64(text.utf8.count))  // a protobuf varint is unsigned LEB128
        buffer.writeString(text)
    }

    @inline(__always) static func varintSize(_ value: UInt64) -> Int {
        // 1 byte per started group of 7 bits; 0 takes 1 byte.
        (64 - (value | 1).leadingZeroBitCount + 6) / 7
    }

    /// Tag plus varint of a non-zero int32/int64 field (negative values take 10 bytes); 0 when
    /// the value is 0 (proto3 leaves defaults out).
    @inline(__always) static func int64FieldSize(_ value: Int64) -> Int {
        value == 0 ? 0 : 1 + varintSize(UInt64(bitPattern: value))
    }

    /// True for valid UTF-8 (ASCII checked eight bytes at a time).
    @inline(__always) static func isValidUTF8(_ base: UnsafeRawPointer, _ count: Int) -> Bool {
        var index = 0
        var high: UInt64 = 0
        while index + 8 <= count {
            high |= base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < count {
            high |= UInt64(base.load(fromByteOffset: index, as: UInt8.self))
            index += 1
        }
        return high & 0x8080_8080_8080_8080 == 0 || isValidNonASCII(UnsafeRawBufferPointer(start: base, count: count))
    }

    private static func isValidNonASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// Writes protobuf fields at a pointer; the caller has reserved room.
    struct Writer {
        let start: UnsafeMutableRawPointer
        var pointer: UnsafeMutableRawPointer

        init(_ start: UnsafeMutableRawPointer) {
            self.start = start
            self.pointer = start
        }

        var written: Int { pointer - start }

        @inline(__always) mutating func byte(_ value: UInt8) {
            pointer.storeBytes(of: value, as: UInt8.self)
            pointer += 1
        }

        @inline(__always) mutating func varint(_ value: UInt64) {
            var value = value
            while value >= 0x80 {
                byte(UInt8(truncatingIfNeeded: value) | 0x80)
                value >>= 7
            }
            byte(UInt8(value))
        }

        @inline(__always) mutating func int64Field(_ tag: UInt8, _ value: Int64) {
            guard value != 0 else { return }
            byte(tag)
            varint(UInt64(bitPattern: value))
        }

        @inline(__always) mutating func copy(_ source: UnsafeRawPointer, _ count: Int) {
            pointer.copyMemory(from: source, byteCount: count)
            pointer += count
        }
    }
}

extension ProtobufWire {
    /// Reads protobuf fields from bytes: the CLI's export writer and the benchmark's chunk counter.
    package struct Reader {
        let input: UnsafeRawBufferPointer
        var offset = 0

        package init(_ input: UnsafeRawBufferPointer) { self.input = input }

        @inline(__always) package mutating func varint() throws(ReportExportError) -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while offset < input.count {
                let byte = input[offset]
                offset += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
                if shift >= 64 { break }
            }
            throw ReportExportError(description: "a malformed varint in a report chunk")
        }

        /// The next field number and wire type; nil at the end.
        @inline(__always) package mutating func tag() throws(ReportExportError) -> (Int, UInt64)? {
            guard offset < input.count else { return nil }
            let tag = try varint()
            return (Int(truncatingIfNeeded: tag >> 3), tag & 7)
        }

        @inline(__always) package mutating func bytes() throws(ReportExportError) -> UnsafeRawBufferPointer {
            let length = try varint()
            guard length <= UInt64(input.count - offset) else { throw ReportExportError(description: "a field runs past the end of a report chunk") }
            defer { offset += Int(length) }
            return UnsafeRawBufferPointer(rebasing: input[offset..<(offset + Int(length))])
        }

        package mutating func skip(_ wireType: UInt64) throws(ReportExportError) {
            switch wireType {
            case 0: _ = try varint()
            case 1, 5:
                let size = wireType == 1 ? 8 : 4
                guard input.count - offset >= size else { throw ReportExportError(description: "a field runs past the end of a report chunk") }
                offset += size
            case 2: _ = try bytes()
            default: throw ReportExportError(description: "wire type \(wireType) in a report chunk")
            }
        }
    }
}
