/// Reads data written with one schema (the writer's) as values of another (the reader's),
/// following the Avro specification's "Schema Resolution" rules:
///
/// - record fields are matched by name, then by the reader field's aliases; writer fields the
///   reader lacks are skipped; reader fields the writer lacks take the reader's default;
/// - promotions int→long/float/double, long→float/double, float→double, string↔bytes;
/// - enum symbols the reader lacks map to the reader's enum default;
/// - a writer union resolves the branch actually written; a reader union takes the first branch
///   that matches the writer type (exact matches before promotions);
/// - named types match by unqualified name or by a reader alias.
///
/// The plan is compiled once (cache it per writer schema id). Incompatibilities are reported when
/// data reaches them, as the spec prescribes, with an `AvroDecodingError`; use
/// `AvroCompatibility` to find them ahead of time.
public struct AvroResolution: Sendable {
    /// The schema the data was written with.
    public let writer: AvroSchema
    /// The schema of the values produced.
    public let reader: AvroSchema
    private let root: Step
    private let records: [RecordPlan]

    indirect enum Step: Sendable {
        /// Same primitive or fixed type: decode with the writer node.
        case direct(writerNode: Int)
        case promote(Promotion)
        case record(Int)
        case enumeration(writerNode: Int, symbols: [String?], readerName: String)
        case array(writerItems: Int, Step)
        case map(writerValues: Int, Step)
        case writerUnion([Step])
        case readerUnion(branch: Int, Step)
        case fail(String)
    }

    enum Promotion: Sendable {
        case intToLong, intToFloat, intToDouble, longToFloat, longToDouble, floatToDouble, stringToBytes, bytesToString
    }

    struct RecordPlan: Sendable {
        var actions: [FieldAction] = []
        var readerFieldNames: [String] = []
        var defaults: [(index: Int, value: AvroValue)] = []
        var failure: String?
    }

    enum FieldAction: Sendable {
        case read(readerIndex: Int, Step)
        case skip(writerNode: Int)
    }

    /// Compiles the resolution plan.
    public init(writer: AvroSchema, reader: AvroSchema) {
        self.writer = writer
        self.reader = reader
        var builder = Builder(writer: writer, reader: reader)
        self.root = builder.step(writer.root, reader.root)
        self.records = builder.records
    }

    /// Decodes one value from the start of `bytes`, ignoring trailing bytes.
    public func decode<Bytes: Collection<UInt8>>(_ bytes: Bytes, options: AvroDecodingOptions = .default) throws(AvroDecodingError) -> AvroValue {
        try decodePrefix(bytes, options: options).value
    }

