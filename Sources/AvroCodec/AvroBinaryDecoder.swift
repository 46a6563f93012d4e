/// Limits that keep hostile input from exhausting the stack or memory while decoding.
public struct AvroDecodingOptions: Sendable, Hashable {
    /// The deepest nesting of records, arrays, maps and unions accepted (recursive schemas).
    public var maxDepth: Int
    /// The most items of zero-byte types (null, empty records, `fixed` of size 0) accepted in
    /// one decode, summed over all arrays and maps. Other items are bounded by the input size.
    public var maxZeroSizeItems: Int

    /// Creates options; the defaults suit audit events.
    public init(maxDepth: Int = 64, maxZeroSizeItems: Int = 100_000) {
        self.maxDepth = maxDepth
        self.maxZeroSizeItems = maxZeroSizeItems
    }

    /// `maxDepth` 64, `maxZeroSizeItems` 100,000.
    public static let `default` = AvroDecodingOptions()
}

/// Bytes that are not a valid encoding of the schema.
public struct AvroDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The byte offset where the problem was found.
    public var offset: Int
    /// Where in the value, e.g. `metadata["k"]`; empty at the top level.
    public var path: String
    /// What is wrong.
    public var message: String

    /// Creates an error.
    public init(offset: Int, path: String = "", message: String) {
        self.offset = offset
        self.path = path
        self.message = message
    }

    /// `invalid Avro data at byte <offset> (field <path>): <message>`.
    public var description: String {
        path.isEmpty
            ? "invalid Avro data at byte \(offset): \(message)"
            : "invalid Avro data at byte \(offset) (field \(path)): \(message)"
    }

    func inside(_ component: AvroValueError.PathComponent) -> AvroDecodingError {
        var copy = self
        copy.path = AvroValueError(path: path, message: "").inside(component).path
        return copy
    }
}

