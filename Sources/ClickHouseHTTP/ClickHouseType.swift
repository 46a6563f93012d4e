import Foundation

/// A ClickHouse column type that ``RowBinaryWriter`` and ``RowBinaryReader`` support.
public indirect enum ClickHouseType: Sendable, Hashable, CustomStringConvertible {
    /// `String`: arbitrary bytes.
    case string
    /// `FixedString(N)`: exactly N bytes (shorter values are padded with zero bytes).
    case fixedString(Int)
    /// `LowCardinality(T)`: encoded exactly as T in RowBinary.
    case lowCardinality(ClickHouseType)
    /// `UInt8`.
    case uint8
    /// `UInt16`.
    case uint16
    /// `UInt32`.
    case uint32
    /// `UInt64`.
    case uint64
    /// `Int8`.
    case int8
    /// `Int16`.
    case int16
    /// `Int32`.
    case int32
    /// `Int64`.
    case int64
    /// `Float32`.
    case float32
    /// `Float64`.
    case float64
    /// `Bool`.
    case bool
    /// `DateTime` or `DateTime('tz')`: seconds since the epoch as UInt32.
    case dateTime(timezone: String?)
    /// `DateTime64(p)` or `DateTime64(p, 'tz')`: ticks of 10^-p s since the epoch as Int64
    /// (`DateTime64(3, 'UTC')` holds milliseconds).
    case dateTime64(precision: Int, timezone: String?)
    /// `Array(T)`.
    case array(ClickHouseType)
    /// `Map(K, V)`.
    case map(ClickHouseType, ClickHouseType)
    /// `Nullable(T)`.
    case nullable(ClickHouseType)

    /// The type as ClickHouse spells it, e.g. `DateTime64(3, 'UTC')` or `Map(String, String)`.
    public var description: String {
        switch self {
        case .string: "String"
        case .fixedString(let n): "FixedString(\(n))"
        case .lowCardinality(let t): "LowCardinality(\(t))"
        case .uint8: "UInt8"
        case .uint16: "UInt16"
        case .uint32: "UInt32"
        case .uint64: "UInt64"
        case .int8: "Int8"
        case .int16: "Int16"
        case .int32: "Int32"
        case .int64: "Int64"
        case .float32: "Float32"
        case .float64: "Float64"
        case .bool: "Bool"
        case .dateTime(let tz): tz.map { "DateTime(\(Self.quote($0)))" } ?? "DateTime"
        case .dateTime64(let p, let tz): tz.map { "DateTime64(\(p), \(Self.quote($0)))" } ?? "DateTime64(\(p))"
        case .array(let t): "Array(\(t))"
        case .map(let k, let v): "Map(\(k), \(v))"
        case .nullable(let t): "Nullable(\(t))"
        }
    }

    /// Parses a type name as ClickHouse prints it (`LowCardinality(String)`,
    /// `Map(String, Array(String))`, `DateTime64(3, 'UTC')`, ...).
    ///
    /// - Throws: ``ClickHouseError`` of kind ``ClickHouseError/Kind/invalidInput`` naming the
    ///   unsupported or malformed part.
    public init(parsing text: String) throws(ClickHouseError) {
        var parser = TypeParser(text: Array(text.utf8))
        let type = try parser.parseType()
        parser.skipSpaces()
        guard parser.atEnd else { throw parser.error("unexpected text after the type") }
        self = type
    }

    private static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }
}

/// A column: its name and type, as in a RowBinaryWithNamesAndTypes header.
public struct ClickHouseColumn: Sendable, Hashable {
    /// The column name.
    public var name: String
    /// The column type.
    public var type: ClickHouseType
    /// Creates a column.
    public init(_ name: String, _ type: ClickHouseType) {
        self.name = name
        self.type = type
    }
}

private struct TypeParser {
    let text: [UInt8]
    var position = 0

    var atEnd: Bool { position >= text.count }

