/// A generic Avro datum.
///
/// Decoding always produces the exact shape of the schema (a union value is `.union(branch:value:)`).
/// Encoding is a little more forgiving: an unwrapped value for a union schema is encoded in the
/// first branch it fits, `.int` is accepted for `long`, `.float` for `double`, `.bytes` of the
/// right size for `fixed`, and record fields missing from the value take the field default.
public indirect enum AvroValue: Sendable, Hashable {
    /// `null`
    case null
    /// `boolean`
    case boolean(Bool)
    /// `int`
    case int(Int32)
    /// `long`
    case long(Int64)
    /// `float`
    case float(Float)
    /// `double`
    case double(Double)
    /// `bytes`
    case bytes([UInt8])
    /// `string`
    case string(String)
    /// A record's fields, in schema order when decoded.
    case record([Field])
    /// An enum symbol.
    case enumeration(String)
    /// `array`
    case array([AvroValue])
    /// `map`
    case map([String: AvroValue])
    /// A union value: the zero-based branch of the union schema and the value in that branch.
    case union(branch: Int, value: AvroValue)
    /// `fixed`
    case fixed([UInt8])

    /// A named field of a record value.
    public struct Field: Sendable, Hashable {
        /// The field name.
        public var name: String
        /// The field value.
        public var value: AvroValue

        /// Creates a field.
        public init(_ name: String, _ value: AvroValue) {
            self.name = name
            self.value = value
        }
    }

    /// Builds a record value from (name, value) pairs, keeping their order.
    public static func record(_ fields: KeyValuePairs<String, AvroValue>) -> AvroValue {
        .record(fields.map { Field($0.key, $0.value) })
    }

    /// The value of the named field when this is a record, else nil.
    public subscript(field name: String) -> AvroValue? {
        guard case .record(let fields) = self else { return nil }
        return fields.first { $0.name == name }?.value
    }

    /// The value inside a union, or the value itself.
    public var unwrappedUnion: AvroValue {
        if case .union(_, let value) = self { return value.unwrappedUnion }
        return self
    }

    /// A short name of the value's kind, for error messages ("string", "null", "record", ...).
    public var kindName: String {
        switch self {
        case .null: "null"
        case .boolean: "boolean"
        case .int: "int"
        case .long: "long"
        case .float: "float"
        case .double: "double"
        case .bytes: "bytes"
        case .string: "string"
        case .record: "record"
        case .enumeration: "enum"
        case .array: "array"
        case .map: "map"
        case .union(_, let v): v.kindName
        case .fixed: "fixed"
        }
    }
}
