/// The canonical text fields a rule can set (the timestamp and event id have their own rules).
package enum LegacyCanonicalField: String, Sendable, Hashable, CaseIterable, Comparable {
    case tenantID = "tenant_id"
    case actorID = "actor_id"
    case eventType = "event_type"
    case resource
    case action

    package static func < (a: Self, b: Self) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// How one text value is obtained: from a path (the first of several that is present) or a
/// constant, with an optional default and an optional value map.
package struct LegacyValueRule: Sendable, Hashable {
    /// Where the value comes from.
    package enum Origin: Sendable, Hashable {
        /// The first path whose value is present (not absent, not null, not "").
        case paths([LegacyPath])
        case constant(String)
    }

    package var origin: Origin
    /// Used when every path is absent, null or the empty string.
    package var defaultValue: String?
    /// Replaces the value (compared as text: strings as they are, integers as written,
    /// booleans as `true`/`false`) with the mapped one.
    package var valueMap: [String: String]?
    /// When a value map is set and the value is not in it: keep it unchanged (`true`) or refuse
    /// the event (`false`, the default).
    package var keepUnknownValues: Bool

    package init(origin: Origin, defaultValue: String? = nil, valueMap: [String: String]? = nil, keepUnknownValues: Bool = false) {
        self.origin = origin
        self.defaultValue = defaultValue
        self.valueMap = valueMap
        self.keepUnknownValues = keepUnknownValues
    }
}

/// Where the event id of a legacy record comes from. Re-reading the same record always yields
/// the same id, so downstream deduplication on event_id absorbs replays.
package enum LegacyEventIDRule: Sendable, Hashable {
    /// The record's own id at the first present path, with `prefix` in front (default
    /// `<source>:`, so ids of different sources never collide).
    case path([LegacyPath], prefix: String)
    /// `<source>:` + hex SHA-256 of the record's Kafka position (topic, partition, offset) and
    /// its index inside the record. Only the Kafka bridge has a position.
    case position
    /// `<source>:` + hex SHA-256 of the event's own raw bytes (the array element or NDJSON
    /// line as received). Two byte-identical events become one.
    case contentHash
}

/// How the timestamp is read.
package struct LegacyTimestampRule: Sendable, Hashable {
    package var paths: [LegacyPath]
    package var format: LegacyTimestampFormat
    /// UTC offset in seconds for ISO 8601 values without a zone (0 = UTC).
    package var assumeOffsetSeconds: Int
    /// When the timestamp is absent: refuse the event (the default), or use the time the record
    /// was received (the HTTP request time, or the Kafka record's timestamp).
    package var useReceivedTimeWhenMissing: Bool

    package init(paths: [LegacyPath], format: LegacyTimestampFormat, assumeOffsetSeconds: Int = 0, useReceivedTimeWhenMissing: Bool = false) {
        self.paths = paths
        self.format = format
        self.assumeOffsetSeconds = assumeOffsetSeconds
        self.useReceivedTimeWhenMissing = useReceivedTimeWhenMissing
    }
}

/// A lookup that sets several canonical fields from one source value, e.g. `login_ok` →
/// event_type `auth`, action `login`.
package struct LegacyValueMapRule: Sendable, Hashable {
    package var paths: [LegacyPath]
    /// Source value (as text) → the fields it sets.
    package var cases: [String: [LegacyCanonicalField: String]]
    /// The fields set when the value is absent or has no case; without it such events are refused.
    package var defaultCase: [LegacyCanonicalField: String]?
    /// The fields every case sets.
    package var targets: [LegacyCanonicalField]

    package init(paths: [LegacyPath], cases: [String: [LegacyCanonicalField: String]], defaultCase: [LegacyCanonicalField: String]? = nil, targets: [LegacyCanonicalField]) {
        self.paths = paths
        self.cases = cases
        self.defaultCase = defaultCase
        self.targets = targets
    }
}

/// What goes into the canonical event's metadata.
package struct LegacyMetadataRule: Sendable, Hashable {
    /// Which input fields that no rule used are copied into metadata.
    package enum Unmapped: Sendable, Hashable {
        /// Every unused leaf, keyed by its path (`user.name`, `events[0].id`); arrays that no rule
        /// looks into are stored whole as compact JSON.
        case all
        /// Only unused leaves at or under these paths.
        case listed([LegacyPath])
        case none
    }

    package var unmapped: Unmapped
    /// Never copied (e.g. secrets), whatever `unmapped` says.
    package var exclude: [LegacyPath]
    /// Explicit entries: metadata key → value rule. They win over copied fields with the same key.
    package var set: [String: LegacyValueRule]

    package init(unmapped: Unmapped, exclude: [LegacyPath] = [], set: [String: LegacyValueRule] = [:]) {
        self.unmapped = unmapped
        self.exclude = exclude
        self.set = set
    }
}

/// The complete mapping of one legacy source.
package struct LegacySourceRules: Sendable, Hashable {
    /// The source name: the HTTP path segment, the quarantine key and the metrics label.
    package var name: String
    package var description: String?
    package var eventID: LegacyEventIDRule
    package var timestamp: LegacyTimestampRule
    /// Rules for the fields that are not set by a value map (always includes tenant_id).
    package var fields: [LegacyCanonicalField: LegacyValueRule]
    package var valueMaps: [LegacyValueMapRule]
    package var metadata: LegacyMetadataRule

    package init(
        name: String, description: String? = nil, eventID: LegacyEventIDRule, timestamp: LegacyTimestampRule,
        fields: [LegacyCanonicalField: LegacyValueRule], valueMaps: [LegacyValueMapRule] = [], metadata: LegacyMetadataRule
    ) {
        self.name = name
        self.description = description
        self.eventID = eventID
        self.timestamp = timestamp
        self.fields = fields
        self.valueMaps = valueMaps
        self.metadata = metadata
    }
}

/// Every source's rules, as loaded from the YAML rule file.
package struct LegacyRuleSet: Sendable, Hashable {
    /// The sources in file order.
    package var sources: [LegacySourceRules]

    package init(sources: [LegacySourceRules]) {
        self.sources = sources
    }

    /// The rules of `name`, if the file defines that source.
    package subscript(source name: String) -> LegacySourceRules? {
        sources.first { $0.name == name }
    }
}

/// One problem in a rule file.
package struct LegacyRulesProblem: Sendable, Hashable, CustomStringConvertible {
    /// `file:line:column`, or just the file name when the position is unknown.
    package var location: String
    /// The source the problem is in (nil for file-level problems).
    package var source: String?
    /// The key path inside the file: `sources[2].fields.actor_id.pth`.
    package var key: String
    package var message: String

    package var description: String {
        let scope = source.map { "source `\($0)`, " } ?? ""
        return "\(location): \(scope)`\(key)`: \(message)"
    }
}

/// A rule file that cannot be used. Lists every problem found, each naming the source and key.
package struct LegacyRulesError: Error, Sendable, Hashable, CustomStringConvertible {
    package var problems: [LegacyRulesProblem]

    package var description: String {
        "the legacy mapping rules are invalid (\(problems.count) problem\(problems.count == 1 ? "" : "s")); fix them and start again:\n"
            + problems.map { "  " + $0.description }.joined(separator: "\n")
    }
}
