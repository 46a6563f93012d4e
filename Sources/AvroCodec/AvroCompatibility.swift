/// One reason a reader schema cannot read everything a writer schema may write.
public struct AvroCompatibilityIssue: Sendable, Hashable, CustomStringConvertible {
    /// The rule that failed (the names of Apache Avro's `SchemaIncompatibilityType`).
    public enum Kind: String, Sendable, Hashable {
        /// Named types whose names (and the reader's aliases) do not match.
        case nameMismatch = "NAME_MISMATCH"
        /// Fixed types of different sizes.
        case fixedSizeMismatch = "FIXED_SIZE_MISMATCH"
        /// Writer enum symbols the reader lacks, with no reader enum default.
        case missingEnumSymbols = "MISSING_ENUM_SYMBOLS"
        /// A reader field without a default that the writer does not have.
        case readerFieldMissingDefaultValue = "READER_FIELD_MISSING_DEFAULT_VALUE"
        /// Types that no promotion connects.
        case typeMismatch = "TYPE_MISMATCH"
        /// A writer type (or union branch) no reader union branch can read.
        case missingUnionBranch = "MISSING_UNION_BRANCH"
    }

    /// Which way a compatibility level check was reading.
    public enum Direction: String, Sendable, Hashable {
        /// The new schema reading data written with a previous one (BACKWARD).
        case newReadsPrevious = "new schema reading data written with a previous schema"
        /// A previous schema reading data written with the new one (FORWARD).
        case previousReadsNew = "previous schema reading data written with the new schema"
    }

    /// The failed rule.
    public var kind: Kind
    /// A JSON-pointer-like location in the reader schema, as Apache Avro reports it
    /// (e.g. `/fields/6/type`).
    public var location: String
    /// The field path in the reader schema (e.g. `address.city`), empty at the top level.
    public var fieldPath: String
    /// A human explanation, e.g. "reader field `region` has no default and is missing from the writer".
    public var message: String
    /// For level checks: the index in `previous` of the schema involved.
    public var previousIndex: Int?
    /// For level checks: which schema was the reader.
    public var direction: Direction?

    /// The explanation with its location (and, for level checks, the version and direction).
    public var description: String {
        var text = fieldPath.isEmpty ? message : "field `\(fieldPath)`: \(message)"
        text += " [\(kind.rawValue) at \(location)]"
        if let previousIndex, let direction {
            text = "\(direction.rawValue) (previous schema #\(previousIndex)): " + text
        }
        return text
    }
}

/// Confluent Schema Registry compatibility levels.
public enum AvroCompatibilityLevel: String, Sendable, Hashable, CaseIterable {
    /// No check.
    case none = "NONE"
    /// The new schema can read data written with the latest previous schema.
    case backward = "BACKWARD"
    /// The new schema can read data written with every previous schema.
    case backwardTransitive = "BACKWARD_TRANSITIVE"
    /// The latest previous schema can read data written with the new schema.
    case forward = "FORWARD"
    /// Every previous schema can read data written with the new schema.
    case forwardTransitive = "FORWARD_TRANSITIVE"
    /// BACKWARD and FORWARD against the latest previous schema.
    case full = "FULL"
    /// BACKWARD and FORWARD against every previous schema.
    case fullTransitive = "FULL_TRANSITIVE"
}

/// Schema compatibility checks that mirror Apache Avro's `SchemaCompatibility`
/// (Java) / `avro.compatibility.ReaderWriterCompatibilityChecker` (Python).
///
/// One deliberate difference from the Python module: reader aliases of named types are compared
/// after qualifying them with the reader's namespace (as Java and the specification do), while
/// Python compares the raw alias text with the writer's full name.
public enum AvroCompatibility {
    /// The reasons `reader` cannot read all data written with `writer`; empty when compatible.
    public static func check(reader: AvroSchema, writer: AvroSchema) -> [AvroCompatibilityIssue] {
        var checker = Checker(reader: reader, writer: writer)
        let issues = checker.compatibility(reader.root, writer.root, token: "", location: [], fieldPath: "")
        var seen = Set<AvroCompatibilityIssue>()
        return issues.filter { seen.insert($0).inserted }
    }

