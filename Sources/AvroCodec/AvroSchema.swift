/// A parsed Avro schema.
///
/// The schema is stored as a graph of nodes in one array (`nodes`), so recursive named types
/// are plain index cycles and the value is `Sendable`, `Hashable` and cheap to copy. The root is
/// `nodes[root]`. A named type is defined once; every reference to it points at the same node.
///
/// ```swift
/// let schema = try AvroSchema(parsing: #"{"type": "array", "items": "string"}"#)
/// let bytes = try schema.encode(.array([.string("a")]))
/// let value = try schema.decodeExact(bytes)
/// ```
public struct AvroSchema: Sendable, Hashable, CustomStringConvertible {
    /// Every node of the schema graph; children refer to other nodes by index.
    public let nodes: [Node]
    /// The index of the root node in `nodes`.
    public let root: Int
    /// Named types by full name (records, enums and fixed), as indexes into `nodes`.
    public let namedTypes: [String: Int]
    /// Smallest number of bytes any value of each node encodes to (used to bound hostile lengths).
    let minimumEncodedSize: [Int]

    init(nodes: [Node], root: Int, namedTypes: [String: Int]) {
        self.nodes = nodes
        self.root = root
        self.namedTypes = namedTypes
        self.minimumEncodedSize = Self.computeMinimumSizes(nodes)
    }

    /// Parses a schema from its JSON text.
    /// - Throws: `AvroSchemaError` naming the JSON path and the rule that failed.
    public init(parsing json: String) throws(AvroSchemaError) {
        let document: JSON
        do {
            document = try JSONParser.parse(json)
        } catch {
            throw AvroSchemaError(path: "$", message: "invalid JSON at byte \(error.offset): \(error.message)")
        }
        self = try AvroSchemaParser.parse(document)
    }

    /// The root node.
    public var rootNode: Node { nodes[root] }

    /// The schema in Parsing Canonical Form (see the Avro specification).
    public var canonicalForm: String { AvroCanonicalForm.canonicalForm(of: self) }

    /// The CRC-64-AVRO (Rabin) fingerprint of the Parsing Canonical Form.
    public var fingerprint: UInt64 { AvroCanonicalForm.rabinFingerprint(Array(canonicalForm.utf8)) }

    /// The SHA-256 digest of the Parsing Canonical Form (32 bytes).
    public var sha256Fingerprint: [UInt8] { SHA256.hash(Array(canonicalForm.utf8)) }

    /// The Parsing Canonical Form.
    public var description: String { canonicalForm }

    /// Two schemas are equal when their graphs are equal (same types, names, fields, defaults).
    public static func == (lhs: AvroSchema, rhs: AvroSchema) -> Bool {
        lhs.root == rhs.root && lhs.nodes == rhs.nodes
    }

