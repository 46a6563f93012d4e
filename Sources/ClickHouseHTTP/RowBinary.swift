public import NIOCore

/// A value of one ClickHouse cell, as written by ``RowBinaryWriter`` and read by
/// ``RowBinaryReader``. Integer cases cover every width; the column type decides the encoding
/// and the writer checks the range.
public enum ClickHouseValue: Sendable, Hashable {
    /// `String`, `FixedString(N)`, `LowCardinality(String)`: raw bytes.
    case bytes([UInt8])
    /// `UInt8` ... `UInt64`.
    case uint(UInt64)
    /// `Int8` ... `Int64`.
    case int(Int64)
    /// `Float32`, `Float64`.
    case float(Double)
    /// `Bool`.
    case bool(Bool)
    /// `DateTime`: seconds since the epoch; `DateTime64(p)`: ticks of 10^-p s since the epoch
    /// (milliseconds for `DateTime64(3, 'UTC')`).
    case time(Int64)
    /// `Array(T)`.
    case array([ClickHouseValue])
    /// `Map(K, V)`: entries in order.
    case map([ClickHouseMapEntry])
    /// `NULL` of a `Nullable(T)` column.
    case null

    /// A `String` value holding the UTF-8 bytes of `text`.
    public static func string(_ text: String) -> ClickHouseValue { .bytes(Array(text.utf8)) }

    /// A `Map(String, String)` value, entries sorted by the keys' UTF-8 bytes.
    public static func stringMap(_ dictionary: [String: String]) -> ClickHouseValue {
        .map(dictionary.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map { ClickHouseMapEntry(key: .string($0.key), value: .string($0.value)) })
    }

    /// An `Array(String)` value.
    public static func strings(_ texts: [String]) -> ClickHouseValue { .array(texts.map { .string($0) }) }

    /// The bytes as UTF-8 text (nil for other cases or invalid UTF-8).
    public var stringValue: String? {
        if case .bytes(let bytes) = self { return String(validating: bytes, as: UTF8.self) }
        return nil
    }
}

/// One entry of a `Map(K, V)` value.
public struct ClickHouseMapEntry: Sendable, Hashable {
    /// The key.
    public var key: ClickHouseValue
    /// The value.
    public var value: ClickHouseValue
    /// Creates an entry.
    public init(key: ClickHouseValue, value: ClickHouseValue) {
        self.key = key
        self.value = value
    }
}

/// Encodes rows in ClickHouse's `RowBinaryWithNamesAndTypes` (or plain `RowBinary`) format.
///
/// The header (column count, names, types) is written first, so an
/// `INSERT ... FORMAT RowBinaryWithNamesAndTypes` makes the server check names and types
/// against the table. Each ``append(_:)`` checks every value against its column type and
/// writes the whole row or nothing.
public struct RowBinaryWriter: Sendable {
    /// The columns, in order.
    public let columns: [ClickHouseColumn]
    /// The encoded bytes so far (header plus rows).
    public private(set) var buffer: ByteBuffer
    /// The number of rows appended.
    public private(set) var rowCount = 0

    /// Starts a body; with `header` true (the default) it begins with the
    /// RowBinaryWithNamesAndTypes header.
    public init(columns: [ClickHouseColumn], header: Bool = true, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        self.columns = columns
        var buffer = allocator.buffer(capacity: 4096)
        if header {
            buffer.writeLEB128(UInt64(columns.count))
            for column in columns { buffer.writeRowBinaryString(Array(column.name.utf8)) }
            for column in columns { buffer.writeRowBinaryString(Array(column.type.description.utf8)) }
        }
        self.buffer = buffer
    }

    /// Makes room for at least `bytes` more bytes, so a large body is not copied as it grows.
    public mutating func reserveCapacity(forAdditionalBytes bytes: Int) {
        buffer.reserveCapacity(minimumWritableBytes: bytes)
    }

    /// Appends one row that `encode` writes straight into the body, for callers with a fixed row
    /// shape that cannot afford a ``ClickHouseValue`` per cell. The bytes must be the columns'
    /// RowBinary encodings in order (the ``ByteBuffer`` helpers `writeRowBinaryString`,
    /// `writeLEB128`); nothing checks them here, but ClickHouse refuses a body that does not parse.
    public mutating func appendEncodedRow(_ encode: (inout ByteBuffer) -> Void) {
        encode(&buffer)
        rowCount += 1
    }

