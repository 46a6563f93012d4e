package import AvroCodec
import Foundation

/// One compatibility problem in plain words: which field, which rule, which readers or writers
/// break (by version number) and what to do.
package struct CompatibilityProblem: Sendable, Hashable, Codable {
    /// Which way the data flows when it breaks.
    package enum Direction: String, Sendable, Hashable, Codable {
        /// The new schema cannot read data written with a previous version (Confluent BACKWARD).
        case backward = "BACKWARD"
        /// A previous version cannot read data written with the new schema (Confluent FORWARD).
        case forward = "FORWARD"
    }

    /// Which way breaks.
    package var direction: Direction
    /// Apache Avro's name of the failed rule, e.g. `READER_FIELD_MISSING_DEFAULT_VALUE`.
    package var rule: String
    /// The field path (`region`, `address.city`, `tags[]`); empty for the top-level type.
    package var field: String
    /// The previous versions this problem breaks against, ascending.
    package var versions: [Int]
    /// What breaks, e.g. "field `region` added without a default: consumers reading events
    /// written with version 3 with the new schema cannot fill it (BACKWARD)."
    package var explanation: String
    /// What to do about it.
    package var fix: String
    /// Where the checker found it: a JSON-pointer-like location in the reading schema.
    package var location: String
    /// The checker's own message.
    package var detail: String
}

/// The result of checking a candidate schema against a subject's previous versions under a
/// Confluent compatibility level, with every problem explained.
package struct CompatibilityReport: Sendable, Hashable {
    /// The level checked.
    package var level: AvroCompatibilityLevel
    /// Every previous version (ascending).
    package var previousVersions: [Int]
    /// The versions the level checks against (the latest, or all for *_TRANSITIVE; none for NONE).
    package var checkedVersions: [Int]
    /// The problems, BACKWARD ones first, each once (grouped over versions).
    package var problems: [CompatibilityProblem]

    /// Whether the candidate may be registered under the level.
    package var isCompatible: Bool { problems.isEmpty }

    /// Checks `candidate` against `previous` (any order; sorted by version here) under `level`.
    /// - Parameter describeVersions: how explanations name a set of previous versions
    ///   (default: "version 3", "versions 1–3 and 5").
    package init(
        candidate: AvroSchema, previous: [SchemaVersion], level: AvroCompatibilityLevel,
        describeVersions: (([Int]) -> String)? = nil
    ) {
        let previous = previous.sorted { $0.version < $1.version }
        self.level = level
        self.previousVersions = previous.map(\.version)
        switch level {
        case .none: checkedVersions = []
        case .backward, .forward, .full: checkedVersions = previous.last.map { [$0.version] } ?? []
        case .backwardTransitive, .forwardTransitive, .fullTransitive: checkedVersions = previous.map(\.version)
        }
        let issues = AvroCompatibility.check(candidate: candidate, previous: previous.map(\.schema), level: level)

        struct Key: Hashable {
            var direction: CompatibilityProblem.Direction
            var kind: AvroCompatibilityIssue.Kind
            var fieldPath: String
            var message: String
        }
        var order: [Key] = []
        var grouped: [Key: (issue: AvroCompatibilityIssue, indexes: [Int])] = [:]
        for issue in issues {
            guard let index = issue.previousIndex, let issueDirection = issue.direction else { continue }
            let direction: CompatibilityProblem.Direction = issueDirection == .newReadsPrevious ? .backward : .forward
            let key = Key(direction: direction, kind: issue.kind, fieldPath: issue.fieldPath, message: issue.message)
            if grouped[key] == nil {
                order.append(key)
                grouped[key] = (issue, [index])
            } else if !grouped[key]!.indexes.contains(index) {
                grouped[key]!.indexes.append(index)
            }
        }
        var problems: [CompatibilityProblem] = []
        for key in order {
            let (issue, indexes) = grouped[key]!
            let versions = indexes.map { previous[$0].version }.sorted()
            // The most recent version involved stands for the group when looking at types.
            let old = previous[indexes.max()!].schema
            let words = Explainer(
                direction: key.direction, issue: issue, versions: versions,
                v: describeVersions?(versions) ?? CompatibilityReport.phrase(versions: versions),
                candidate: candidate, previous: old
            ).explain()
            problems.append(
                CompatibilityProblem(
                    direction: key.direction, rule: issue.kind.rawValue, field: issue.fieldPath, versions: versions,
                    explanation: words.explanation, fix: words.fix,
                    location: issue.location + (key.direction == .backward ? " of the new schema" : " of version \(versions.last!)"),
                    detail: issue.message
                )
            )
        }
        self.problems = problems.enumerated().sorted {
            ($0.element.direction == .backward ? 0 : 1, $0.offset) < ($1.element.direction == .backward ? 0 : 1, $1.offset)
        }.map(\.element)
    }

    /// The report for a terminal or a CI log.
    /// - Parameters:
    ///   - candidate: how to name the candidate (its file name).
    ///   - subject: how to name what it was checked against (`subject orders-value at URL`,
    ///     `the versions in DIR`).
    package func text(candidate: String, subject: String) -> String {
        let against = checkedVersions.isEmpty ? "" : " (checked against \(Self.phrase(versions: checkedVersions)))"
        if level == .none {
            return "\(candidate): compatibility level NONE: nothing to check against \(subject); any schema may be registered.\n"
        }
        if previousVersions.isEmpty {
            return "\(candidate): \(subject) has no previous versions, so there is nothing to break: compatible (level \(level.rawValue)).\n"
        }
        if isCompatible {
            return "\(candidate) is compatible with \(subject) at level \(level.rawValue)\(against).\n"
        }
        var out = "\(candidate) is NOT compatible with \(subject) at level \(level.rawValue)\(against): "
        out += problems.count == 1 ? "1 problem.\n" : "\(problems.count) problems.\n"
        for (number, problem) in problems.enumerated() {
            out += "\n\(number + 1). \(problem.explanation)\n"
            out += "   Fix: \(problem.fix)\n"
            out += "   Rule: \(problem.rule) at \(problem.location).\n"
        }
        return out
    }

    /// The report as JSON (`compatible`, `level`, `previousVersions`, `checkedVersions`,
    /// `problems`), for tools.
    package func json(candidate: String, subject: String) -> String {
        struct Document: Encodable {
            var candidate: String
            var against: String
            var compatible: Bool
            var level: String
            var previousVersions: [Int]
            var checkedVersions: [Int]
            var problems: [CompatibilityProblem]
        }
        let document = Document(
            candidate: candidate, against: subject, compatible: isCompatible, level: level.rawValue,
            previousVersions: previousVersions, checkedVersions: checkedVersions, problems: problems
        )
        return JSONOutput.encode(document)
    }

    /// "version 3", "versions 1 and 2", "versions 1–4 and 7".
    package static func phrase(versions: [Int]) -> String {
        let sorted = Array(Set(versions)).sorted()
        guard sorted.count > 1 else { return "version \(sorted.first.map(String.init) ?? "?")" }
        var parts: [String] = []
        var start = sorted[0]
        var end = sorted[0]
        func flush() {
            if end - start >= 2 {
                parts.append("\(start)–\(end)")
            } else {
                parts.append(String(start))
                if end != start { parts.append(String(end)) }
            }
        }
        for v in sorted.dropFirst() {
            if v == end + 1 { end = v } else { flush(); start = v; end = v }
        }
        flush()
        let list = parts.count == 1 ? parts[0] : parts.dropLast().joined(separator: ", ") + " and " + parts.last!
        return "versions \(list)"
    }
}

