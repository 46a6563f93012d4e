import Foundation
import Yams

extension LegacyRuleSet {
    /// The longest source name: keeps derived event ids (`<source>:` + 64 hex digits) within the
    /// 128-byte id limit.
    package static let maxSourceNameLength = 48

    /// Reads and validates the rule file at `path`.
    package static func load(contentsOfFile path: String) throws(LegacyRulesError) -> LegacyRuleSet {
        let name = (path as NSString).lastPathComponent
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LegacyRulesError(problems: [.init(location: path, source: nil, key: "", message: "cannot read the rule file; check the path and its permissions")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw LegacyRulesError(problems: [.init(location: name, source: nil, key: "", message: "the rule file is not valid UTF-8")])
        }
        return try parse(yaml: text, fileName: name)
    }

    /// Parses and validates rule-file text. Every problem is reported, not only the first.
    package static func parse(yaml: String, fileName: String = "legacy-rules.yaml") throws(LegacyRulesError) -> LegacyRuleSet {
        var reader = RulesReader(fileName: fileName)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw LegacyRulesError(problems: [.init(location: fileName, source: nil, key: "", message: "not valid YAML: \(Self.describe(error))")])
        } catch {
            throw LegacyRulesError(problems: [.init(location: fileName, source: nil, key: "", message: "not valid YAML: \(error)")])
        }
        guard let root else {
            throw LegacyRulesError(problems: [.init(location: fileName, source: nil, key: "", message: "the file is empty; it needs `version: 1` and `sources:`")])
        }
        let set = reader.readRoot(root)
        guard reader.problems.isEmpty, let set else { throw LegacyRulesError(problems: reader.problems) }
        return set
    }

    private static func describe(_ error: YamlError) -> String {
        // YamlError's description repeats the whole document; keep the first line.
        String(String(describing: error).split(separator: "\n").first ?? "")
    }
}

/// Walks the YAML tree, collecting problems with their file position and key path.
private struct RulesReader {
    let fileName: String
    var problems: [LegacyRulesProblem] = []
    var currentSource: String?

    init(fileName: String) { self.fileName = fileName }

    mutating func problem(_ node: Node?, _ key: String, _ message: String) {
        let location = node?.mark.map { "\(fileName):\($0.line):\($0.column)" } ?? fileName
        problems.append(.init(location: location, source: currentSource, key: key, message: message))
    }

    typealias Entry = (key: String, keyNode: Node, value: Node)