    /// Appends one row.
    ///
    /// - Throws: ``ClickHouseError`` of kind ``ClickHouseError/Kind/invalidInput`` naming the
    ///   column and the rule when a value does not fit its column; nothing is written then.
    public mutating func append(_ row: [ClickHouseValue]) throws(ClickHouseError) {
        guard row.count == columns.count else {
            throw ClickHouseError(kind: .invalidInput, message: "row \(rowCount) has \(row.count) values but the table has \(columns.count) columns")
        }
        let start = buffer.writerIndex
        do throws(ClickHouseError) {
            for (column, value) in zip(columns, row) {
                do throws(ClickHouseError) {
                    try Self.encode(value, as: column.type, into: &buffer)
                } catch {
                    throw ClickHouseError(kind: .invalidInput, message: "row \(rowCount), column '\(column.name)' (\(column.type)): \(error.message)")
                }
            }
        } catch {
            buffer.moveWriterIndex(to: start)
            throw error
        }
        rowCount += 1
    }

    /// Encodes one value of `type` into `buffer`.
    public static func encode(_ value: ClickHouseValue, as type: ClickHouseType, into buffer: inout ByteBuffer) throws(ClickHouseError) {
        func mismatch() -> ClickHouseError {
            ClickHouseError(kind: .invalidInput, message: "value \(value) does not fit type \(type)")
        }
        func unsigned(_ limit: UInt64) throws(ClickHouseError) -> UInt64 {
            switch value {
            case .uint(let v) where v <= limit: return v
            case .int(let v) where v >= 0 && UInt64(v) <= limit: return UInt64(v)
            default: throw mismatch()
            }
        }
        func signed(_ range: ClosedRange<Int64>) throws(ClickHouseError) -> Int64 {
            switch value {
            case .int(let v) where range.contains(v): return v
            case .uint(let v) where v <= UInt64(range.upperBound): return Int64(v)
            default: throw mismatch()
            }
        }
        switch type {
        case .string:
            guard case .bytes(let bytes) = value else { throw mismatch() }
            buffer.writeRowBinaryString(bytes)
        case .fixedString(let n):
            guard case .bytes(let bytes) = value else { throw mismatch() }
            guard bytes.count <= n else {
                throw ClickHouseError(kind: .invalidInput, message: "\(bytes.count) bytes do not fit FixedString(\(n))")
            }
            buffer.writeBytes(bytes)
            buffer.writeRepeatingByte(0, count: n - bytes.count)
        case .lowCardinality(let inner):
            try encode(value, as: inner, into: &buffer)
        case .uint8: buffer.writeInteger(UInt8(try unsigned(UInt64(UInt8.max))), endianness: .little)
        case .uint16: buffer.writeInteger(UInt16(try unsigned(UInt64(UInt16.max))), endianness: .little)
        case .uint32: buffer.writeInteger(UInt32(try unsigned(UInt64(UInt32.max))), endianness: .little)
        case .uint64: buffer.writeInteger(try unsigned(UInt64.max), endianness: .little)
        case .int8: buffer.writeInteger(Int8(try signed(Int64(Int8.min)...Int64(Int8.max))), endianness: .little)
        case .int16: buffer.writeInteger(Int16(try signed(Int64(Int16.min)...Int64(Int16.max))), endianness: .little)
        case .int32: buffer.writeInteger(Int32(try signed(Int64(Int32.min)...Int64(Int32.max))), endianness: .little)
        case .int64: buffer.writeInteger(try signed(Int64.min...Int64.max), endianness: .little)
        case .float32:
            guard case .float(let v) = value else { throw mismatch() }
            buffer.writeInteger(Float(v).bitPattern, endianness: .little)
        case .float64:
            guard case .float(let v) = value else { throw mismatch() }
            buffer.writeInteger(v.bitPattern, endianness: .little)
        case .bool:
            guard case .bool(let v) = value else { throw mismatch() }
            buffer.writeInteger(UInt8(v ? 1 : 0))
        case .dateTime:
            guard case .time(let v) = value, v >= 0, v <= Int64(UInt32.max) else { throw mismatch() }
            buffer.writeInteger(UInt32(v), endianness: .little)
        case .dateTime64:
            guard case .time(let v) = value else { throw mismatch() }
            buffer.writeInteger(v, endianness: .little)
        case .array(let element):
            guard case .array(let values) = value else { throw mismatch() }
            buffer.writeLEB128(UInt64(values.count))
            for item in values { try encode(item, as: element, into: &buffer) }
        case .map(let keyType, let valueType):
            guard case .map(let entries) = value else { throw mismatch() }
            buffer.writeLEB128(UInt64(entries.count))
            for entry in entries {
                try encode(entry.key, as: keyType, into: &buffer)
                try encode(entry.value, as: valueType, into: &buffer)
            }
        case .nullable(let inner):
            if case .null = value {
                buffer.writeInteger(UInt8(1))
            } else {
                buffer.writeInteger(UInt8(0))
                try encode(value, as: inner, into: &buffer)
            }
        }
    }
}