/// A bounds-checked cursor over contiguous bytes (`package` for decoders of fixed shapes, such as
/// the audit event's, that skip the generic value tree).
package struct AvroByteReader: ~Copyable {
    let base: UnsafePointer<UInt8>
    let count: Int
    package var position = 0
    var zeroSizeBudget: Int
    let maxDepth: Int

    package init(_ buffer: UnsafeBufferPointer<UInt8>, options: AvroDecodingOptions) {
        // An empty buffer may have a nil base; point at a harmless static byte instead.
        self.base = buffer.baseAddress ?? AvroByteReader.emptyBase
        self.count = buffer.count
        self.zeroSizeBudget = options.maxZeroSizeItems
        self.maxDepth = options.maxDepth
    }

    nonisolated(unsafe) private static let emptyBase: UnsafePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.initialize(to: 0)
        return UnsafePointer(p)
    }()

    package var remaining: Int { count - position }

    package func error(_ message: String) -> AvroDecodingError {
        AvroDecodingError(offset: position, message: message)
    }

    @inline(__always)
    mutating func readByte() throws(AvroDecodingError) -> UInt8 {
        guard position < count else { throw error("unexpected end of data") }
        let b = base[position]
        position += 1
        return b
    }

    @inline(__always)
    package mutating func readLong() throws(AvroDecodingError) -> Int64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < count else { throw error("unexpected end of data inside a varint") }
            let b = base[position]
            position += 1
            if shift == 63 && b > 1 { throw error("varint overflows 64 bits") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { break }
            shift += 7
            if shift > 63 { throw error("varint longer than 10 bytes") }
        }
        return Int64(bitPattern: (result >> 1) ^ (0 &- (result & 1)))
    }

    mutating func readInt() throws(AvroDecodingError) -> Int32 {
        let start = position
        let v = try readLong()
        guard let i = Int32(exactly: v) else {
            throw AvroDecodingError(offset: start, message: "int value \(v) is outside the 32-bit range")
        }
        return i
    }

    mutating func readBoolean() throws(AvroDecodingError) -> Bool {
        let b = try readByte()
        guard b <= 1 else { throw AvroDecodingError(offset: position - 1, message: "boolean byte must be 0 or 1, got \(b)") }
        return b == 1
    }

    mutating func readFloat() throws(AvroDecodingError) -> Float {
        guard remaining >= 4 else { throw error("unexpected end of data inside a float") }
        let bits = UInt32(base[position]) | UInt32(base[position + 1]) << 8 | UInt32(base[position + 2]) << 16 | UInt32(base[position + 3]) << 24
        position += 4
        return Float(bitPattern: bits)
    }

    mutating func readDouble() throws(AvroDecodingError) -> Double {
        guard remaining >= 8 else { throw error("unexpected end of data inside a double") }
        let bits = UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self)
        position += 8
        return Double(bitPattern: UInt64(littleEndian: bits))
    }

    /// Reads a length prefix and checks it against the remaining bytes.
    package mutating func readLength() throws(AvroDecodingError) -> Int {
        let start = position
        let length = try readLong()
        guard length >= 0 else { throw AvroDecodingError(offset: start, message: "negative length \(length)") }
        guard length <= remaining else {
            throw AvroDecodingError(offset: start, message: "length \(length) exceeds the \(remaining) bytes that remain")
        }
        return Int(length)
    }

    mutating func readBytes() throws(AvroDecodingError) -> [UInt8] {
        let length = try readLength()
        let bytes = Array(UnsafeBufferPointer(start: base + position, count: length))
        position += length
        return bytes
    }

    mutating func readFixed(_ size: Int) throws(AvroDecodingError) -> [UInt8] {
        guard size <= remaining else { throw error("fixed of \(size) bytes exceeds the \(remaining) bytes that remain") }
        let bytes = Array(UnsafeBufferPointer(start: base + position, count: size))
        position += size
        return bytes
    }

    package mutating func readString() throws(AvroDecodingError) -> String {
        string(try readStringRange())
    }

    /// The string at `range` (from ``readStringRange()``, so valid UTF-8).
    package func string(_ range: Range<Int>) -> String {
        Self.string(validUTF8: bytes(range))
    }

    /// A string of bytes already checked as UTF-8.
    package static func string(validUTF8 bytes: UnsafeBufferPointer<UInt8>) -> String {
        // ASCII is valid UTF-8: copy it without the generic validating initializer, which
        // was about half of the sink's seed-record decoding time (perf).
        if !bytes.contains(where: { $0 >= 0x80 }) {
            return String(unsafeUninitializedCapacity: bytes.count) { $0.initialize(fromContentsOf: bytes) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads a string and returns where its UTF-8 bytes are, after checking that they are valid
    /// UTF-8 (for decoders that copy the bytes on without making a `String`).
    package mutating func readStringRange() throws(AvroDecodingError) -> Range<Int> {
        let start = position
        let length = try readLength()
        let bytes = UnsafeBufferPointer(start: base + position, count: length)
        if bytes.contains(where: { $0 >= 0x80 }), String(validating: bytes, as: UTF8.self) == nil {
            throw AvroDecodingError(offset: start, message: "string is not valid UTF-8")
        }
        position += length
        return position - length ..< position
    }

    /// The bytes at `range` (from ``readStringRange()``), valid while the reader's buffer is.
    package func bytes(_ range: Range<Int>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    mutating func skip(_ n: Int) throws(AvroDecodingError) {
        guard n >= 0, n <= remaining else { throw error("cannot skip \(n) bytes, \(remaining) remain") }
        position += n
    }

    /// Reads the header of an array/map block. Returns 0 at the end marker, else the item count,
    /// which is checked against the remaining bytes (or the zero-size budget).
    package mutating func readBlockCount(minimumItemSize: Int) throws(AvroDecodingError) -> Int {
        let start = position
        var count = try readLong()
        if count < 0 {
            guard count != .min else { throw AvroDecodingError(offset: start, message: "invalid block count") }
            count = -count
            _ = try readLength()  // the block's byte size; checked, not needed
        }
        if count == 0 { return 0 }
        if minimumItemSize > 0 {
            guard count <= Int64(remaining / minimumItemSize) else {
                throw AvroDecodingError(offset: start, message: "block claims \(count) items but only \(remaining) bytes remain")
            }
        } else {
            guard count <= Int64(zeroSizeBudget) else {
                throw AvroDecodingError(offset: start, message: "block claims \(count) zero-size items, more than the limit of \(zeroSizeBudget) remaining")
            }
            zeroSizeBudget -= Int(count)
        }
        return Int(count)
    }

    /// Reads a block header that may carry a byte size, for skipping: returns (count, byteSize?).
    mutating func readBlockHeaderForSkip(minimumItemSize: Int) throws(AvroDecodingError) -> (count: Int, size: Int?) {
        let start = position
        let raw = try readLong()
        if raw < 0 {
            guard raw != .min else { throw AvroDecodingError(offset: start, message: "invalid block count") }
            let size = try readLength()
            return (Int(-raw), size)
        }
        position = start
        return (try readBlockCount(minimumItemSize: minimumItemSize), nil)
    }
}

/// Runs `body` over the bytes as contiguous memory (copying only non-contiguous collections).
@inline(__always)
package func withContiguousBytes<Bytes: Collection<UInt8>, R>(
    _ bytes: Bytes, _ body: (UnsafeBufferPointer<UInt8>) throws(AvroDecodingError) -> R
) throws(AvroDecodingError) -> R {
    let result: Result<R, AvroDecodingError>? = bytes.withContiguousStorageIfAvailable { buffer in
        Result { () throws(AvroDecodingError) -> R in try body(buffer) }
    }
    if let result { return try result.get() }
    let copy = Array(bytes)
    return try copy.withUnsafeBufferPointer { buffer in
        Result { () throws(AvroDecodingError) -> R in try body(buffer) }
    }.get()
}

extension AvroSchema {
    /// Decodes one value from the start of `bytes`, ignoring any bytes after it.
    /// Use `decodeExact` when the value must fill the input.
    public func decode<Bytes: Collection<UInt8>>(_ bytes: Bytes, options: AvroDecodingOptions = .default) throws(AvroDecodingError) -> AvroValue {
        try decodePrefix(bytes, options: options).value
    }

    /// Decodes one value that must use every byte of `bytes`; trailing bytes are an error.
    public func decodeExact<Bytes: Collection<UInt8>>(_ bytes: Bytes, options: AvroDecodingOptions = .default) throws(AvroDecodingError) -> AvroValue {
        let (value, read) = try decodePrefix(bytes, options: options)
        guard read == bytes.count else {
            throw AvroDecodingError(offset: read, message: "\(bytes.count - read) trailing bytes after the value")
        }
        return value
    }

    /// Decodes one value from the start of `bytes` and reports how many bytes it used.
    public func decodePrefix<Bytes: Collection<UInt8>>(_ bytes: Bytes, options: AvroDecodingOptions = .default) throws(AvroDecodingError) -> (value: AvroValue, bytesRead: Int) {
        try withContiguousBytes(bytes) { buffer throws(AvroDecodingError) in
            var reader = AvroByteReader(buffer, options: options)
            let value = try decodeValue(node: root, from: &reader, depth: 0)
            return (value, reader.position)
        }
    }

    func decodeValue(node index: Int, from r: inout AvroByteReader, depth: Int) throws(AvroDecodingError) -> AvroValue {
        switch nodes[index].kind {
        case .null: return .null
        case .boolean: return .boolean(try r.readBoolean())
        case .int: return .int(try r.readInt())
        case .long: return .long(try r.readLong())
        case .float: return .float(try r.readFloat())
        case .double: return .double(try r.readDouble())
        case .bytes: return .bytes(try r.readBytes())
        case .string: return .string(try r.readString())
        case .fixed(let f): return .fixed(try r.readFixed(f.size))
        case .enumeration(let e):
            let start = r.position
            let i = try r.readLong()
            guard i >= 0, i < e.symbols.count else {
                throw AvroDecodingError(offset: start, message: "enum index \(i) is out of range for \(e.fullName) (\(e.symbols.count) symbols)")
            }
            return .enumeration(e.symbols[Int(i)])
        case .union(let branches):
            guard depth < r.maxDepth else { throw r.error("nesting deeper than \(r.maxDepth) levels") }
            let start = r.position
            let i = try r.readLong()
            guard i >= 0, i < branches.count else {
                throw AvroDecodingError(offset: start, message: "union branch \(i) is out of range (\(branches.count) branches)")
            }
            return .union(branch: Int(i), value: try decodeValue(node: branches[Int(i)], from: &r, depth: depth + 1))
        case .record(let record):
            guard depth < r.maxDepth else { throw r.error("nesting deeper than \(r.maxDepth) levels") }
            var fields: [AvroValue.Field] = []
            fields.reserveCapacity(record.fields.count)
            for field in record.fields {
                do {
                    fields.append(AvroValue.Field(field.name, try decodeValue(node: field.type, from: &r, depth: depth + 1)))
                } catch {
                    throw error.inside(.field(field.name))
                }
            }
            return .record(fields)
        case .array(let items):
            guard depth < r.maxDepth else { throw r.error("nesting deeper than \(r.maxDepth) levels") }
            var list: [AvroValue] = []
            let minimum = minimumEncodedSize[items]
            while true {
                let count = try r.readBlockCount(minimumItemSize: minimum)
                if count == 0 { break }
                list.reserveCapacity(list.count + count)
                for _ in 0..<count {
                    do {
                        list.append(try decodeValue(node: items, from: &r, depth: depth + 1))
                    } catch {
                        throw error.inside(.index(list.count))
                    }
                }
            }
            return .array(list)
        case .map(let valuesNode):
            guard depth < r.maxDepth else { throw r.error("nesting deeper than \(r.maxDepth) levels") }
            var map: [String: AvroValue] = [:]
            let minimum = 1 + minimumEncodedSize[valuesNode]
            while true {
                let count = try r.readBlockCount(minimumItemSize: minimum)
                if count == 0 { break }
                map.reserveCapacity(map.count + count)
                for _ in 0..<count {
                    let key = try r.readString()
                    do {
                        map[key] = try decodeValue(node: valuesNode, from: &r, depth: depth + 1)
                    } catch {
                        throw error.inside(.key(key))
                    }
                }
            }
            return .map(map)
        }
    }

    /// Skips one value of the node without building it (used for writer fields the reader drops).
    func skipValue(node index: Int, in r: inout AvroByteReader, depth: Int) throws(AvroDecodingError) {
        switch nodes[index].kind {
        case .null: return
        case .boolean: _ = try r.readBoolean()
        case .int: _ = try r.readInt()
        case .long: _ = try r.readLong()
        case .float: try r.skip(4)
        case .double: try r.skip(8)
        case .bytes: try r.skip(try r.readLength())
        case .string: try r.skip(try r.readLength())
        case .fixed(let f): try r.skip(f.size)
        case .enumeration(let e):
            let i = try r.readLong()
            guard i >= 0, i < e.symbols.count else { throw r.error("enum index \(i) is out of range for \(e.fullName)") }
        case .union(let branches):
            guard depth < r.maxDepth else { throw r.error("nesting deeper than \(r.maxDepth) levels") }
            let i = try r.readLong()
            guard i >= 0, i < branches.count else { throw r.error("union branch \(i) is out of range") }
            try skipValue(node: branches[Int(i)], in: &r, depth: depth + 1)
        case .record(let record):
            guard depth < r.maxDepth else { throw r.error("nesting deeper than \(r.maxDepth) levels") }
            for field in record.fields { try skipValue(node: field.type, in: &r, depth: depth + 1) }
        case .array(let items):
            guard depth < r.maxDepth else { throw r.error("nesting deeper than \(r.maxDepth) levels") }
            while true {
                let (count, size) = try r.readBlockHeaderForSkip(minimumItemSize: minimumEncodedSize[items])
                if count == 0 { break }
                if let size { try r.skip(size); continue }
                for _ in 0..<count { try skipValue(node: items, in: &r, depth: depth + 1) }
            }
        case .map(let values):
            guard depth < r.maxDepth else { throw r.error("nesting deeper than \(r.maxDepth) levels") }
            while true {
                let (count, size) = try r.readBlockHeaderForSkip(minimumItemSize: 1 + minimumEncodedSize[values])
                if count == 0 { break }
                if let size { try r.skip(size); continue }
                for _ in 0..<count {
                    try r.skip(try r.readLength())
                    try skipValue(node: values, in: &r, depth: depth + 1)
                }
            }
        }
    }
}