    mutating func mapping(_ node: Node, _ key: String, allowed: [String]) -> [String: Entry]? {
        guard case .mapping(let mapping) = node else {
            problem(node, key, "expected a mapping with keys \(allowed.map { "`\($0)`" }.joined(separator: ", "))")
            return nil
        }
        var entries: [String: Entry] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                problem(keyNode, key, "keys must be plain text")
                continue
            }
            let name = scalar.string
            guard allowed.contains(name) else {
                problem(keyNode, key.isEmpty ? name : "\(key).\(name)", "unknown key; expected one of \(allowed.map { "`\($0)`" }.joined(separator: ", "))")
                continue
            }
            entries[name] = (name, keyNode, value)
        }
        return entries
    }

    /// Entries of a mapping whose keys are data (value-map cases, metadata keys).
    mutating func dataMapping(_ node: Node, _ key: String) -> [(key: String, keyNode: Node, value: Node)]? {
        guard case .mapping(let mapping) = node else {
            problem(node, key, "expected a mapping")
            return nil
        }
        var entries: [(key: String, keyNode: Node, value: Node)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                problem(keyNode, key, "keys must be plain text")
                continue
            }
            entries.append((scalar.string, keyNode, value))
        }
        return entries
    }

    mutating func string(_ node: Node, _ key: String) -> String? {
        guard case .scalar(let scalar) = node else {
            problem(node, key, "expected a single value (text), not a list or mapping")
            return nil
        }
        if scalar.style == .plain || scalar.style == .any, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
            problem(node, key, "is empty (null); write a value, quoted if it is text such as \"null\"")
            return nil
        }
        return scalar.string
    }

    mutating func paths(_ node: Node, _ key: String) -> [LegacyPath]? {
        var texts: [(String, Node)] = []
        if case .sequence(let sequence) = node {
            for (i, item) in sequence.enumerated() {
                guard let text = string(item, "\(key)[\(i)]") else { return nil }
                texts.append((text, item))
            }
            guard !texts.isEmpty else {
                problem(node, key, "the list of paths is empty")
                return nil
            }
        } else {
            guard let text = string(node, key) else { return nil }
            texts.append((text, node))
        }
        var result: [LegacyPath] = []
        for (text, item) in texts {
            do throws(LegacyPathError) {
                result.append(try LegacyPath(parsing: text))
            } catch {
                problem(item, key, error.description)
                return nil
            }
        }
        return result
    }

    // MARK: Root and sources

    mutating func readRoot(_ root: Node) -> LegacyRuleSet? {
        guard let entries = mapping(root, "", allowed: ["version", "sources"]) else { return nil }
        if let version = entries["version"] {
            if string(version.value, "version") != "1" {
                problem(version.value, "version", "unsupported version; this AuditPipe reads version 1")
            }
        } else {
            problem(root, "version", "missing; write `version: 1` at the top")
        }
        guard let sourcesEntry = entries["sources"] else {
            problem(root, "sources", "missing; list the legacy sources under `sources:`")
            return nil
        }
        guard case .sequence(let sequence) = sourcesEntry.value else {
            problem(sourcesEntry.value, "sources", "expected a list of sources (each item starting with `- name:`)")
            return nil
        }
        var sources: [LegacySourceRules] = []
        var seen: Set<String> = []
        for (i, node) in sequence.enumerated() {
            currentSource = nil
            if let source = readSource(node, "sources[\(i)]") {
                if !seen.insert(source.name).inserted {
                    problem(node, "sources[\(i)].name", "source `\(source.name)` is defined twice")
                }
                sources.append(source)
            }
        }
        currentSource = nil
        if sequence.isEmpty { problem(sourcesEntry.value, "sources", "no sources are defined") }
        return LegacyRuleSet(sources: sources)
    }

    mutating func readSource(_ node: Node, _ key: String) -> LegacySourceRules? {
        let allowed = ["name", "description", "tenant", "event_id", "timestamp", "fields", "value_maps", "metadata"]
        if case .mapping(let mapping) = node, case .scalar(let name)? = mapping["name"] {
            currentSource = name.string  // so that every problem of this source names it
        }
        guard let entries = mapping(node, key, allowed: allowed) else { return nil }
        guard let nameEntry = entries["name"], let name = string(nameEntry.value, "\(key).name") else {
            if entries["name"] == nil { problem(node, "\(key).name", "missing; every source needs a `name`") }
            return nil
        }
        currentSource = name
        let nameOK = !name.isEmpty && name.count <= LegacyRuleSet.maxSourceNameLength
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == "." }
        if !nameOK {
            problem(nameEntry.value, "\(key).name", "use 1 to \(LegacyRuleSet.maxSourceNameLength) characters of a-z, 0-9, '-', '_' and '.' (it appears in URLs, metric labels and event ids)")
        }
        let before = problems.count
        var description: String?
        if let entry = entries["description"] { description = string(entry.value, "\(key).description") }

        var fields: [LegacyCanonicalField: LegacyValueRule] = [:]
        if let tenant = entries["tenant"] {
            if let rule = readValueRule(tenant.value, "\(key).tenant") { fields[.tenantID] = rule }
        } else {
            problem(node, "\(key).tenant", "missing; give `tenant: {path: ..., default: ...}` or `tenant: {constant: ...}`")
        }
        var eventID: LegacyEventIDRule?
        if let entry = entries["event_id"] { eventID = readEventID(entry.value, "\(key).event_id", source: name) }
        if entries["event_id"] == nil {
            problem(node, "\(key).event_id", "missing; give `event_id: {path: ...}`, `{derive: position}` or `{derive: content_hash}`")
        }
        var timestamp: LegacyTimestampRule?
        if let entry = entries["timestamp"] { timestamp = readTimestamp(entry.value, "\(key).timestamp") }
        if entries["timestamp"] == nil {
            problem(node, "\(key).timestamp", "missing; give `timestamp: {path: ..., format: ...}`")
        }
        if let fieldsEntry = entries["fields"] {
            let names = LegacyCanonicalField.allCases.filter { $0 != .tenantID }.map(\.rawValue)
            if let fieldEntries = mapping(fieldsEntry.value, "\(key).fields", allowed: names) {
                for fieldName in names {
                    guard let entry = fieldEntries[fieldName] else { continue }
                    if let rule = readValueRule(entry.value, "\(key).fields.\(fieldName)") {
                        fields[LegacyCanonicalField(rawValue: fieldName)!] = rule
                    }
                }
            }
        }
        var valueMaps: [LegacyValueMapRule] = []
        if let mapsEntry = entries["value_maps"] {
            if case .sequence(let sequence) = mapsEntry.value {
                for (i, item) in sequence.enumerated() {
                    if let map = readValueMap(item, "\(key).value_maps[\(i)]") {
                        for target in map.targets {
                            if fields[target] != nil {
                                problem(item, "\(key).value_maps[\(i)]", "`\(target.rawValue)` is set both here and by \(target == .tenantID ? "`tenant`" : "`fields.\(target.rawValue)`"); keep one")
                            } else if let other = valueMaps.firstIndex(where: { $0.targets.contains(target) }) {
                                problem(item, "\(key).value_maps[\(i)]", "`\(target.rawValue)` is also set by value_maps[\(other)]; keep one")
                            }
                        }
                        valueMaps.append(map)
                    }
                }
            } else {
                problem(mapsEntry.value, "\(key).value_maps", "expected a list of value maps")
            }
        }
        if problems.count == before {
            for field in LegacyCanonicalField.allCases where field != .tenantID {
                if fields[field] == nil, !valueMaps.contains(where: { $0.targets.contains(field) }) {
                    problem(node, "\(key).fields.\(field.rawValue)", "no rule sets `\(field.rawValue)`; add `fields.\(field.rawValue)` (a path or a constant) or a value map that sets it")
                }
            }
        }
        var metadata: LegacyMetadataRule?
        if let metadataEntry = entries["metadata"] {
            metadata = readMetadata(metadataEntry.value, "\(key).metadata")
        } else {
            problem(node, "\(key).metadata", "missing; say at least which unmapped input fields are kept: `metadata: {unmapped: all}` (or `none`, or a list of paths)")
        }
        guard problems.count == before, let eventID, let timestamp, let metadata else { return nil }
        return LegacySourceRules(
            name: name, description: description, eventID: eventID, timestamp: timestamp,
            fields: fields, valueMaps: valueMaps, metadata: metadata
        )
    }

    // MARK: Value rules

    mutating func readValueRule(_ node: Node, _ key: String) -> LegacyValueRule? {
        guard let entries = mapping(node, key, allowed: ["path", "constant", "default", "map", "unknown_values"]) else { return nil }
        let before = problems.count
        var origin: LegacyValueRule.Origin?
        switch (entries["path"], entries["constant"]) {
        case (let path?, nil):
            if let paths = paths(path.value, "\(key).path") { origin = .paths(paths) }
        case (nil, let constant?):
            if let value = string(constant.value, "\(key).constant") { origin = .constant(value) }
            for other in ["default", "map", "unknown_values"] where entries[other] != nil {
                problem(entries[other]!.keyNode, "\(key).\(other)", "has no effect with `constant`; remove it")
            }
        case (.some, .some):
            problem(node, key, "give either `path` or `constant`, not both")
        case (nil, nil):
            problem(node, key, "give `path` (where the value is in the input) or `constant`")
        }
        var defaultValue: String?
        if let entry = entries["default"] { defaultValue = string(entry.value, "\(key).default") }
        var valueMap: [String: String]?
        if let mapEntry = entries["map"], let pairs = dataMapping(mapEntry.value, "\(key).map") {
            var map: [String: String] = [:]
            for pair in pairs {
                if let value = string(pair.value, "\(key).map.\(pair.key)") { map[pair.key] = value }
            }
            if pairs.isEmpty { problem(mapEntry.value, "\(key).map", "the map is empty") }
            valueMap = map
        }
        var keepUnknown = false
        if let unknown = entries["unknown_values"] {
            switch string(unknown.value, "\(key).unknown_values") {
            case "keep": keepUnknown = true
            case "reject": keepUnknown = false
            case nil: break
            case let other?: problem(unknown.value, "\(key).unknown_values", "unknown value `\(other)`; use `reject` (the default) or `keep`")
            }
            if entries["map"] == nil { problem(unknown.keyNode, "\(key).unknown_values", "only makes sense with `map`") }
        }
        guard problems.count == before, let origin else { return nil }
        return LegacyValueRule(origin: origin, defaultValue: defaultValue, valueMap: valueMap, keepUnknownValues: keepUnknown)
    }

    mutating func readEventID(_ node: Node, _ key: String, source: String) -> LegacyEventIDRule? {
        guard let entries = mapping(node, key, allowed: ["path", "derive", "prefix"]) else { return nil }
        switch (entries["path"], entries["derive"]) {
        case (let path?, nil):
            guard let paths = paths(path.value, "\(key).path") else { return nil }
            var prefix = "\(source):"
            if let prefixEntry = entries["prefix"] {
                guard case .scalar(let scalar) = prefixEntry.value else {
                    problem(prefixEntry.value, "\(key).prefix", "expected text (\"\" for none)")
                    return nil
                }
                prefix = scalar.string
            }
            return .path(paths, prefix: prefix)
        case (nil, let derive?):
            if let prefix = entries["prefix"] {
                problem(prefix.keyNode, "\(key).prefix", "only applies with `path`; derived ids always start with `\(source):`")
            }
            switch string(derive.value, "\(key).derive") {
            case "position": return .position
            case "content_hash": return .contentHash
            case nil: return nil
            case let other?:
                problem(derive.value, "\(key).derive", "unknown derivation `\(other)`; use `position` (Kafka topic/partition/offset) or `content_hash` (SHA-256 of the record's bytes)")
                return nil
            }
        case (.some, .some):
            problem(node, key, "give either `path` or `derive`, not both")
            return nil
        case (nil, nil):
            problem(node, key, "give `path` (the record's own id) or `derive: position` / `derive: content_hash`")
            return nil
        }
    }

    mutating func readTimestamp(_ node: Node, _ key: String) -> LegacyTimestampRule? {
        guard let entries = mapping(node, key, allowed: ["path", "format", "assume_zone", "missing"]) else { return nil }
        let before = problems.count
        var paths: [LegacyPath]?
        if let entry = entries["path"] { paths = self.paths(entry.value, "\(key).path") }
        if entries["path"] == nil { problem(node, "\(key).path", "missing; where is the timestamp in the input?") }
        var format: LegacyTimestampFormat?
        if let formatEntry = entries["format"], let text = string(formatEntry.value, "\(key).format") {
            format = LegacyTimestampFormat(rawValue: text)
            if format == nil {
                problem(formatEntry.value, "\(key).format", "unknown timestamp format `\(text)`; use one of \(LegacyTimestampFormat.allCases.map { "`\($0.rawValue)`" }.joined(separator: ", "))")
            }
        } else if entries["format"] == nil {
            problem(node, "\(key).format", "missing; use one of \(LegacyTimestampFormat.allCases.map { "`\($0.rawValue)`" }.joined(separator: ", "))")
        }
        var offset = 0
        if let zone = entries["assume_zone"], let text = string(zone.value, "\(key).assume_zone") {
            if let parsed = LegacyTimestamp.parseFixedOffset(text) {
                offset = parsed
            } else {
                problem(zone.value, "\(key).assume_zone", "`\(text)` is not `UTC` or a fixed offset like `+02:00`; named zones with daylight saving are not accepted because their local times are ambiguous once a year")
            }
            if let format, format != .iso8601 {
                problem(zone.keyNode, "\(key).assume_zone", "only applies to `iso8601` (the other formats carry their zone or are UTC)")
            }
        }
        var useReceived = false
        if let missing = entries["missing"] {
            switch string(missing.value, "\(key).missing") {
            case "reject": useReceived = false
            case "received_time": useReceived = true
            case nil: break
            case let other?: problem(missing.value, "\(key).missing", "unknown value `\(other)`; use `reject` (the default) or `received_time`")
            }
        }
        guard problems.count == before, let paths, let format else { return nil }
        return LegacyTimestampRule(paths: paths, format: format, assumeOffsetSeconds: offset, useReceivedTimeWhenMissing: useReceived)
    }

    mutating func readTargets(_ node: Node, _ key: String) -> [LegacyCanonicalField: String]? {
        let names = LegacyCanonicalField.allCases.filter { $0 != .tenantID }.map(\.rawValue)
        guard let entries = mapping(node, key, allowed: names) else { return nil }
        var result: [LegacyCanonicalField: String] = [:]
        for name in names {
            guard let entry = entries[name] else { continue }
            guard let value = string(entry.value, "\(key).\(name)") else { return nil }
            result[LegacyCanonicalField(rawValue: name)!] = value
        }
        if entries.isEmpty {
            problem(node, key, "sets no field; name at least one of \(names.map { "`\($0)`" }.joined(separator: ", "))")
            return nil
        }
        return result
    }

    mutating func readValueMap(_ node: Node, _ key: String) -> LegacyValueMapRule? {
        guard let entries = mapping(node, key, allowed: ["path", "cases", "default"]) else { return nil }
        let before = problems.count
        var paths: [LegacyPath]?
        if let entry = entries["path"] { paths = self.paths(entry.value, "\(key).path") }
        if entries["path"] == nil { problem(node, "\(key).path", "missing; which input field selects the case?") }
        var cases: [String: [LegacyCanonicalField: String]] = [:]
        var targets: Set<LegacyCanonicalField>?
        if let casesEntry = entries["cases"], let pairs = dataMapping(casesEntry.value, "\(key).cases") {
            for pair in pairs {
                guard let fields = readTargets(pair.value, "\(key).cases.\(pair.key)") else { continue }
                if let targets, Set(fields.keys) != targets {
                    problem(pair.value, "\(key).cases.\(pair.key)", "sets \(fields.keys.sorted().map(\.rawValue).joined(separator: ", ")) but the other cases set \(targets.sorted().map(\.rawValue).joined(separator: ", ")); every case must set the same fields")
                }
                targets = targets ?? Set(fields.keys)
                cases[pair.key] = fields
            }
            if pairs.isEmpty { problem(casesEntry.value, "\(key).cases", "no cases") }
        } else if entries["cases"] == nil {
            problem(node, "\(key).cases", "missing; map each input value to the fields it sets")
        }
        var defaultCase: [LegacyCanonicalField: String]?
        if let defaultEntry = entries["default"] {
            defaultCase = readTargets(defaultEntry.value, "\(key).default")
            if let defaultCase, let targets, Set(defaultCase.keys) != targets {
                problem(defaultEntry.value, "\(key).default", "must set the same fields as the cases (\(targets.sorted().map(\.rawValue).joined(separator: ", ")))")
            }
        }
        guard problems.count == before, let paths, let targets else { return nil }
        return LegacyValueMapRule(paths: paths, cases: cases, defaultCase: defaultCase, targets: targets.sorted())
    }

    mutating func readMetadata(_ node: Node, _ key: String) -> LegacyMetadataRule? {
        guard let entries = mapping(node, key, allowed: ["unmapped", "exclude", "set"]) else { return nil }
        let before = problems.count
        var unmapped: LegacyMetadataRule.Unmapped?
        if let entry = entries["unmapped"] {
            if case .sequence = entry.value {
                if let paths = paths(entry.value, "\(key).unmapped") { unmapped = .listed(paths) }
            } else {
                switch string(entry.value, "\(key).unmapped") {
                case "all": unmapped = .all
                case "none": unmapped = LegacyMetadataRule.Unmapped.none
                case nil: break
                case let other?: problem(entry.value, "\(key).unmapped", "unknown value `\(other)`; use `all`, `none` or a list of paths")
                }
            }
        } else {
            problem(node, "\(key).unmapped", "missing; say which unmapped input fields are kept: `all`, `none` or a list of paths")
        }
        var exclude: [LegacyPath] = []
        if let entry = entries["exclude"] {
            exclude = paths(entry.value, "\(key).exclude") ?? []
        }
        var set: [String: LegacyValueRule] = [:]
        if let entry = entries["set"], let pairs = dataMapping(entry.value, "\(key).set") {
            for pair in pairs {
                if pair.key.isEmpty || pair.key.utf8.count > 128 {
                    problem(pair.keyNode, "\(key).set", "metadata keys must be 1 to 128 bytes")
                }
                if let rule = readValueRule(pair.value, "\(key).set.\(pair.key)") { set[pair.key] = rule }
            }
        }
        guard problems.count == before, let unmapped else { return nil }
        return LegacyMetadataRule(unmapped: unmapped, exclude: exclude, set: set)
    }
}
