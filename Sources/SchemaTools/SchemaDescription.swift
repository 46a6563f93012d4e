import AvroCodec

/// Short human descriptions of schema types and values, and lookups by field path.
enum SchemaDescription {
    /// A compact type description: `string`, `long (timestamp-millis)`, `["null", "string"]`,
    /// `array<string>`, `map<long>`, `record com.x.Address`, `enum com.x.Action`,
    /// `fixed com.x.Hash(32)`.
    static func type(_ schema: AvroSchema, _ index: Int) -> String {
        let node = schema.nodes[index]
        var text: String
        switch node.kind {
        case .array(let items): text = "array<\(type(schema, items))>"
        case .map(let values): text = "map<\(type(schema, values))>"
        case .union(let branches): text = "[" + branches.map { type(schema, $0) }.joined(separator: ", ") + "]"
        case .fixed(let fixed): text = "fixed \(fixed.fullName)(\(fixed.size))"
        default: text = node.typeName
        }
        if let logical = node.logicalType {
            text += " (\(logicalName(logical)))"
        }
        return text
    }

    static func logicalName(_ logical: AvroLogicalType) -> String {
        switch logical {
        case .decimal(let precision, let scale): "decimal(\(precision),\(scale))"
        case .uuid: "uuid"
        case .date: "date"
        case .timeMillis: "time-millis"
        case .timeMicros: "time-micros"
        case .timestampMillis: "timestamp-millis"
        case .timestampMicros: "timestamp-micros"
        case .timestampNanos: "timestamp-nanos"
        case .localTimestampMillis: "local-timestamp-millis"
        case .localTimestampMicros: "local-timestamp-micros"
        case .localTimestampNanos: "local-timestamp-nanos"
        case .duration: "duration"
        }
    }

    /// A default value as JSON text (as it would appear in the schema).
    static func value(_ value: AvroValue) -> String {
        switch value {
        case .null: return "null"
        case .boolean(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .long(let l): return String(l)
        case .float(let f): return f.isFinite ? "\(f)" : "\"\(f)\""
        case .double(let d): return d.isFinite ? "\(d)" : "\"\(d)\""
        case .bytes(let bytes), .fixed(let bytes):
            // Avro JSON encodes bytes as a string of code points 0-255.
            var text = ""
            text.unicodeScalars.append(contentsOf: bytes.map { Unicode.Scalar($0) })
            return quoted(text)
        case .string(let s): return quoted(s)
        case .enumeration(let symbol): return quoted(symbol)
        case .array(let items): return "[" + items.map(Self.value).joined(separator: ", ") + "]"
        case .map(let entries):
            return "{" + entries.keys.sorted().map { "\(quoted($0)): \(Self.value(entries[$0]!))" }.joined(separator: ", ") + "}"
        case .record(let fields):
            return "{" + fields.map { "\(quoted($0.name)): \(Self.value($0.value))" }.joined(separator: ", ") + "}"
        case .union(_, let inner): return Self.value(inner)
        }
    }

    private static func quoted(_ s: String) -> String {
        var out = ""
        JSONWriter.appendString(s, to: &out)
        return out
    }

    /// The field at `path` (as `AvroCompatibilityIssue.fieldPath` spells it: `a.b`, `tags[]`,
    /// `attrs{}.x`), descending through unions, arrays and maps. Returns the field (nil for the
    /// top level or an array/map step at the end) and the node the path ends at.
    static func lookup(_ path: String, in schema: AvroSchema) -> (field: AvroSchema.Field?, node: Int)? {
        var node = schema.root
        var field: AvroSchema.Field?
        guard !path.isEmpty else { return (nil, node) }
        for segment in path.split(separator: ".", omittingEmptySubsequences: false) {
            var name = Substring(segment)
            var suffixes: [Character] = []
            while name.hasSuffix("[]") || name.hasSuffix("{}") {
                suffixes.insert(name.last == "]" ? "[" : "{", at: 0)
                name = name.dropLast(2)
            }
            guard let (found, index) = fieldNamed(String(name), from: node, in: schema) else { return nil }
            field = found
            node = index
            for suffix in suffixes {
                guard let next = step(suffix, from: node, in: schema) else { return nil }
                field = nil
                node = next
            }
        }
        return (field, node)
    }

    /// The record (descending through unions) that contains the last field of `path`.
    static func parentRecord(of path: String, in schema: AvroSchema) -> AvroSchema.Record? {
        let parent: String
        if let dot = path.lastIndex(of: ".") { parent = String(path[..<dot]) } else { parent = "" }
        let name = String(path[(path.lastIndex(of: ".").map { path.index(after: $0) } ?? path.startIndex)...])
        guard let (_, node) = lookup(parent, in: schema) else { return nil }
        return records(from: node, in: schema).first { $0.fieldIndex[name] != nil } ?? records(from: node, in: schema).first
    }

    private static func records(from node: Int, in schema: AvroSchema) -> [AvroSchema.Record] {
        switch schema.nodes[node].kind {
        case .record(let record): [record]
        case .union(let branches): branches.flatMap { records(from: $0, in: schema) }
        default: []
        }
    }

    private static func fieldNamed(_ name: String, from node: Int, in schema: AvroSchema) -> (AvroSchema.Field, Int)? {
        switch schema.nodes[node].kind {
        case .record(let record):
            if let i = record.fieldIndex[name] { return (record.fields[i], record.fields[i].type) }
            if let aliased = record.fields.first(where: { $0.aliases.contains(name) }) { return (aliased, aliased.type) }
            return nil
        case .union(let branches):
            for branch in branches {
                if let found = fieldNamed(name, from: branch, in: schema) { return found }
            }
            return nil
        default:
            return nil
        }
    }

    private static func step(_ kind: Character, from node: Int, in schema: AvroSchema) -> Int? {
        switch (kind, schema.nodes[node].kind) {
        case ("[", .array(let items)): return items
        case ("{", .map(let values)): return values
        case (_, .union(let branches)):
            for branch in branches {
                if let next = step(kind, from: branch, in: schema) { return next }
            }
            return nil
        default: return nil
        }
    }

    /// Whether Avro's schema resolution promotes a `writer` primitive to a `reader` primitive
    /// (int→long/float/double, long→float/double, float→double, string↔bytes).
    static func isPromotion(writer: AvroSchema.Node.Kind, reader: AvroSchema.Node.Kind) -> Bool {
        switch (writer, reader) {
        case (.int, .long), (.int, .float), (.int, .double), (.long, .float), (.long, .double), (.float, .double),
             (.string, .bytes), (.bytes, .string):
            true
        default:
            false
        }
    }
}