    /// Hashes the graph.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(root)
        hasher.combine(nodes)
    }

    /// One node of the schema graph: a type plus an optional logical type annotation.
    public struct Node: Sendable, Hashable {
        /// The Avro type of this node.
        public var kind: Kind
        /// A recognised, valid logical type; unknown or invalid ones are dropped (the spec says
        /// to use the underlying type).
        public var logicalType: AvroLogicalType?

        /// Avro types. Child types are indexes into `AvroSchema.nodes`.
        public enum Kind: Sendable, Hashable {
            /// `null`
            case null
            /// `boolean`
            case boolean
            /// `int` (32-bit)
            case int
            /// `long` (64-bit)
            case long
            /// `float` (32-bit IEEE 754)
            case float
            /// `double` (64-bit IEEE 754)
            case double
            /// `bytes`
            case bytes
            /// `string` (UTF-8)
            case string
            /// A named record.
            case record(Record)
            /// A named enum.
            case enumeration(Enumeration)
            /// An array of the node at `items`.
            case array(items: Int)
            /// A map from string to the node at `values`.
            case map(values: Int)
            /// A union of the given branch nodes.
            case union([Int])
            /// A named fixed-size byte string.
            case fixed(Fixed)
        }

        /// The full name when the node is a named type.
        public var fullName: String? {
            switch kind {
            case .record(let r): r.fullName
            case .enumeration(let e): e.fullName
            case .fixed(let f): f.fullName
            default: nil
            }
        }

        /// The aliases (full names) when the node is a named type.
        public var aliases: [String] {
            switch kind {
            case .record(let r): r.aliases
            case .enumeration(let e): e.aliases
            case .fixed(let f): f.aliases
            default: []
            }
        }

        /// The type name used in messages and canonical form ("string", "array", or the full name).
        public var typeName: String {
            switch kind {
            case .null: "null"
            case .boolean: "boolean"
            case .int: "int"
            case .long: "long"
            case .float: "float"
            case .double: "double"
            case .bytes: "bytes"
            case .string: "string"
            case .record(let r): "record \(r.fullName)"
            case .enumeration(let e): "enum \(e.fullName)"
            case .array: "array"
            case .map: "map"
            case .union: "union"
            case .fixed(let f): "fixed \(f.fullName)"
            }
        }

        /// The Avro type keyword ("record", "int", ...).
        public var typeKeyword: String {
            switch kind {
            case .record: "record"
            case .enumeration: "enum"
            case .fixed: "fixed"
            default: typeName
            }
        }
    }

    /// A record type.
    public struct Record: Sendable, Hashable {
        /// The full name (namespace + "." + name, or just name in the null namespace).
        public var fullName: String
        /// Alias full names.
        public var aliases: [String]
        /// The fields in declaration order.
        public var fields: [Field]
        /// Field positions by name.
        public var fieldIndex: [String: Int]
    }

    /// A record field.
    public struct Field: Sendable, Hashable {
        /// The field name.
        public var name: String
        /// Field aliases (plain names).
        public var aliases: [String]
        /// The field's type, an index into `AvroSchema.nodes`.
        public var type: Int
        /// The default value, already validated against the field type.
        public var defaultValue: AvroValue?
    }

    /// An enum type.
    public struct Enumeration: Sendable, Hashable {
        /// The full name.
        public var fullName: String
        /// Alias full names.
        public var aliases: [String]
        /// The symbols in order (the encoded value is the position).
        public var symbols: [String]
        /// Symbol positions by name.
        public var symbolIndex: [String: Int]
        /// The symbol a reader uses for writer symbols it does not know.
        public var defaultSymbol: String?
    }

    /// A fixed type.
    public struct Fixed: Sendable, Hashable {
        /// The full name.
        public var fullName: String
        /// Alias full names.
        public var aliases: [String]
        /// The number of bytes of every value.
        public var size: Int
    }

    private static func computeMinimumSizes(_ nodes: [Node]) -> [Int] {
        // Fixpoint from zero: a lower bound, also for recursive records.
        var sizes = [Int](repeating: 0, count: nodes.count)
        var changed = true
        var rounds = 0
        while changed && rounds < 64 {
            changed = false
            rounds += 1
            for (i, node) in nodes.enumerated() {
                let size: Int
                switch node.kind {
                case .null: size = 0
                case .boolean, .int, .long, .bytes, .string, .enumeration, .array, .map, .union: size = 1
                case .float: size = 4
                case .double: size = 8
                case .fixed(let f): size = f.size
                case .record(let r):
                    var total = 0
                    for field in r.fields { total = min(total &+ sizes[field.type], 1 << 40) }
                    size = total
                }
                if size != sizes[i] { sizes[i] = size; changed = true }
            }
        }
        return sizes
    }
}

/// The logical types this codec recognises. They annotate a node; values keep the underlying
/// Avro representation (e.g. `timestamp-millis` is a `.long`).
public enum AvroLogicalType: Sendable, Hashable {
    /// `decimal` on bytes or fixed.
    case decimal(precision: Int, scale: Int)
    /// `uuid` on string (or fixed of size 16).
    case uuid
    /// `date` on int: days since the Unix epoch.
    case date
    /// `time-millis` on int.
    case timeMillis
    /// `time-micros` on long.
    case timeMicros
    /// `timestamp-millis` on long.
    case timestampMillis
    /// `timestamp-micros` on long.
    case timestampMicros
    /// `timestamp-nanos` on long.
    case timestampNanos
    /// `local-timestamp-millis` on long.
    case localTimestampMillis
    /// `local-timestamp-micros` on long.
    case localTimestampMicros
    /// `local-timestamp-nanos` on long.
    case localTimestampNanos
    /// `duration` on fixed of size 12.
    case duration
}

/// A schema that could not be parsed, with the JSON path and the rule that failed.
public struct AvroSchemaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Where in the schema JSON, e.g. `$.fields[6].type`.
    public var path: String
    /// The rule that failed, e.g. `union branch 2 duplicates unnamed type "string"`.
    public var message: String

    /// Creates an error.
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// `invalid Avro schema at <path>: <message>`.
    public var description: String { "invalid Avro schema at \(path): \(message)" }
}