/// Turns one checker issue into plain words.
private struct Explainer {
    var direction: CompatibilityProblem.Direction
    var issue: AvroCompatibilityIssue
    /// The versions involved.
    var versions: [Int]
    /// The versions involved, in words ("version 3").
    var v: String
    /// The new schema.
    var candidate: AvroSchema
    /// The (most recent involved) previous version.
    var previous: AvroSchema

    var tag: String { "(\(direction.rawValue))" }
    var reader: AvroSchema { direction == .backward ? candidate : previous }
    var writer: AvroSchema { direction == .backward ? previous : candidate }

    var subject: String {
        issue.fieldPath.isEmpty ? "the top-level type" : "field `\(issue.fieldPath)`"
    }

    /// The full type at the issue's field path in the old and the new schema, when found.
    var fieldTypes: (old: String, new: String)? {
        guard let old = SchemaDescription.lookup(issue.fieldPath, in: previous),
            let new = SchemaDescription.lookup(issue.fieldPath, in: candidate)
        else { return nil }
        return (SchemaDescription.type(previous, old.node), SchemaDescription.type(candidate, new.node))
    }

    func explain() -> (explanation: String, fix: String) {
        switch issue.kind {
        case .readerFieldMissingDefaultValue: missingDefault()
        case .typeMismatch, .missingUnionBranch: typeChange()
        case .missingEnumSymbols: enumSymbols()
        case .nameMismatch: rename()
        case .fixedSizeMismatch: fixedSize()
        }
    }

