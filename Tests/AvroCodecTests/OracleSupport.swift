import AuditPipeTestSupport
import Foundation
import Testing

@testable import AvroCodec

/// Runs `avro_oracle.py` (Apache `avro` + `fastavro`) with the interpreter from AUDITPIPE_PYTHON.
enum Oracle {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("avro_oracle.py")

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs a command; stdin/stdout go through temporary files (no pipe deadlocks on big output).
    static func run(_ arguments: [String], input: String? = nil) throws -> JSON {
        let python = try TestService.python.value
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("avro-oracle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let inURL = directory.appendingPathComponent("in.json")
        let outURL = directory.appendingPathComponent("out.json")
        let errURL = directory.appendingPathComponent("err.txt")
        try (input ?? "").write(to: inURL, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path] + arguments
        process.standardInput = try FileHandle(forReadingFrom: inURL)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        process.waitUntilExit()
        let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw Failure(description: "avro_oracle.py \(arguments.joined(separator: " ")) exited with \(process.terminationStatus): \(stderr.suffix(2000))")
        }
        let output = try Data(contentsOf: outURL)
        return try JSONParser.parse(bytes: Array(output), maxDepth: 10_000)
    }
}

// MARK: JSON access helpers

extension JSON {
    subscript(key: String) -> JSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    var array: [JSON] {
        if case .array(let a) = self { return a }
        return []
    }

    var string: String? { stringValue }

    var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    var int: Int? {
        if case .number(let text, true) = self { return Int(text) }
        return nil
    }
}

func hexBytes(_ hex: String) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(hex.utf8.count / 2)
    var iterator = hex.utf8.makeIterator()
    func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: c - UInt8(ascii: "A") + 10
        }
    }
    while let high = iterator.next(), let low = iterator.next() {
        bytes.append(nibble(high) << 4 | nibble(low))
    }
    return bytes
}

func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef")
    var s = ""
    for b in bytes {
        s.append(digits[Int(b >> 4)])
        s.append(digits[Int(b & 0xF)])
    }
    return s
}

// MARK: Value notations shared with the oracle (see avro_oracle.py)

struct NotationError: Error, CustomStringConvertible {
    var description: String
}

/// Builds an `AvroValue` from the oracle's "tagged" notation, guided by the schema.
func taggedValue(_ json: JSON, node index: Int, schema: AvroSchema) throws -> AvroValue {
    let node = schema.nodes[index]
    func number() throws -> String {
        guard case .number(let text, _) = json else { throw NotationError(description: "expected number for \(node.typeName), got \(json)") }
        return text
    }
    func float() throws -> Double {
        guard case .string(let text)? = json["$f"], let d = parseFloatText(text) else { throw NotationError(description: "expected $f for \(node.typeName)") }
        return d
    }
    func bytes() throws -> [UInt8] {
        guard case .string(let hex)? = json["$b"] else { throw NotationError(description: "expected $b") }
        return hexBytes(hex)
    }
    switch node.kind {
    case .null: return .null
    case .boolean:
        guard let b = json.bool else { throw NotationError(description: "expected bool") }
        return .boolean(b)
    case .int: return .int(Int32(try number())!)
    case .long: return .long(Int64(try number())!)
    case .float: return .float(Float(try float()))
    case .double: return .double(try float())
    case .bytes: return .bytes(try bytes())
    case .fixed: return .fixed(try bytes())
    case .string:
        guard let s = json.string else { throw NotationError(description: "expected string") }
        return .string(s)
    case .enumeration:
        guard let s = json.string else { throw NotationError(description: "expected symbol") }
        return .enumeration(s)
    case .array(let items):
        return .array(try json.array.map { try taggedValue($0, node: items, schema: schema) })
    case .map(let values):
        guard case .object(let o) = json else { throw NotationError(description: "expected map object") }
        var map: [String: AvroValue] = [:]
        for key in o.keys { map[key] = try taggedValue(o[key]!, node: values, schema: schema) }
        return .map(map)
    case .record(let r):
        guard case .object(let o) = json else { throw NotationError(description: "expected record object") }
        return .record(try r.fields.map { field in
            guard let v = o[field.name] else { throw NotationError(description: "missing field \(field.name)") }
            return AvroValue.Field(field.name, try taggedValue(v, node: field.type, schema: schema))
        })
    case .union(let branches):
        guard let i = json["$u"]?.int, let v = json["v"] else { throw NotationError(description: "expected $u") }
        return .union(branch: i, value: try taggedValue(v, node: branches[i], schema: schema))
    }
}

func parseFloatText(_ text: String) -> Double? {
    switch text {
    case "nan": .nan
    case "inf": .infinity
    case "-inf": -.infinity
    default: Double(text)
    }
}

/// The oracle's "plain" notation of a value (union branches invisible).
func plain(_ value: AvroValue) -> JSON {
    func f(_ d: Double) -> JSON {
        let text = d.isNaN ? "nan" : d == .infinity ? "inf" : d == -.infinity ? "-inf" : "\(d)"
        var o = JSONObject()
        o.set("$f", .string(text))
        return .object(o)
    }
    func b(_ bytes: [UInt8]) -> JSON {
        var o = JSONObject()
        o.set("$b", .string(hexString(bytes)))
        return .object(o)
    }
    switch value {
    case .null: return .null
    case .boolean(let v): return .bool(v)
    case .int(let v): return .number("\(v)", isInteger: true)
    case .long(let v): return .number("\(v)", isInteger: true)
    case .float(let v): return f(Double(v))
    case .double(let v): return f(v)
    case .bytes(let v), .fixed(let v): return b(v)
    case .string(let v), .enumeration(let v): return .string(v)
    case .array(let items): return .array(items.map(plain))
    case .map(let map):
        var o = JSONObject()
        for key in map.keys.sorted() { o.set(key, plain(map[key]!)) }
        return .object(o)
    case .record(let fields):
        var o = JSONObject()
        for field in fields { o.set(field.name, plain(field.value)) }
        return .object(o)
    case .union(_, let v): return plain(v)
    }
}

/// Compares two plain notations; floats numerically (NaN equals NaN), objects regardless of key order.
func plainEqual(_ a: JSON, _ b: JSON) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.number(let x, _), .number(let y, _)): return x == y
    case (.string(let x), .string(let y)): return x == y
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy(plainEqual)
    case (.object(let x), .object(let y)):
        if case .string(let fx)? = x["$f"], case .string(let fy)? = y["$f"] {
            guard let dx = parseFloatText(fx), let dy = parseFloatText(fy) else { return false }
            return dx == dy || (dx.isNaN && dy.isNaN)
        }
        guard Set(x.keys) == Set(y.keys) else { return false }
        return x.keys.allSatisfy { plainEqual(x[$0]!, y[$0]!) }
    default: return false
    }
}

/// Structural equality of values where NaN equals NaN (AvroValue's `==` follows IEEE).
func same(_ a: AvroValue, _ b: AvroValue) -> Bool {
    switch (a, b) {
    case (.float(let x), .float(let y)): return x == y || (x.isNaN && y.isNaN)
    case (.double(let x), .double(let y)): return x == y || (x.isNaN && y.isNaN)
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy(same)
    case (.map(let x), .map(let y)): return x.count == y.count && x.allSatisfy { key, v in y[key].map { same(v, $0) } ?? false }
    case (.record(let x), .record(let y)):
        return x.count == y.count && zip(x, y).allSatisfy { $0.name == $1.name && same($0.value, $1.value) }
    case (.union(let i, let x), .union(let j, let y)): return i == j && same(x, y)
    default: return a == b
    }
}