    func error(_ reason: String) -> ClickHouseError {
        ClickHouseError(kind: .invalidInput, message: "cannot parse ClickHouse type '\(String(decoding: text, as: UTF8.self))' at offset \(position): \(reason)")
    }

    mutating func skipSpaces() {
        while position < text.count, text[position] == UInt8(ascii: " ") { position += 1 }
    }

    mutating func identifier() -> String {
        skipSpaces()
        let start = position
        while position < text.count, text[position].isIdentifierByte { position += 1 }
        return String(decoding: text[start..<position], as: UTF8.self)
    }

    mutating func expect(_ byte: UInt8) throws(ClickHouseError) {
        skipSpaces()
        guard position < text.count, text[position] == byte else {
            throw error("expected '\(Character(Unicode.Scalar(byte)))'")
        }
        position += 1
    }

    mutating func peek(_ byte: UInt8) -> Bool {
        skipSpaces()
        return position < text.count && text[position] == byte
    }

    mutating func integer() throws(ClickHouseError) -> Int {
        skipSpaces()
        let start = position
        while position < text.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[position]) { position += 1 }
        guard let value = Int(String(decoding: text[start..<position], as: UTF8.self)) else { throw error("expected a number") }
        return value
    }

    mutating func quoted() throws(ClickHouseError) -> String {
        try expect(UInt8(ascii: "'"))
        var bytes: [UInt8] = []
        while position < text.count {
            let byte = text[position]
            position += 1
            if byte == UInt8(ascii: "\\"), position < text.count {
                bytes.append(text[position])
                position += 1
            } else if byte == UInt8(ascii: "'") {
                return String(decoding: bytes, as: UTF8.self)
            } else {
                bytes.append(byte)
            }
        }
        throw error("unterminated quoted string")
    }

    mutating func parseType() throws(ClickHouseError) -> ClickHouseType {
        let name = identifier()
        switch name {
        case "String": return .string
        case "UInt8": return .uint8
        case "UInt16": return .uint16
        case "UInt32": return .uint32
        case "UInt64": return .uint64
        case "Int8": return .int8
        case "Int16": return .int16
        case "Int32": return .int32
        case "Int64": return .int64
        case "Float32": return .float32
        case "Float64": return .float64
        case "Bool": return .bool
        case "FixedString":
            try expect(UInt8(ascii: "("))
            let n = try integer()
            try expect(UInt8(ascii: ")"))
            guard n > 0 else { throw error("FixedString needs a positive length") }
            return .fixedString(n)
        case "DateTime":
            guard peek(UInt8(ascii: "(")) else { return .dateTime(timezone: nil) }
            try expect(UInt8(ascii: "("))
            let tz = try quoted()
            try expect(UInt8(ascii: ")"))
            return .dateTime(timezone: tz)
        case "DateTime64":
            try expect(UInt8(ascii: "("))
            let precision = try integer()
            guard (0...9).contains(precision) else { throw error("DateTime64 precision must be 0...9") }
            var tz: String? = nil
            if peek(UInt8(ascii: ",")) {
                try expect(UInt8(ascii: ","))
                tz = try quoted()
            }
            try expect(UInt8(ascii: ")"))
            return .dateTime64(precision: precision, timezone: tz)
        case "LowCardinality", "Array", "Nullable":
            try expect(UInt8(ascii: "("))
            let inner = try parseType()
            try expect(UInt8(ascii: ")"))
            switch name {
            case "LowCardinality": return .lowCardinality(inner)
            case "Array": return .array(inner)
            default: return .nullable(inner)
            }
        case "Map":
            try expect(UInt8(ascii: "("))
            let key = try parseType()
            try expect(UInt8(ascii: ","))
            let value = try parseType()
            try expect(UInt8(ascii: ")"))
            return .map(key, value)
        case "":
            throw error("expected a type name")
        default:
            throw error("type '\(name)' is not supported by this client")
        }
    }
}

extension UInt8 {
    var isIdentifierByte: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || self == UInt8(ascii: "_")
    }
}