    private func missingDefault() -> (explanation: String, fix: String) {
        let name = issue.fieldPath.split(separator: ".").last.map(String.init) ?? issue.fieldPath
        // Fields at the same level that the other side has and this side lacks: a rename?
        let readerParent = SchemaDescription.parentRecord(of: issue.fieldPath, in: reader)
        let writerParent = SchemaDescription.parentRecord(of: issue.fieldPath, in: writer)
        let fieldType = SchemaDescription.lookup(issue.fieldPath, in: reader).map { SchemaDescription.type(reader, $0.node) }
        // Hint at a rename only when it is unambiguous: exactly one field of this type appeared
        // and exactly one of this type disappeared at this level.
        var renameCandidates: [String] = []
        if let readerParent, let writerParent, let fieldType {
            let onlyWriter = writerParent.fields.filter { field in
                readerParent.fieldIndex[field.name] == nil && SchemaDescription.type(writer, field.type) == fieldType
            }
            let onlyReader = readerParent.fields.filter { field in
                writerParent.fieldIndex[field.name] == nil && SchemaDescription.type(reader, field.type) == fieldType
            }
            if onlyWriter.count == 1 && onlyReader.count == 1 { renameCandidates = [onlyWriter[0].name] }
        }
        switch direction {
        case .backward:
            var explanation = "\(subject) added without a default: consumers reading events written with \(v) with the new schema cannot fill it \(tag)."
            var fix = "Give it a default" + (fieldType.map { Self.exampleDefault(for: $0) } ?? ".")
            if let old = renameCandidates.first {
                explanation += " (Was `\(old)` renamed to `\(name)`?)"
                fix += " If `\(old)` was renamed, list its old name instead: \"aliases\": [\"\(old)\"]."
            }
            return (explanation, fix)
        case .forward:
            var explanation = "\(subject) removed, but \(v) \(versions.count == 1 ? "declares" : "declare") it without a default: consumers still on \(v) cannot read events written with the new schema, which lack it \(tag)."
            if let new = renameCandidates.first {
                explanation += " (Renamed to `\(new)`? Readers on \(v) match fields by their own names, so a rename removes the field for them.)"
            }
            let fix = "Keep `\(name)` in the schema (fill it with a placeholder if it is no longer needed). Removing a field is forward compatible only when every version consumers may still run gives it a default."
            return (explanation, fix)
        }
    }

    /// Suffix of "Give it a default" with an example for the type.
    private static func exampleDefault(for type: String) -> String {
        let example: String
        switch type {
        case "string", "bytes": example = "\"default\": \"\""
        case "int", "long", "float", "double": example = "\"default\": 0"
        case "boolean": example = "\"default\": false"
        case "null": example = "\"default\": null"
        default:
            if type.hasPrefix("[null") { return ": \"default\": null (null is the union's first branch)." }
            if type.hasPrefix("array<") { example = "\"default\": []" }
            else if type.hasPrefix("map<") { example = "\"default\": {}" }
            else if type.hasPrefix("[") { return ": a value of the union's first branch (put \"null\" first and use \"default\": null for an optional field)." }
            else { return " (a value of type \(type)), or make it optional: \"type\": [\"null\", …], \"default\": null." }
        }
        return ", e.g. \(example), or make it optional: \"type\": [\"null\", \"\(type)\"], \"default\": null."
    }

    private func typeChange() -> (explanation: String, fix: String) {
        // The types the checker compared (reader's, writer's).
        var readerType: String?
        var writerType: String?
        if issue.kind == .typeMismatch, let m = Self.match(#"^reader type (.+) cannot read writer type (.+)$"#, issue.message) {
            (readerType, writerType) = (m[0], m[1])
        } else if let m = Self.match(#"^the reader union \[(.*)\] has no branch that reads the writer's (.+?)(?: \(writer union branch \d+\))?$"#, issue.message) {
            (readerType, writerType) = ("[" + m[0] + "]", m[1])
        }
        let (oldCompared, newCompared) = direction == .backward ? (writerType, readerType) : (readerType, writerType)
        let types = fieldTypes
        let oldType = types?.old ?? oldCompared ?? "?"
        let newType = types?.new ?? newCompared ?? "?"
        let values = writerType.map { "`\($0)` values" } ?? "values"
        var explanation = "\(subject): type changed from `\(oldType)` (\(v)) to `\(newType)`; "
        switch direction {
        case .backward: explanation += "the new schema cannot read the \(values) in events written with \(v) \(tag)."
        case .forward: explanation += "consumers still on \(v) cannot read the \(values) the new schema writes \(tag)."
        }
        let fix: String
        if let oldCompared, let newCompared, Self.promotes(writer: oldCompared, reader: newCompared) {
            // Widening (e.g. int -> long): new readers can read old data, not the reverse.
            fix = "Avro promotes `\(oldCompared)` to `\(newCompared)` only when a new reader reads old data; consumers on \(v) cannot read `\(newCompared)`. Keep `\(oldType)`, or upgrade every consumer first and check with BACKWARD only."
        } else if let oldCompared, let newCompared, Self.promotes(writer: newCompared, reader: oldCompared) {
            fix = "Avro never narrows `\(oldCompared)` to `\(newCompared)`. Keep `\(oldType)`."
        } else if issue.kind == .missingUnionBranch, direction == .backward {
            fix = "Keep every type the old data can hold: the new union needs a branch for \(writerType.map { "`\($0)`" } ?? "it")."
        } else if issue.kind == .missingUnionBranch || newType.hasPrefix("[") {
            fix = "Keep the old type until every consumer has upgraded (then check with BACKWARD only); consumers on \(v) cannot read values of a type they do not declare."
        } else {
            fix = "Avro cannot convert `\(oldCompared ?? oldType)` to `\(newCompared ?? newType)`. Keep the type; add a new field with the new type (with a default) and stop filling the old one."
        }
        return (explanation, fix)
    }