    /// Checks a candidate schema against the previous versions of a subject (oldest first) under
    /// a Confluent compatibility level. Empty when the candidate may be registered.
    public static func check(candidate: AvroSchema, previous: [AvroSchema], level: AvroCompatibilityLevel) -> [AvroCompatibilityIssue] {
        guard !previous.isEmpty else { return [] }
        let indexes: [Int]
        let backward: Bool
        let forward: Bool
        switch level {
        case .none: return []
        case .backward: (indexes, backward, forward) = ([previous.count - 1], true, false)
        case .backwardTransitive: (indexes, backward, forward) = (Array(previous.indices), true, false)
        case .forward: (indexes, backward, forward) = ([previous.count - 1], false, true)
        case .forwardTransitive: (indexes, backward, forward) = (Array(previous.indices), false, true)
        case .full: (indexes, backward, forward) = ([previous.count - 1], true, true)
        case .fullTransitive: (indexes, backward, forward) = (Array(previous.indices), true, true)
        }
        var issues: [AvroCompatibilityIssue] = []
        for index in indexes.reversed() {
            if backward {
                issues += check(reader: candidate, writer: previous[index]).map {
                    var issue = $0
                    issue.previousIndex = index
                    issue.direction = .newReadsPrevious
                    return issue
                }
            }
            if forward {
                issues += check(reader: previous[index], writer: candidate).map {
                    var issue = $0
                    issue.previousIndex = index
                    issue.direction = .previousReadsNew
                    return issue
                }
            }
        }
        return issues
    }

    private struct Checker {
        let reader: AvroSchema
        let writer: AvroSchema
        var memo: [Pair: [AvroCompatibilityIssue]?] = [:]

        struct Pair: Hashable {
            var reader: Int
            var writer: Int
        }

        init(reader: AvroSchema, writer: AvroSchema) {
            self.reader = reader
            self.writer = writer
        }

        mutating func compatibility(_ r: Int, _ w: Int, token: String, location: [String], fieldPath: String) -> [AvroCompatibilityIssue] {
            let pair = Pair(reader: r, writer: w)
            if let state = memo[pair] {
                // nil: recursion in progress, assumed compatible (as Apache Avro does).
                return state ?? []
            }
            memo[pair] = .some(nil)
            let result = calculate(r, w, location: token.isEmpty ? location : location + [token], fieldPath: fieldPath)
            memo[pair] = .some(result)
            return result
        }

        func issue(_ kind: AvroCompatibilityIssue.Kind, _ message: String, _ location: [String], _ fieldPath: String) -> AvroCompatibilityIssue {
            AvroCompatibilityIssue(kind: kind, location: "/" + location.joined(separator: "/"), fieldPath: fieldPath, message: message)
        }

        func typeMismatch(_ rNode: AvroSchema.Node, _ wNode: AvroSchema.Node, _ location: [String], _ fieldPath: String) -> [AvroCompatibilityIssue] {
            [issue(.typeMismatch, "reader type \(rNode.typeName) cannot read writer type \(wNode.typeName)", location, fieldPath)]
        }