/// Decodes `RowBinaryWithNamesAndTypes` (or `RowBinary` with known columns) incrementally:
/// feed body chunks as they arrive and take out the complete rows.
public struct RowBinaryReader: Sendable {
    /// The columns: given at creation, or read from the header.
    public private(set) var columns: [ClickHouseColumn]?
    private var buffer = ByteBuffer()
    /// Largest string or collection length accepted before the stream is considered corrupt.
    static let maximumLength: UInt64 = 1 << 30

    /// A reader; with `columns` nil it expects a RowBinaryWithNamesAndTypes header first.
    public init(columns: [ClickHouseColumn]? = nil) {
        self.columns = columns
    }

    /// Adds the next chunk of the body.
    public mutating func feed(_ chunk: ByteBuffer) {
        if buffer.readerIndex > 65536 { buffer.discardReadBytes() }
        var chunk = chunk
        buffer.writeBuffer(&chunk)
    }

    /// The next complete row, or nil when more bytes are needed.
    ///
    /// - Throws: ``ClickHouseError`` of kind ``ClickHouseError/Kind/protocol`` for malformed
    ///   input or an unsupported type in the header.
    public mutating func nextRow() throws(ClickHouseError) -> [ClickHouseValue]? {
        if columns == nil {
            guard try readHeader() else { return nil }
        }
        guard let columns, buffer.readableBytes > 0 else { return nil }
        let start = buffer.readerIndex
        var row: [ClickHouseValue] = []
        row.reserveCapacity(columns.count)
        for column in columns {
            guard let value = try Self.decode(column.type, from: &buffer) else {
                buffer.moveReaderIndex(to: start)
                return nil
            }
            row.append(value)
        }
        return row
    }

    /// Checks that the body ended on a row boundary.
    ///
    /// - Throws: ``ClickHouseError`` of kind ``ClickHouseError/Kind/protocol`` when bytes of
    ///   an incomplete row (or header) are left.
    public func finish() throws(ClickHouseError) {
        if buffer.readableBytes > 0 {
            throw ClickHouseError(kind: .protocol, message: "RowBinary body ended inside a row (\(buffer.readableBytes) bytes left over)")
        }
        if columns == nil {
            throw ClickHouseError(kind: .protocol, message: "RowBinaryWithNamesAndTypes body ended before its header was complete")
        }
    }

    private mutating func readHeader() throws(ClickHouseError) -> Bool {
        let start = buffer.readerIndex
        func needMore() -> Bool {
            buffer.moveReaderIndex(to: start)
            return false
        }
        guard let count = try buffer.readLEB128() else { return needMore() }
        guard count <= 1_000_000 else { throw ClickHouseError(kind: .protocol, message: "RowBinary header claims \(count) columns") }
        var names: [String] = []
        for _ in 0..<count {
            guard let name = try buffer.readRowBinaryString() else { return needMore() }
            names.append(String(decoding: name, as: UTF8.self))
        }
        var columns: [ClickHouseColumn] = []
        for name in names {
            guard let typeName = try buffer.readRowBinaryString() else { return needMore() }
            do throws(ClickHouseError) {
                columns.append(ClickHouseColumn(name, try ClickHouseType(parsing: String(decoding: typeName, as: UTF8.self))))
            } catch {
                throw ClickHouseError(kind: .protocol, message: "column '\(name)': \(error.message)")
            }
        }
        self.columns = columns
        return true
    }

