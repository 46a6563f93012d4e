/// Turns schema JSON into an `AvroSchema` graph, enforcing the specification's rules.
struct AvroSchemaParser {
    typealias Node = AvroSchema.Node

    static let primitiveNames: Set<String> = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]

    private var nodes: [Node] = []
    private var named: [String: Int] = [:]
    private var pendingDefaults: [(record: Int, field: Int, json: JSON, path: String)] = []

    static func parse(_ json: JSON) throws(AvroSchemaError) -> AvroSchema {
        var parser = AvroSchemaParser()
        let root = try parser.parseType(json, namespace: nil, path: "$")
        try parser.resolveDefaults()
        return AvroSchema(nodes: parser.nodes, root: root, namedTypes: parser.named)
    }

    // MARK: Types

    private mutating func append(_ kind: Node.Kind, logical: AvroLogicalType? = nil) -> Int {
        nodes.append(Node(kind: kind, logicalType: logical))
        return nodes.count - 1
    }

    private func primitiveKind(_ name: String) -> Node.Kind? {
        switch name {
        case "null": .null
        case "boolean": .boolean
        case "int": .int
        case "long": .long
        case "float": .float
        case "double": .double
        case "bytes": .bytes
        case "string": .string
        default: nil
        }
    }

    private func lookup(_ name: String, namespace: String?) -> Int? {
        if name.contains(".") { return named[name] }
        if let namespace, !namespace.isEmpty, let index = named[namespace + "." + name] { return index }
        return named[name]
    }

    private mutating func parseType(_ json: JSON, namespace: String?, path: String) throws(AvroSchemaError) -> Int {
        switch json {
        case .string(let name):
            if let kind = primitiveKind(name) { return append(kind) }
            guard let index = lookup(name, namespace: namespace) else {
                throw AvroSchemaError(path: path, message: "unknown type \"\(name)\": not a primitive type and not a named type defined earlier in the schema")
            }
            return index
        case .array(let branches):
            return try parseUnion(branches, namespace: namespace, path: path)
        case .object(let object):
            return try parseObject(object, namespace: namespace, path: path)
        default:
            throw AvroSchemaError(path: path, message: "a schema must be a type name string, an object or a union array, got \(json.kindName)")
        }
    }

    private mutating func parseUnion(_ branches: [JSON], namespace: String?, path: String) throws(AvroSchemaError) -> Int {
        let index = append(.union([]))
        var members: [Int] = []
        var seen: [String: Int] = [:]
        for (i, branch) in branches.enumerated() {
            let branchPath = "\(path)[\(i)]"
            if case .array = branch {
                throw AvroSchemaError(path: branchPath, message: "a union may not directly contain another union")
            }
            let member = try parseType(branch, namespace: namespace, path: branchPath)
            let node = nodes[member]
            if case .union = node.kind {
                throw AvroSchemaError(path: branchPath, message: "a union may not directly contain another union")
            }
            let key = node.fullName ?? node.typeKeyword
            if let previous = seen[key] {
                let what = node.fullName == nil ? "unnamed type \"\(key)\"" : "named type \"\(key)\""
                throw AvroSchemaError(path: branchPath, message: "union branch \(i) duplicates \(what) of branch \(previous); a union may hold each unnamed type and each name only once")
            }
            seen[key] = i
            members.append(member)
        }
        nodes[index].kind = .union(members)
        return index
    }

    private mutating func parseObject(_ object: JSONObject, namespace: String?, path: String) throws(AvroSchemaError) -> Int {
        guard let typeJSON = object["type"] else {
            throw AvroSchemaError(path: path, message: "a schema object needs a \"type\" attribute")
        }
        guard case .string(let type) = typeJSON else {
            throw AvroSchemaError(path: path + ".type", message: "\"type\" of a schema object must be a string naming a type, got \(typeJSON.kindName)")
        }
        let index: Int
        switch type {
        case "record", "error":
            index = try parseRecord(object, namespace: namespace, path: path)
        case "enum":
            index = try parseEnum(object, namespace: namespace, path: path)
        case "fixed":
            index = try parseFixed(object, namespace: namespace, path: path)
        case "array":
            guard let items = object["items"] else {
                throw AvroSchemaError(path: path, message: "an array schema needs an \"items\" attribute")
            }
            index = append(.array(items: 0))
            let child = try parseType(items, namespace: namespace, path: path + ".items")
            nodes[index].kind = .array(items: child)
        case "map":
            guard let values = object["values"] else {
                throw AvroSchemaError(path: path, message: "a map schema needs a \"values\" attribute")
            }
            index = append(.map(values: 0))
            let child = try parseType(values, namespace: namespace, path: path + ".values")
            nodes[index].kind = .map(values: child)
        default:
            if let kind = primitiveKind(type) {
                index = append(kind)
            } else if let reference = lookup(type, namespace: namespace) {
                // {"type": "some.Named"}: a reference; logical types do not apply to references.
                return reference
            } else {
                throw AvroSchemaError(path: path + ".type", message: "unknown type \"\(type)\"")
            }
        }
        if case .string(let logical) = object["logicalType"] {
            nodes[index].logicalType = logicalType(logical, object: object, kind: nodes[index].kind)
        }
        return index
    }

    /// A recognised and valid logical type, or nil (the spec: ignore unknown or invalid ones).
    private func logicalType(_ name: String, object: JSONObject, kind: Node.Kind) -> AvroLogicalType? {
        switch (name, kind) {
        case ("decimal", .bytes), ("decimal", .fixed):
            guard case .number(let p, true)? = object["precision"], let precision = Int(p), precision > 0 else { return nil }
            var scale = 0
            if let scaleJSON = object["scale"] {
                guard case .number(let s, true) = scaleJSON, let value = Int(s), value >= 0 else { return nil }
                scale = value
            }
            guard scale <= precision else { return nil }
            if case .fixed(let fixed) = kind {
                guard fixed.size > 0, fixed.size < 1 << 20 else { return nil }
                let maxPrecision = Int((Double(8 * fixed.size - 1) * 0.301029995663981195).rounded(.down))
                guard precision <= maxPrecision else { return nil }
            }
            return .decimal(precision: precision, scale: scale)
        case ("uuid", .string): return .uuid
        case ("uuid", .fixed(let f)) where f.size == 16: return .uuid
        case ("date", .int): return .date
        case ("time-millis", .int): return .timeMillis
        case ("time-micros", .long): return .timeMicros
        case ("timestamp-millis", .long): return .timestampMillis
        case ("timestamp-micros", .long): return .timestampMicros
        case ("timestamp-nanos", .long): return .timestampNanos
        case ("local-timestamp-millis", .long): return .localTimestampMillis
        case ("local-timestamp-micros", .long): return .localTimestampMicros
        case ("local-timestamp-nanos", .long): return .localTimestampNanos
        case ("duration", .fixed(let f)) where f.size == 12: return .duration
        default: return nil
        }
    }

    // MARK: Names

    static func isValidName(_ name: Substring) -> Bool {
        guard let first = name.utf8.first else { return false }
        guard isNameStart(first) else { return false }
        return name.utf8.dropFirst().allSatisfy { isNameStart($0) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) }
    }

    private static func isNameStart(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) || b == UInt8(ascii: "_")
    }

    private static func validateFullName(_ fullName: String, path: String) throws(AvroSchemaError) {
        for part in fullName.split(separator: ".", omittingEmptySubsequences: false) where !isValidName(part) {
            throw AvroSchemaError(path: path, message: "\"\(fullName)\" is not a valid Avro name: each dot-separated part must match [A-Za-z_][A-Za-z0-9_]*")
        }
    }

    /// The full name of a named type and the namespace its children inherit.
    private func fullName(_ object: JSONObject, enclosing: String?, path: String) throws(AvroSchemaError) -> (fullName: String, namespace: String?) {
        guard let nameJSON = object["name"] else {
            throw AvroSchemaError(path: path, message: "a named type needs a \"name\" attribute")
        }
        guard case .string(let name) = nameJSON, !name.isEmpty else {
            throw AvroSchemaError(path: path + ".name", message: "\"name\" must be a non-empty string")
        }
        var namespace = enclosing
        if let ns = object["namespace"] {
            switch ns {
            case .string(let s): namespace = s
            case .null: namespace = nil
            default: throw AvroSchemaError(path: path + ".namespace", message: "\"namespace\" must be a string")
            }
        }
        let full: String
        if name.contains(".") {
            full = name
        } else if let namespace, !namespace.isEmpty {
            full = namespace + "." + name
        } else {
            full = name
        }
        try Self.validateFullName(full, path: path + ".name")
        let simple = full.split(separator: ".").last.map(String.init) ?? full
        if Self.primitiveNames.contains(simple) && !full.contains(".") {
            throw AvroSchemaError(path: path + ".name", message: "\"\(full)\" is a primitive type name and cannot name a type")
        }
        let ownNamespace = full.lastIndex(of: ".").map { String(full[..<$0]) }
        return (full, ownNamespace)
    }

    private func aliases(_ object: JSONObject, namespace: String?, path: String) throws(AvroSchemaError) -> [String] {
        guard let json = object["aliases"] else { return [] }
        guard case .array(let items) = json else {
            throw AvroSchemaError(path: path + ".aliases", message: "\"aliases\" must be an array of names")
        }
        var result: [String] = []
        for (i, item) in items.enumerated() {
            guard case .string(let alias) = item else {
                throw AvroSchemaError(path: "\(path).aliases[\(i)]", message: "an alias must be a string")
            }
            let full = alias.contains(".") || (namespace ?? "").isEmpty ? alias : namespace! + "." + alias
            try Self.validateFullName(full, path: "\(path).aliases[\(i)]")
            result.append(full)
        }
        return result
    }

    private mutating func register(_ fullName: String, index: Int, path: String) throws(AvroSchemaError) {
        guard named[fullName] == nil else {
            throw AvroSchemaError(path: path + ".name", message: "the type name \"\(fullName)\" is already defined; refer to it by name instead of redefining it")
        }
        named[fullName] = index
    }

    // MARK: Named types

    private mutating func parseRecord(_ object: JSONObject, namespace enclosing: String?, path: String) throws(AvroSchemaError) -> Int {
        let (full, namespace) = try fullName(object, enclosing: enclosing, path: path)
        let aliases = try aliases(object, namespace: namespace, path: path)
        let index = append(.record(AvroSchema.Record(fullName: full, aliases: aliases, fields: [], fieldIndex: [:])))
        try register(full, index: index, path: path)
        guard let fieldsJSON = object["fields"] else {
            throw AvroSchemaError(path: path, message: "record \"\(full)\" needs a \"fields\" array")
        }
        guard case .array(let fieldList) = fieldsJSON else {
            throw AvroSchemaError(path: path + ".fields", message: "\"fields\" must be an array")
        }
        var fields: [AvroSchema.Field] = []
        var fieldIndex: [String: Int] = [:]
        for (i, fieldJSON) in fieldList.enumerated() {
            let fieldPath = "\(path).fields[\(i)]"
            guard case .object(let field) = fieldJSON else {
                throw AvroSchemaError(path: fieldPath, message: "a field must be an object")
            }
            guard case .string(let name)? = field["name"] else {
                throw AvroSchemaError(path: fieldPath, message: "a field needs a string \"name\"")
            }
            guard Self.isValidName(name[...]) else {
                throw AvroSchemaError(path: fieldPath + ".name", message: "\"\(name)\" is not a valid field name: it must match [A-Za-z_][A-Za-z0-9_]*")
            }
            guard fieldIndex[name] == nil else {
                throw AvroSchemaError(path: fieldPath + ".name", message: "record \"\(full)\" already has a field named \"\(name)\"")
            }
            guard let typeJSON = field["type"] else {
                throw AvroSchemaError(path: fieldPath, message: "field \"\(name)\" needs a \"type\"")
            }
            let type = try parseType(typeJSON, namespace: namespace, path: fieldPath + ".type")
            var fieldAliases: [String] = []
            if let aliasJSON = field["aliases"] {
                guard case .array(let items) = aliasJSON else {
                    throw AvroSchemaError(path: fieldPath + ".aliases", message: "\"aliases\" must be an array of names")
                }
                for (j, item) in items.enumerated() {
                    guard case .string(let alias) = item, Self.isValidName(alias[...]) else {
                        throw AvroSchemaError(path: "\(fieldPath).aliases[\(j)]", message: "a field alias must be a valid name string")
                    }
                    fieldAliases.append(alias)
                }
            }
            if let order = field["order"] {
                guard case .string(let o) = order, ["ascending", "descending", "ignore"].contains(o) else {
                    throw AvroSchemaError(path: fieldPath + ".order", message: "\"order\" must be \"ascending\", \"descending\" or \"ignore\"")
                }
            }
            if let defaultJSON = field["default"] {
                pendingDefaults.append((index, i, defaultJSON, fieldPath + ".default"))
            }
            fieldIndex[name] = i
            fields.append(AvroSchema.Field(name: name, aliases: fieldAliases, type: type, defaultValue: nil))
        }
        nodes[index].kind = .record(AvroSchema.Record(fullName: full, aliases: aliases, fields: fields, fieldIndex: fieldIndex))
        return index
    }

    private mutating func parseEnum(_ object: JSONObject, namespace enclosing: String?, path: String) throws(AvroSchemaError) -> Int {
        let (full, namespace) = try fullName(object, enclosing: enclosing, path: path)
        let aliases = try aliases(object, namespace: namespace, path: path)
        guard case .array(let symbolList)? = object["symbols"] else {
            throw AvroSchemaError(path: path, message: "enum \"\(full)\" needs a \"symbols\" array")
        }
        var symbols: [String] = []
        var symbolIndex: [String: Int] = [:]
        for (i, item) in symbolList.enumerated() {
            guard case .string(let symbol) = item, Self.isValidName(symbol[...]) else {
                throw AvroSchemaError(path: "\(path).symbols[\(i)]", message: "an enum symbol must be a string matching [A-Za-z_][A-Za-z0-9_]*")
            }
            guard symbolIndex[symbol] == nil else {
                throw AvroSchemaError(path: "\(path).symbols[\(i)]", message: "enum \"\(full)\" repeats the symbol \"\(symbol)\"")
            }
            symbolIndex[symbol] = i
            symbols.append(symbol)
        }
        var defaultSymbol: String?
        if let defaultJSON = object["default"] {
            guard case .string(let symbol) = defaultJSON, symbolIndex[symbol] != nil else {
                throw AvroSchemaError(path: path + ".default", message: "the enum default must be one of the symbols of \"\(full)\"")
            }
            defaultSymbol = symbol
        }
        let index = append(.enumeration(AvroSchema.Enumeration(fullName: full, aliases: aliases, symbols: symbols, symbolIndex: symbolIndex, defaultSymbol: defaultSymbol)))
        try register(full, index: index, path: path)
        return index
    }

    private mutating func parseFixed(_ object: JSONObject, namespace enclosing: String?, path: String) throws(AvroSchemaError) -> Int {
        let (full, namespace) = try fullName(object, enclosing: enclosing, path: path)
        let aliases = try aliases(object, namespace: namespace, path: path)
        guard case .number(let text, true)? = object["size"], let size = Int(text), size >= 0 else {
            throw AvroSchemaError(path: path + ".size", message: "fixed \"\(full)\" needs a non-negative integer \"size\"")
        }
        let index = append(.fixed(AvroSchema.Fixed(fullName: full, aliases: aliases, size: size)))
        try register(full, index: index, path: path)
        return index
    }

    // MARK: Defaults

    private mutating func resolveDefaults() throws(AvroSchemaError) {
        for pending in pendingDefaults {
            guard case .record(var record) = nodes[pending.record].kind else { continue }
            let field = record.fields[pending.field]
            let value = try Self.defaultValue(pending.json, node: field.type, nodes: nodes, path: pending.path, depth: 0)
            record.fields[pending.field].defaultValue = value
            nodes[pending.record].kind = .record(record)
        }
    }

    /// Converts a JSON default to a value of the node's type (the spec's JSON encoding of defaults).
    static func defaultValue(_ json: JSON, node index: Int, nodes: [Node], path: String, depth: Int) throws(AvroSchemaError) -> AvroValue {
        guard depth < 200 else { throw AvroSchemaError(path: path, message: "default value nested too deeply") }
        let node = nodes[index]
        func mismatch() -> AvroSchemaError {
            AvroSchemaError(path: path, message: "default value \(json.kindName) does not match the field type \(node.typeName)")
        }
        switch node.kind {
        case .null:
            guard case .null = json else { throw mismatch() }
            return .null
        case .boolean:
            guard case .bool(let b) = json else { throw mismatch() }
            return .boolean(b)
        case .int:
            guard case .number(let text, true) = json, let v = Int32(text) else {
                throw AvroSchemaError(path: path, message: "default value must be an integer in the 32-bit range for type int")
            }
            return .int(v)
        case .long:
            guard case .number(let text, true) = json, let v = Int64(text) else {
                throw AvroSchemaError(path: path, message: "default value must be an integer in the 64-bit range for type long")
            }
            return .long(v)
        case .float, .double:
            let d: Double
            switch json {
            case .number(let text, _):
                guard let v = Double(text) else { throw mismatch() }
                d = v
            case .string("NaN"): d = .nan
            case .string("Infinity"): d = .infinity
            case .string("-Infinity"): d = -.infinity
            default: throw mismatch()
            }
            if case .float = node.kind { return .float(Float(d)) }
            return .double(d)
        case .bytes, .fixed:
            guard case .string(let s) = json else { throw mismatch() }
            var bytes: [UInt8] = []
            for scalar in s.unicodeScalars {
                guard scalar.value <= 0xFF else {
                    throw AvroSchemaError(path: path, message: "a bytes/fixed default is a string of code points 0-255; found U+\(String(scalar.value, radix: 16, uppercase: true))")
                }
                bytes.append(UInt8(scalar.value))
            }
            if case .fixed(let f) = node.kind {
                guard bytes.count == f.size else {
                    throw AvroSchemaError(path: path, message: "default for fixed \"\(f.fullName)\" has \(bytes.count) bytes, the size is \(f.size)")
                }
                return .fixed(bytes)
            }
            return .bytes(bytes)
        case .string:
            guard case .string(let s) = json else { throw mismatch() }
            return .string(s)
        case .enumeration(let e):
            guard case .string(let s) = json, e.symbolIndex[s] != nil else {
                throw AvroSchemaError(path: path, message: "default value must be one of the symbols of enum \"\(e.fullName)\"")
            }
            return .enumeration(s)
        case .array(let items):
            guard case .array(let list) = json else { throw mismatch() }
            var values: [AvroValue] = []
            for (i, item) in list.enumerated() {
                values.append(try defaultValue(item, node: items, nodes: nodes, path: "\(path)[\(i)]", depth: depth + 1))
            }
            return .array(values)
        case .map(let valuesNode):
            guard case .object(let object) = json else { throw mismatch() }
            var map: [String: AvroValue] = [:]
            for key in object.keys {
                map[key] = try defaultValue(object[key]!, node: valuesNode, nodes: nodes, path: "\(path).\(key)", depth: depth + 1)
            }
            return .map(map)
        case .record(let record):
            guard case .object(let object) = json else { throw mismatch() }
            var fields: [AvroValue.Field] = []
            for field in record.fields {
                if let fieldJSON = object[field.name] {
                    fields.append(AvroValue.Field(field.name, try defaultValue(fieldJSON, node: field.type, nodes: nodes, path: "\(path).\(field.name)", depth: depth + 1)))
                } else if let fieldDefault = field.defaultValue {
                    fields.append(AvroValue.Field(field.name, fieldDefault))
                } else {
                    throw AvroSchemaError(path: path, message: "default record value lacks field \"\(field.name)\" which has no default")
                }
            }
            return .record(fields)
        case .union(let branches):
            // Avro 1.12: the default must match one of the branches (the first is preferred).
            for (i, branch) in branches.enumerated() {
                if let value = try? defaultValue(json, node: branch, nodes: nodes, path: path, depth: depth + 1) {
                    return .union(branch: i, value: value)
                }
            }
            throw AvroSchemaError(path: path, message: "default value \(json.kindName) matches no branch of the union [\(branches.map { nodes[$0].typeName }.joined(separator: ", "))]")
        }
    }
}
