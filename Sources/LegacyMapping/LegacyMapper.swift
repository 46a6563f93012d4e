package import AuditEvents
import AvroCodec
import Crypto

/// Where a legacy record was read from Kafka; the `position` event-id derivation hashes it.
package struct LegacySourcePosition: Sendable, Hashable {
    package var topic: String
    package var partition: Int32
    package var offset: Int64

    package init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// What the mapper knows about one legacy event besides its JSON.
package struct LegacyRecordContext: Sendable {
    /// The event's own bytes as received (the array element or NDJSON line, without surrounding
    /// whitespace); the `content_hash` event-id derivation hashes them.
    package var rawBytes: [UInt8]
    /// The Kafka position of the record that carried the event; nil on the HTTP intake.
    package var position: LegacySourcePosition?
    /// The event's index inside its record or request (0 for a single object).
    package var itemIndex: Int
    /// When the record was received (HTTP request time or Kafka record timestamp), ms since epoch.
    package var receivedAtMilliseconds: Int64
    /// The current time, ms since epoch, for the validator's future-timestamp rule.
    package var nowMilliseconds: Int64

    package init(rawBytes: [UInt8], position: LegacySourcePosition? = nil, itemIndex: Int = 0, receivedAtMilliseconds: Int64, nowMilliseconds: Int64) {
        self.rawBytes = rawBytes
        self.position = position
        self.itemIndex = itemIndex
        self.receivedAtMilliseconds = receivedAtMilliseconds
        self.nowMilliseconds = nowMilliseconds
    }
}

/// The step at which a legacy event was refused.
package enum LegacyStage: String, Sendable, Hashable, CaseIterable {
    /// The bytes are not a JSON object (syntax, UTF-8, size, depth).
    case parse
    /// The mapping rules could not produce a field (missing, wrong type, unknown value, bad timestamp).
    case map
    /// The mapped event breaks `EventValidator`'s rules (the same as Ingest's).
    case validate
    /// Ingest refused the mapped event (the registered schema); set by the caller from
    /// `IngestOutcome.invalid`.
    case ingest
}

/// Why a legacy event was refused: every reason found, as field + rule + description. The caller
/// keeps the original bytes (they go to the quarantine topic with these reasons).
package struct LegacyRejection: Error, Sendable, Hashable {
    package var stage: LegacyStage
    package var reasons: [FieldViolation]

    package init(stage: LegacyStage, reasons: [FieldViolation]) {
        self.stage = stage
        self.reasons = reasons
    }
}

/// Maps legacy JSON objects of one source to canonical events, then validates them with the same
/// `EventValidator` rules Ingest applies. Pure and `Sendable`: share one per source.
package struct LegacyMapper: Sendable {
    package let rules: LegacySourceRules
    package let validator: EventValidator

    package init(rules: LegacySourceRules, validator: EventValidator = EventValidator()) {
        self.rules = rules
        self.validator = validator
    }

    /// The canonical event of `value`, or every reason it cannot be one. Mapping problems and
    /// validation problems are reported together, so an owner sees all of them at once.
    package func map(_ value: LegacyJSON, context: LegacyRecordContext) -> Result<AuditEvent, LegacyRejection> {
        guard case .object = value else {
            return .failure(LegacyRejection(stage: .parse, reasons: [
                FieldViolation(field: "event", rule: "not_object", description: "each legacy event must be a JSON object; got \(value.kindName)")
            ]))
        }
        var state = MappingState(root: value)

        // event_id
        var eventID = ""
        switch rules.eventID {
        case .path(let paths, let prefix):
            switch state.text(at: paths, field: "event_id") {
            case .found(let text): eventID = prefix + text
            case .missing: state.fail("event_id", "required", "event_id comes from \(Self.describe(paths)), which is absent, null or empty; the record must carry its id there")
            case .failed: break
            }
        case .position:
            if let position = context.position {
                eventID = Self.derivedID(source: rules.name, parts: [
                    Array("position".utf8), Array(position.topic.utf8), Array(String(position.partition).utf8),
                    Array(String(position.offset).utf8), Array(String(context.itemIndex).utf8),
                ])
            } else {
                state.fail("event_id", "position", "this source derives event_id from the Kafka position (event_id.derive: position), and events that arrive over HTTP have none; send them through the Kafka bridge or change the rule to `path` or `derive: content_hash`")
            }
        case .contentHash:
            eventID = Self.derivedID(source: rules.name, parts: [Array("content".utf8), context.rawBytes])
        }

        // Text fields.
        var values: [LegacyCanonicalField: String] = [:]
        for field in LegacyCanonicalField.allCases {  // a fixed order keeps the reasons' order stable
            guard let rule = rules.fields[field] else { continue }
            if let text = state.evaluate(rule, field: field.rawValue) { values[field] = text }
        }
        for map in rules.valueMaps {
            let selected: String?
            switch state.text(at: map.paths, field: map.targets[0].rawValue, reportFor: map.targets.map(\.rawValue)) {
            case .found(let key): selected = key
            case .missing: selected = nil
            case .failed: continue
            }
            if let key = selected, let fields = map.cases[key] {
                values.merge(fields) { _, new in new }
            } else if let fields = map.defaultCase {
                values.merge(fields) { _, new in new }
            } else {
                let known = map.cases.keys.sorted(by: utf8Less).prefix(10).map { LegacyJSONWriter.string($0) }.joined(separator: ", ")
                let sets = map.targets.map(\.rawValue).joined(separator: " and ")
                for target in map.targets {
                    if let key = selected {
                        state.fail(target.rawValue, "value_map", "value \(LegacyJSONWriter.string(String(key.prefix(80)))) of \(Self.describe(map.paths)) has no case in the value map that sets \(sets) (known: \(known)), and the map has no default; add a case to the rules or fix the producer")
                    } else {
                        state.fail(target.rawValue, "required", "\(target.rawValue) is chosen by \(Self.describe(map.paths)), which is absent, null or empty, and the value map that sets \(sets) has no default")
                    }
                }
            }
        }

        // Timestamp.
        var timestamp: Int64 = 0
        switch state.resolveFirst(rules.timestamp.paths) {
        case nil:
            if rules.timestamp.useReceivedTimeWhenMissing {
                timestamp = context.receivedAtMilliseconds
            } else {
                state.fail("timestamp_ms", "required", "the timestamp comes from \(Self.describe(rules.timestamp.paths)), which is absent, null or empty; the rule does not allow the received time instead")
            }
        case (let raw, let path)?:
            switch LegacyTimestamp.parse(raw, format: rules.timestamp.format, assumeOffsetSeconds: rules.timestamp.assumeOffsetSeconds) {
            case .success(let ms): timestamp = ms
            case .failure(let error): state.fail("timestamp_ms", "timestamp_format", "`\(path)`: \(error.message)")
            }
        }

        // Metadata: copied fields first, explicit entries win.
        // (The explicit entries are evaluated first so that the paths they read are not copied.)
        var explicit: [String: String] = [:]
        for key in rules.metadata.set.keys.sorted(by: utf8Less) {
            let rule = rules.metadata.set[key]!
            if let text = state.evaluateMetadata(rule, key: key) { explicit[key] = text }
        }
        var metadata: [String: String] = [:]
        if rules.metadata.unmapped != .none {
            metadata = state.unmappedLeaves(unmapped: rules.metadata.unmapped, exclude: rules.metadata.exclude)
        }
        metadata.merge(explicit) { _, new in new }

        let event = AuditEvent(
            eventID: eventID,
            tenantID: values[.tenantID] ?? "",
            actorID: values[.actorID] ?? "",
            eventType: values[.eventType] ?? "",
            resource: values[.resource] ?? "",
            action: values[.action] ?? "",
            timestampMilliseconds: timestamp,
            metadata: metadata
        )
        let validation = validator.violations(of: event, nowMilliseconds: context.nowMilliseconds)
            .filter { !state.failedFields.contains($0.field) }
        guard state.reasons.isEmpty, validation.isEmpty else {
            return .failure(LegacyRejection(stage: state.reasons.isEmpty ? .validate : .map, reasons: state.reasons + validation))
        }
        return .success(event)
    }

    static func describe(_ paths: [LegacyPath]) -> String {
        paths.map { "`\($0)`" }.joined(separator: " or ")
    }

    /// `<source>:` + hex SHA-256 over a domain tag and length-prefixed parts.
    static func derivedID(source: String, parts: [[UInt8]]) -> String {
        var hasher = SHA256()
        hasher.update(data: Array("auditpipe.legacy.event_id.v1".utf8))
        for part in [Array(source.utf8)] + parts {
            var length = UInt64(part.count).bigEndian
            withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
            hasher.update(data: part)
        }
        let digest = hasher.finalize()
        let hexDigits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in digest {
            hex.append(hexDigits[Int(byte >> 4)])
            hex.append(hexDigits[Int(byte & 0x0F)])
        }
        return source + ":" + String(decoding: hex, as: UTF8.self)
    }
}

/// The per-event working state: reasons found, fields that failed, input paths the rules used.
private struct MappingState {
    let root: LegacyJSON
    var reasons: [FieldViolation] = []
    var failedFields: Set<String> = []
    /// Concrete paths some rule read (or tried to read); they are not copied into metadata.
    var consumed: [LegacyPath] = []

    init(root: LegacyJSON) { self.root = root }

    enum Lookup {
        case found(String)
        case missing
        case failed
    }

    mutating func fail(_ field: String, _ rule: String, _ description: String) {
        failedFields.insert(field)
        reasons.append(FieldViolation(field: field, rule: rule, description: description))
    }

    /// The first present value among `paths` (absent, null and "" are not present); every
    /// path that exists counts as consumed.
    mutating func resolveFirst(_ paths: [LegacyPath]) -> (LegacyJSON, LegacyPath)? {
        var first: (LegacyJSON, LegacyPath)?
        for path in paths {
            guard let (value, concrete) = path.resolve(in: root) else { continue }
            consumed.append(concrete)
            if first == nil {
                switch value {
                case .null: continue
                case .string(let s) where s.isEmpty: continue
                default: first = (value, concrete)
                }
            }
        }
        return first
    }

    /// The text of the first present value: a string as it is, an integer as written; anything
    /// else is a `type` reason for `field` (and for `reportFor`, when a value map sets several).
    mutating func text(at paths: [LegacyPath], field: String, reportFor: [String]? = nil) -> Lookup {
        guard let (value, path) = resolveFirst(paths) else { return .missing }
        switch value {
        case .string(let s): return .found(s)
        case .number(let literal) where LegacyJSON.isIntegerLiteral(literal): return .found(literal)
        case .bool(let b) where reportFor != nil: return .found(b ? "true" : "false")
        default:
            for name in reportFor ?? [field] {
                fail(name, "type", "\(name) comes from `\(path)`, which is \(value.kindName); expected a string or an integer")
            }
            return .failed
        }
    }

    /// Applies a field rule; nil when it failed (the reason is recorded).
    mutating func evaluate(_ rule: LegacyValueRule, field: String) -> String? {
        let raw: String
        switch rule.origin {
        case .constant(let value):
            return value
        case .paths(let paths):
            switch text(at: paths, field: field) {
            case .found(let text): raw = text
            case .failed: return nil
            case .missing:
                if let fallback = rule.defaultValue { return fallback }
                fail(field, "required", "\(field) comes from \(LegacyMapper.describe(paths)), which is absent, null or empty, and the rule has no default")
                return nil
            }
        }
        guard let map = rule.valueMap else { return raw }
        if let mapped = map[raw] { return mapped }
        if rule.keepUnknownValues { return raw }
        let known = map.keys.sorted(by: utf8Less).prefix(10).map { LegacyJSONWriter.string($0) }.joined(separator: ", ")
        fail(field, "value_map", "value \(LegacyJSONWriter.string(String(raw.prefix(80)))) is not in the value map of \(field) (known: \(known)); add it to the rules, set `unknown_values: keep`, or fix the producer")
        return nil
    }

    /// Applies a metadata `set` rule: absent values are simply left out; any JSON value is
    /// stringified (objects and arrays as compact JSON).
    mutating func evaluateMetadata(_ rule: LegacyValueRule, key: String) -> String? {
        let raw: String
        switch rule.origin {
        case .constant(let value): return value
        case .paths(let paths):
            guard let (value, _) = resolveFirst(paths), let text = Self.metadataText(value) else { return rule.defaultValue }
            raw = text
        }
        guard let map = rule.valueMap else { return raw }
        if let mapped = map[raw] { return mapped }
        if rule.keepUnknownValues { return raw }
        fail("metadata[\"\(key.prefix(64))\"]", "value_map", "value \(LegacyJSONWriter.string(String(raw.prefix(80)))) is not in the value map of metadata key \(key); add it to the rules or set `unknown_values: keep`")
        return nil
    }

    /// Strings as they are, numbers as written, booleans as true/false, objects and arrays as
    /// compact canonical JSON; null is left out.
    static func metadataText(_ value: LegacyJSON) -> String? {
        switch value {
        case .null: nil
        case .bool(let b): b ? "true" : "false"
        case .number(let literal): literal
        case .string(let s): s
        case .array, .object: value.canonicalText
        }
    }

    /// The input's leaves that no rule used, keyed by path.
    func unmappedLeaves(unmapped: LegacyMetadataRule.Unmapped, exclude: [LegacyPath]) -> [String: String] {
        let excluded = exclude.compactMap { $0.resolve(in: root)?.concrete }
        var listed: [LegacyPath]?
        if case .listed(let paths) = unmapped {
            listed = paths.compactMap { $0.resolve(in: root)?.concrete }
        }
        // Arrays are copied whole unless some path looks inside them.
        let lookInside = consumed + excluded + (listed ?? [])
        var out: [String: String] = [:]
        func visit(_ value: LegacyJSON, _ path: LegacyPath) {
            if consumed.contains(where: { path.hasPrefix($0) }) || excluded.contains(where: { path.hasPrefix($0) }) { return }
            if let listed, !listed.contains(where: { path.hasPrefix($0) || $0.hasPrefix(path) }) { return }
            switch value {
            case .object(let object) where !object.keys.isEmpty:
                for key in object.keys { visit(object[key]!, path.appending(.key(key))) }
            case .array(let items) where lookInside.contains(where: { $0.hasPrefix(path) && $0 != path }):
                for (i, item) in items.enumerated() { visit(item, path.appending(.index(i))) }
            default:
                if path.components.isEmpty { return }
                if let listed, !listed.contains(where: { path.hasPrefix($0) }) { return }
                if let text = Self.metadataText(value) { out[path.description] = text }
            }
        }
        visit(root, LegacyPath([]))
        return out
    }
}