    private func enumSymbols() -> (explanation: String, fix: String) {
        let m = Self.match(#"^reader enum (\S+) lacks writer symbols (.+) and has no default symbol$"#, issue.message)
        let name = m?[0] ?? "enum"
        let symbols = m?[1] ?? "some symbols"
        let place = issue.fieldPath.isEmpty ? "enum `\(name)`" : "enum `\(name)` (field `\(issue.fieldPath)`)"
        switch direction {
        case .backward:
            return (
                "\(place): the new schema drops symbols \(symbols), which events written with \(v) may contain, and has no default symbol \(tag).",
                "Keep the symbols, or give the new enum a \"default\" symbol that unknown symbols are read as."
            )
        case .forward:
            return (
                "\(place): the new schema adds symbols \(symbols), which consumers still on \(v) do not know; their enum has no default symbol, so they fail on any event that uses one \(tag).",
                "Do not add symbols while consumers on \(v) may read the data (upgrade them first, then check with BACKWARD only). Give the enum a \"default\" symbol now so that later additions are forward compatible."
            )
        }
    }

    private func rename() -> (explanation: String, fix: String) {
        let m = Self.match(#"^reader (.+) does not match the writer's (.+) by name or alias$"#, issue.message)
        let (oldName, newName) = direction == .backward ? (m?[1] ?? "?", m?[0] ?? "?") : (m?[0] ?? "?", m?[1] ?? "?")
        let place = issue.fieldPath.isEmpty ? "the top-level type" : "the type of field `\(issue.fieldPath)`"
        let oldFullName = oldName.split(separator: " ").last.map(String.init) ?? oldName
        switch direction {
        case .backward:
            return (
                "\(place) renamed from `\(oldName)` (\(v)) to `\(newName)`: the new schema does not recognise data written with \(v) under the old name \(tag).",
                "Keep the name, or add \"aliases\": [\"\(oldFullName)\"] to the renamed type."
            )
        case .forward:
            return (
                "\(place) renamed from `\(oldName)` (\(v)) to `\(newName)`: consumers still on \(v) look for `\(oldFullName)` and cannot read the new events \(tag).",
                "Keep the name `\(oldFullName)`: aliases in the new schema do not help readers on \(v)."
            )
        }
    }

    private func fixedSize() -> (explanation: String, fix: String) {
        let m = Self.match(#"^reader fixed (\S+) has size (\d+) but the writer's (\S+) has size (\d+)$"#, issue.message)
        let (oldSize, newSize) = direction == .backward ? (m?[3] ?? "?", m?[1] ?? "?") : (m?[1] ?? "?", m?[3] ?? "?")
        return (
            "\(subject): fixed `\(m?[0] ?? "?")` changed size from \(oldSize) (\(v)) to \(newSize) bytes; a fixed value of one size cannot be read as another \(tag).",
            "Keep the size; add a new field with the new fixed type (with a default) and stop filling the old one."
        )
    }

    private static func promotes(writer: String, reader: String) -> Bool {
        let allowed: Set<String> = ["int>long", "int>float", "int>double", "long>float", "long>double", "float>double", "string>bytes", "bytes>string"]
        return allowed.contains("\(writer)>\(reader)")
    }

    private static func match(_ pattern: String, _ text: String) -> [String]? {
        guard let regex = try? NSRegularExpression(pattern: pattern),
            let m = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text))
        else { return nil }
        return (1..<m.numberOfRanges).map { i in
            Range(m.range(at: i), in: text).map { String(text[$0]) } ?? ""
        }
    }
}

/// Pretty, stable JSON for the tools' `--format json`.
enum JSONOutput {
    static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