    /// Decodes one value that must use every byte.
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
            var r = AvroByteReader(buffer, options: options)
            let value = try run(root, &r, depth: 0)
            return (value, r.position)
        }
    }

    private func run(_ step: Step, _ r: inout AvroByteReader, depth: Int) throws(AvroDecodingError) -> AvroValue {
        switch step {
        case .direct(let node):
            return try writer.decodeValue(node: node, from: &r, depth: depth)
        case .promote(let p):
            switch p {
            case .intToLong: return .long(Int64(try r.readInt()))
            case .intToFloat: return .float(Float(try r.readInt()))
            case .intToDouble: return .double(Double(try r.readInt()))
            case .longToFloat: return .float(Float(try r.readLong()))
            case .longToDouble: return .double(Double(try r.readLong()))
            case .floatToDouble: return .double(Double(try r.readFloat()))
            case .stringToBytes: return .bytes(try r.readBytes())
            case .bytesToString: return .string(try r.readString())
            }
        case .record(let index):
            guard depth < r.maxDepth else { throw r.error("nesting deeper than \(r.maxDepth) levels") }
            let plan = records[index]
            if let failure = plan.failure { throw r.error(failure) }
            var values = [AvroValue](repeating: .null, count: plan.readerFieldNames.count)
            for action in plan.actions {
                switch action {
                case .read(let i, let fieldStep):
                    do { values[i] = try run(fieldStep, &r, depth: depth + 1) } catch { throw error.inside(.field(plan.readerFieldNames[i])) }
                case .skip(let node):
                    try writer.skipValue(node: node, in: &r, depth: depth + 1)
                }
            }
            for (i, value) in plan.defaults { values[i] = value }
            var fields: [AvroValue.Field] = []
            fields.reserveCapacity(values.count)
            for (i, value) in values.enumerated() { fields.append(AvroValue.Field(plan.readerFieldNames[i], value)) }
            return .record(fields)
        case .enumeration(_, let symbols, let readerName):
            let start = r.position
            let i = try r.readLong()
            guard i >= 0, i < symbols.count else {
                throw AvroDecodingError(offset: start, message: "enum index \(i) is out of range (\(symbols.count) writer symbols)")
            }
            guard let symbol = symbols[Int(i)] else {
                throw AvroDecodingError(offset: start, message: "writer enum symbol #\(i) is not a symbol of reader enum \(readerName), which has no default")
            }
            return .enumeration(symbol)
        case .array(let items, let itemStep):
            guard depth < r.maxDepth else { throw r.error("nesting deeper than \(r.maxDepth) levels") }
            var list: [AvroValue] = []
            let minimum = writer.minimumEncodedSize[items]
            while true {
                let count = try r.readBlockCount(minimumItemSize: minimum)
                if count == 0 { break }
                list.reserveCapacity(list.count + count)
                for _ in 0..<count {
                    do { list.append(try run(itemStep, &r, depth: depth + 1)) } catch { throw error.inside(.index(list.count)) }
                }
            }
            return .array(list)
        case .map(let values, let valueStep):
            guard depth < r.maxDepth else { throw r.error("nesting deeper than \(r.maxDepth) levels") }
            var map: [String: AvroValue] = [:]
            let minimum = 1 + writer.minimumEncodedSize[values]
            while true {
                let count = try r.readBlockCount(minimumItemSize: minimum)
                if count == 0 { break }
                for _ in 0..<count {
                    let key = try r.readString()
                    do { map[key] = try run(valueStep, &r, depth: depth + 1) } catch { throw error.inside(.key(key)) }
                }
            }
            return .map(map)
        case .writerUnion(let branches):
            guard depth < r.maxDepth else { throw r.error("nesting deeper than \(r.maxDepth) levels") }
            let start = r.position
            let i = try r.readLong()
            guard i >= 0, i < branches.count else {
                throw AvroDecodingError(offset: start, message: "union branch \(i) is out of range (\(branches.count) branches)")
            }
            return try run(branches[Int(i)], &r, depth: depth + 1)
        case .readerUnion(let branch, let inner):
            return .union(branch: branch, value: try run(inner, &r, depth: depth))
        case .fail(let message):
            throw r.error(message)
        }
    }

    /// Builds steps, memoising record pairs so recursive schemas terminate.
    private struct Builder {
        let writer: AvroSchema
        let reader: AvroSchema
        var records: [RecordPlan] = []
        var recordMemo: [Pair: Int] = [:]

        struct Pair: Hashable {
            var writer: Int
            var reader: Int
        }

        init(writer: AvroSchema, reader: AvroSchema) {
            self.writer = writer
            self.reader = reader
        }

        mutating func step(_ w: Int, _ r: Int) -> Step {
            let wNode = writer.nodes[w]
            let rNode = reader.nodes[r]
            if case .union(let branches) = wNode.kind {
                return .writerUnion(branches.map { step($0, r) })
            }
            if case .union(let branches) = rNode.kind {
                if let i = AvroResolution.bestBranch(writer: wNode, readerBranches: branches.map { reader.nodes[$0] }) {
                    return .readerUnion(branch: i, step(w, branches[i]))
                }
                return .fail("the writer's \(wNode.typeName) matches no branch of the reader's union [\(branches.map { reader.nodes[$0].typeName }.joined(separator: ", "))]")
            }
            switch (wNode.kind, rNode.kind) {
            case (.null, .null), (.boolean, .boolean), (.int, .int), (.long, .long), (.float, .float),
                 (.double, .double), (.bytes, .bytes), (.string, .string):
                return .direct(writerNode: w)
            case (.int, .long): return .promote(.intToLong)
            case (.int, .float): return .promote(.intToFloat)
            case (.int, .double): return .promote(.intToDouble)
            case (.long, .float): return .promote(.longToFloat)
            case (.long, .double): return .promote(.longToDouble)
            case (.float, .double): return .promote(.floatToDouble)
            case (.string, .bytes): return .promote(.stringToBytes)
            case (.bytes, .string): return .promote(.bytesToString)
            case (.fixed(let wf), .fixed(let rf)):
                guard AvroResolution.namesMatch(writer: wNode, reader: rNode) else {
                    return .fail("writer fixed \(wf.fullName) does not match the name of reader fixed \(rf.fullName)")
                }
                guard wf.size == rf.size else {
                    return .fail("writer fixed \(wf.fullName) has size \(wf.size), the reader's has size \(rf.size)")
                }
                return .direct(writerNode: w)
            case (.enumeration(let we), .enumeration(let re)):
                guard AvroResolution.namesMatch(writer: wNode, reader: rNode) else {
                    return .fail("writer enum \(we.fullName) does not match the name of reader enum \(re.fullName)")
                }
                let symbols: [String?] = we.symbols.map { re.symbolIndex[$0] != nil ? $0 : re.defaultSymbol }
                return .enumeration(writerNode: w, symbols: symbols, readerName: re.fullName)
            case (.array(let wi), .array(let ri)):
                return .array(writerItems: wi, step(wi, ri))
            case (.map(let wv), .map(let rv)):
                return .map(writerValues: wv, step(wv, rv))
            case (.record(let wr), .record(let rr)):
                guard AvroResolution.namesMatch(writer: wNode, reader: rNode) else {
                    return .fail("writer record \(wr.fullName) does not match the name of reader record \(rr.fullName)")
                }
                let pair = Pair(writer: w, reader: r)
                if let index = recordMemo[pair] { return .record(index) }
                let index = records.count
                records.append(RecordPlan())
                recordMemo[pair] = index
                records[index] = recordPlan(wr, rr)
                return .record(index)
            default:
                return .fail("writer type \(wNode.typeName) cannot be read as reader type \(rNode.typeName)")
            }
        }

        mutating func recordPlan(_ wr: AvroSchema.Record, _ rr: AvroSchema.Record) -> RecordPlan {
            var plan = RecordPlan()
            plan.readerFieldNames = rr.fields.map(\.name)
            var matched = [Bool](repeating: false, count: rr.fields.count)
            for wf in wr.fields {
                var target = rr.fieldIndex[wf.name]
                if target == nil {
                    target = rr.fields.firstIndex { $0.aliases.contains(wf.name) }
                }
                if let ri = target, !matched[ri] {
                    matched[ri] = true
                    plan.actions.append(.read(readerIndex: ri, step(wf.type, rr.fields[ri].type)))
                } else {
                    plan.actions.append(.skip(writerNode: wf.type))
                }
            }
            for (ri, rf) in rr.fields.enumerated() where !matched[ri] {
                if let value = rf.defaultValue {
                    plan.defaults.append((ri, value))
                } else if plan.failure == nil {
                    plan.failure = "reader field `\(rf.name)` of \(rr.fullName) has no default and is missing from the writer's \(wr.fullName)"
                }
            }
            return plan
        }
    }

    /// Named types match by unqualified name, or when a reader alias names the writer type.
    static func namesMatch(writer: AvroSchema.Node, reader: AvroSchema.Node) -> Bool {
        guard let wName = writer.fullName, let rName = reader.fullName else { return false }
        if simpleName(wName) == simpleName(rName) { return true }
        return reader.aliases.contains(wName)
    }

    static func simpleName(_ fullName: String) -> Substring {
        if let dot = fullName.lastIndex(of: ".") { return fullName[fullName.index(after: dot)...] }
        return fullName[...]
    }

    /// The reader union branch for a non-union writer type: a named type with the same full name,
    /// else the first exact match (same primitive, or same-kind named type matching by unqualified
    /// name or alias), else the first promotion target.
    static func bestBranch(writer: AvroSchema.Node, readerBranches: [AvroSchema.Node]) -> Int? {
        if let name = writer.fullName, let i = readerBranches.firstIndex(where: { $0.fullName == name && $0.typeKeyword == writer.typeKeyword }) {
            return i
        }
        for (i, branch) in readerBranches.enumerated() {
            switch (writer.kind, branch.kind) {
            case (.null, .null), (.boolean, .boolean), (.int, .int), (.long, .long), (.float, .float),
                 (.double, .double), (.bytes, .bytes), (.string, .string), (.array, .array), (.map, .map):
                return i
            case (.record, .record), (.enumeration, .enumeration), (.fixed, .fixed):
                if namesMatch(writer: writer, reader: branch) { return i }
            default:
                continue
            }
        }
        for (i, branch) in readerBranches.enumerated() {
            switch (writer.kind, branch.kind) {
            case (.int, .long), (.int, .float), (.int, .double), (.long, .float), (.long, .double),
                 (.float, .double), (.string, .bytes), (.bytes, .string):
                return i
            default:
                continue
            }
        }
        return nil
    }
}

extension AvroSchema {
    /// Decodes bytes written with `writer` as a value of `reader` (schema resolution), ignoring
    /// trailing bytes. Compiles the plan on every call; keep an `AvroResolution` for repeated use.
    public static func decode<Bytes: Collection<UInt8>>(
        _ bytes: Bytes, writer: AvroSchema, reader: AvroSchema, options: AvroDecodingOptions = .default
    ) throws(AvroDecodingError) -> AvroValue {
        try AvroResolution(writer: writer, reader: reader).decode(bytes, options: options)
    }
}