        mutating func calculate(_ r: Int, _ w: Int, location: [String], fieldPath: String) -> [AvroCompatibilityIssue] {
            let rNode = reader.nodes[r]
            let wNode = writer.nodes[w]
            switch (rNode.kind, wNode.kind) {
            case (.null, .null), (.boolean, .boolean), (.int, .int), (.long, .long), (.float, .float),
                 (.double, .double), (.bytes, .bytes), (.string, .string):
                return []
            case (.array(let ri), .array(let wi)):
                return compatibility(ri, wi, token: "items", location: location, fieldPath: fieldPath + "[]")
            case (.map(let rv), .map(let wv)):
                return compatibility(rv, wv, token: "values", location: location, fieldPath: fieldPath + "{}")
            case (.fixed(let rf), .fixed(let wf)):
                var issues = checkNames(rNode, wNode, location, fieldPath)
                if rf.size != wf.size {
                    issues.append(issue(.fixedSizeMismatch, "reader fixed \(rf.fullName) has size \(rf.size) but the writer's \(wf.fullName) has size \(wf.size)", location + ["size"], fieldPath))
                }
                return issues
            case (.enumeration(let re), .enumeration(let we)):
                var issues = checkNames(rNode, wNode, location, fieldPath)
                let missing = we.symbols.filter { re.symbolIndex[$0] == nil }
                if !missing.isEmpty && re.defaultSymbol == nil {
                    issues.append(issue(.missingEnumSymbols, "reader enum \(re.fullName) lacks writer symbols \(missing.joined(separator: ", ")) and has no default symbol", location + ["symbols"], fieldPath))
                }
                return issues
            case (.record(let rr), .record(let wr)):
                var issues = checkNames(rNode, wNode, location, fieldPath)
                for (i, rf) in rr.fields.enumerated() {
                    let childPath = fieldPath.isEmpty ? rf.name : fieldPath + "." + rf.name
                    let fieldLocation = location + ["fields", String(i)]
                    var wf = wr.fieldIndex[rf.name].map { wr.fields[$0] }
                    if wf == nil {
                        for alias in rf.aliases {
                            if let j = wr.fieldIndex[alias] { wf = wr.fields[j]; break }
                        }
                    }
                    if let wf {
                        issues += compatibility(rf.type, wf.type, token: "type", location: fieldLocation, fieldPath: childPath)
                    } else if rf.defaultValue == nil {
                        if case .enumeration(let e) = reader.nodes[rf.type].kind, e.defaultSymbol != nil {
                            // Apache Avro compares the field's enum with the writer record here,
                            // which is always a type mismatch.
                            issues += compatibility(rf.type, w, token: "type", location: fieldLocation, fieldPath: childPath)
                        } else {
                            issues.append(issue(.readerFieldMissingDefaultValue, "reader field `\(rf.name)` has no default and is missing from the writer", fieldLocation, childPath))
                        }
                    }
                }
                return issues
            case (.union(let rb), .union(let wb)):
                var issues: [AvroCompatibilityIssue] = []
                for (i, branch) in wb.enumerated() where !compatibility(r, branch, token: "", location: location, fieldPath: fieldPath).isEmpty {
                    issues.append(issue(.missingUnionBranch, "the reader union [\(rb.map { reader.nodes[$0].typeName }.joined(separator: ", "))] has no branch that reads the writer's \(writer.nodes[branch].typeName) (writer union branch \(i))", location + [String(i)], fieldPath))
                }
                return issues
            case (_, .union(let wb)):
                var issues: [AvroCompatibilityIssue] = []
                for branch in wb {
                    issues += compatibility(r, branch, token: "", location: location, fieldPath: fieldPath)
                }
                return issues
            case (.long, .int), (.float, .int), (.float, .long), (.double, .int), (.double, .long), (.double, .float),
                 (.bytes, .string), (.string, .bytes):
                return []
            case (.union(let rb), _):
                for branch in rb where compatibility(branch, w, token: "", location: location, fieldPath: fieldPath).isEmpty {
                    return []
                }
                return [issue(.missingUnionBranch, "the reader union [\(rb.map { reader.nodes[$0].typeName }.joined(separator: ", "))] has no branch that reads the writer's \(wNode.typeName)", location, fieldPath)]
            default:
                return typeMismatch(rNode, wNode, location, fieldPath)
            }
        }

        func checkNames(_ rNode: AvroSchema.Node, _ wNode: AvroSchema.Node, _ location: [String], _ fieldPath: String) -> [AvroCompatibilityIssue] {
            if AvroResolution.namesMatch(writer: wNode, reader: rNode) { return [] }
            return [issue(.nameMismatch, "reader \(rNode.typeName) does not match the writer's \(wNode.typeName) by name or alias", location + ["name"], fieldPath)]
        }
    }
}