    /// Decodes one value; nil when the buffer ends first (the caller rewinds).
    static func decode(_ type: ClickHouseType, from buffer: inout ByteBuffer) throws(ClickHouseError) -> ClickHouseValue? {
        switch type {
        case .string:
            return try buffer.readRowBinaryString().map { .bytes($0) }
        case .fixedString(let n):
            return buffer.readBytes(length: n).map { .bytes($0) }
        case .lowCardinality(let inner):
            return try decode(inner, from: &buffer)
        case .uint8: return buffer.readInteger(as: UInt8.self).map { .uint(UInt64($0)) }
        case .uint16: return buffer.readInteger(endianness: .little, as: UInt16.self).map { .uint(UInt64($0)) }
        case .uint32: return buffer.readInteger(endianness: .little, as: UInt32.self).map { .uint(UInt64($0)) }
        case .uint64: return buffer.readInteger(endianness: .little, as: UInt64.self).map { .uint($0) }
        case .int8: return buffer.readInteger(as: Int8.self).map { .int(Int64($0)) }
        case .int16: return buffer.readInteger(endianness: .little, as: Int16.self).map { .int(Int64($0)) }
        case .int32: return buffer.readInteger(endianness: .little, as: Int32.self).map { .int(Int64($0)) }
        case .int64: return buffer.readInteger(endianness: .little, as: Int64.self).map { .int($0) }
        case .float32: return buffer.readInteger(endianness: .little, as: UInt32.self).map { .float(Double(Float(bitPattern: $0))) }
        case .float64: return buffer.readInteger(endianness: .little, as: UInt64.self).map { .float(Double(bitPattern: $0)) }
        case .bool:
            guard let byte = buffer.readInteger(as: UInt8.self) else { return nil }
            return .bool(byte != 0)
        case .dateTime: return buffer.readInteger(endianness: .little, as: UInt32.self).map { .time(Int64($0)) }
        case .dateTime64: return buffer.readInteger(endianness: .little, as: Int64.self).map { .time($0) }
        case .array(let element):
            guard let count = try buffer.readLEB128() else { return nil }
            try checkLength(count, buffer)
            var values: [ClickHouseValue] = []
            for _ in 0..<count {
                guard let value = try decode(element, from: &buffer) else { return nil }
                values.append(value)
            }
            return .array(values)
        case .map(let keyType, let valueType):
            guard let count = try buffer.readLEB128() else { return nil }
            try checkLength(count, buffer)
            var entries: [ClickHouseMapEntry] = []
            for _ in 0..<count {
                guard let key = try decode(keyType, from: &buffer), let value = try decode(valueType, from: &buffer) else { return nil }
                entries.append(ClickHouseMapEntry(key: key, value: value))
            }
            return .map(entries)
        case .nullable(let inner):
            guard let flag = buffer.readInteger(as: UInt8.self) else { return nil }
            if flag == 1 { return .null }
            guard flag == 0 else { throw ClickHouseError(kind: .protocol, message: "invalid Nullable flag \(flag)") }
            return try decode(inner, from: &buffer)
        }
    }

    private static func checkLength(_ count: UInt64, _ buffer: ByteBuffer) throws(ClickHouseError) {
        if count > maximumLength {
            throw ClickHouseError(kind: .protocol, message: "RowBinary length \(count) is implausible: the stream is corrupt")
        }
    }
}

extension ByteBuffer {
    /// Writes an unsigned LEB128 varint (RowBinary lengths and counts).
    public mutating func writeLEB128(_ value: UInt64) {
        var value = value
        repeat {
            var byte = UInt8(value & 0x7f)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            writeInteger(byte)
        } while value != 0
    }

    /// Reads an unsigned LEB128 varint; nil (reader index unchanged) when the buffer ends first.
    package mutating func readLEB128() throws(ClickHouseError) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var index = readerIndex
        while true {
            guard let byte = getInteger(at: index, as: UInt8.self) else { return nil }
            index += 1
            guard shift < 64 else { throw ClickHouseError(kind: .protocol, message: "RowBinary varint is longer than 64 bits") }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        moveReaderIndex(to: index)
        return result
    }

    mutating func writeRowBinaryString(_ bytes: [UInt8]) {
        writeLEB128(UInt64(bytes.count))
        writeBytes(bytes)
    }

    /// Writes `text` as a RowBinary `String`: its UTF-8 length, then its UTF-8 bytes.
    public mutating func writeRowBinaryString(_ text: String) {
        writeLEB128(UInt64(text.utf8.count))
        writeString(text)
    }

    /// Reads a length-prefixed string; nil (and nothing consumed) when the buffer ends first.
    mutating func readRowBinaryString() throws(ClickHouseError) -> [UInt8]? {
        let start = readerIndex
        guard let length = try readLEB128() else { return nil }
        if length > RowBinaryReader.maximumLength {
            throw ClickHouseError(kind: .protocol, message: "RowBinary string length \(length) is implausible: the stream is corrupt")
        }
        guard let bytes = readBytes(length: Int(length)) else {
            moveReaderIndex(to: start)
            return nil
        }
        return bytes
    }
}
