import Foundation
@testable import AvroCodec

/// SplitMix64: small, seeded, reproducible.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476C_1E5B_5E09
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random valid schemas (as JSON text) and random values for them.
struct RandomSchemaGenerator {
    var rng: SeededRandom
    private var counter = 0

    init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    mutating func schema() throws -> (String, AvroSchema) {
        var named: [String] = []
        let json = schemaJSON(depth: 0, named: &named, allowRecursion: true)
        return (json, try AvroSchema(parsing: json))
    }

    private mutating func name(_ prefix: String) -> String {
        counter += 1
        return "\(prefix)\(counter)"
    }

    private mutating func quoted(_ s: String) -> String {
        var out = ""
        JSONWriter.appendString(s, to: &out)
        return out
    }

    mutating func schemaJSON(depth: Int, named: inout [String], allowRecursion: Bool) -> String {
        let primitives = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
        if !named.isEmpty, Int.random(in: 0..<8, using: &rng) == 0 {
            return quoted(named.randomElement(using: &rng)!)
        }
        let choice = Int.random(in: 0..<(depth < 3 ? 15 : 10), using: &rng)
        switch choice {
        case 0..<8:
            let p = primitives[choice]
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: return "{\"type\": \"\(p)\"}"
            case 1 where p == "long": return "{\"type\": \"long\", \"logicalType\": \"timestamp-micros\"}"
            default: return quoted(p)
            }
        case 8:
            let n = name("F")
            named.append(n)
            return "{\"type\": \"fixed\", \"name\": \"\(n)\", \"size\": \(Int.random(in: 0...12, using: &rng))}"
        case 9:
            let n = name("E")
            named.append(n)
            let symbols = (0..<Int.random(in: 1...5, using: &rng)).map { "\"S\($0)\"" }.joined(separator: ",")
            return "{\"type\": \"enum\", \"name\": \"\(n)\", \"symbols\": [\(symbols)]}"
        case 10:
            return "{\"type\": \"array\", \"items\": \(schemaJSON(depth: depth + 1, named: &named, allowRecursion: allowRecursion))}"
        case 11:
            return "{\"type\": \"map\", \"values\": \(schemaJSON(depth: depth + 1, named: &named, allowRecursion: allowRecursion))}"
        case 12:
            // A union without duplicate unnamed types and without nested unions.
            var seen = Set<String>()
            var branches: [String] = []
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let snapshot = named
                var branch = schemaJSON(depth: depth + 1, named: &named, allowRecursion: allowRecursion)
                var attempts = 0
                while (branch.hasPrefix("[") || !seen.insert(unionKey(branch, named: named)).inserted) && attempts < 5 {
                    named = snapshot
                    branch = schemaJSON(depth: depth + 1, named: &named, allowRecursion: allowRecursion)
                    attempts += 1
                }
                if attempts < 5 { branches.append(branch) } else { named = snapshot }
            }
            if branches.isEmpty { return "\"null\"" }
            return "[" + branches.joined(separator: ",") + "]"
        default:
            let n = name("R")
            var fields: [String] = []
            let recursive = allowRecursion && Int.random(in: 0..<4, using: &rng) == 0
            var inner = named
            for i in 0..<Int.random(in: 0...4, using: &rng) {
                let type = schemaJSON(depth: depth + 1, named: &inner, allowRecursion: false)
                fields.append("{\"name\": \"f\(i)\", \"type\": \(type)}")
            }
            if recursive {
                fields.append("{\"name\": \"next\", \"type\": [\"null\", \"\(n)\"], \"default\": null}")
            }
            // Names defined inside stay visible (they are defined in the schema).
            named = inner.filter { $0 != n } + [n]
            return "{\"type\": \"record\", \"name\": \"\(n)\", \"fields\": [\(fields.joined(separator: ","))]}"
        }
    }

    /// The union-uniqueness key of a branch's JSON text.
    private func unionKey(_ json: String, named: [String]) -> String {
        if json.hasPrefix("\"") { return String(json.dropFirst().dropLast()) }
        // {"type": "x", ... "name": "N" ...}; nested references to earlier names are fine here
        // because only the top-level kind or name matters.
        if let schema = try? AvroSchema(parsing: json) { return schema.rootNode.fullName ?? schema.rootNode.typeKeyword }
        if json.hasPrefix("{\"type\": \"array\"") { return "array" }
        if json.hasPrefix("{\"type\": \"map\"") { return "map" }
        if let range = json.range(of: "\"name\": \"") {
            return String(json[range.upperBound...].prefix { $0 != "\"" })
        }
        return json
    }

    mutating func value(for schema: AvroSchema) -> AvroValue {
        value(node: schema.root, schema: schema, depth: 0)
    }

    mutating func value(node index: Int, schema: AvroSchema, depth: Int) -> AvroValue {
        switch schema.nodes[index].kind {
        case .null: return .null
        case .boolean: return .boolean(Bool.random(using: &rng))
        case .int:
            return .int([0, -1, 1, .max, .min, Int32.random(in: .min ... .max, using: &rng), Int32.random(in: -200...200, using: &rng)].randomElement(using: &rng)!)
        case .long:
            return .long([0, .max, .min, Int64.random(in: .min ... .max, using: &rng), Int64.random(in: -70000...70000, using: &rng)].randomElement(using: &rng)!)
        case .float:
            return .float([0, -0.0, 1.5, .infinity, Float(bitPattern: UInt32.random(in: 0 ... .max, using: &rng) & 0x7F7F_FFFF), Float.random(in: -1e6...1e6, using: &rng)].randomElement(using: &rng)!)
        case .double:
            return .double([0, -.infinity, Double.random(in: -1e300...1e300, using: &rng), Double.random(in: 0...1, using: &rng)].randomElement(using: &rng)!)
        case .bytes: return .bytes(randomBytes(Int.random(in: 0...16, using: &rng)))
        case .fixed(let f): return .fixed(randomBytes(f.size))
        case .string: return .string(randomString())
        case .enumeration(let e): return .enumeration(e.symbols.randomElement(using: &rng)!)
        case .array(let items):
            let n = depth > 4 ? 0 : Int.random(in: 0...3, using: &rng)
            return .array((0..<n).map { _ in value(node: items, schema: schema, depth: depth + 1) })
        case .map(let values):
            let n = depth > 4 ? 0 : Int.random(in: 0...3, using: &rng)
            var map: [String: AvroValue] = [:]
            for _ in 0..<n { map[randomString()] = value(node: values, schema: schema, depth: depth + 1) }
            return .map(map)
        case .record(let r):
            return .record(r.fields.map { AvroValue.Field($0.name, value(node: $0.type, schema: schema, depth: depth + 1)) })
        case .union(let branches):
            // Deep down, prefer a branch that ends recursion (null), if any.
            var i = Int.random(in: 0..<branches.count, using: &rng)
            if depth > 6, let nullBranch = branches.firstIndex(where: { schema.nodes[$0].kind == .null }) { i = nullBranch }
            return .union(branch: i, value: value(node: branches[i], schema: schema, depth: depth + 1))
        }
    }

    mutating func randomBytes(_ n: Int) -> [UInt8] {
        (0..<n).map { _ in UInt8.random(in: 0 ... .max, using: &rng) }
    }

    mutating func randomString() -> String {
        let alphabet: [Character] = ["a", "b", "Z", "0", " ", "_", "é", "ß", "中", "文", "😀", "𐍈", "\n", "\"", "\\", "\u{0}"]
        return String((0..<Int.random(in: 0...10, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
    }
}
