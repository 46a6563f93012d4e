import AuditEvents

/// A dimension an aggregate compliance report groups by.
public enum ReportDimension: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The event type (`auth`, `data_change`, ...).
    case eventType = "event_type"
    /// The action (`login`, `update`, ...).
    case action
    /// The actor (user or service id).
    case actor
    /// The UTC day of the event's timestamp, as `YYYY-MM-DD`.
    case day

    /// The name used in SQL aliases, CLI flags and messages.
    public var description: String { rawValue }
}

/// A request for a compliance report over one tenant's events in a time range.
///
/// Build it from user input, then turn it into SQL with ``ComplianceReportStatement``, which
/// validates it (see ``validate(limits:)``). All values travel to ClickHouse as query
/// parameters; nothing here is ever spliced into SQL text.
public struct ComplianceReportQuery: Sendable, Hashable {
    /// The tenant; required. Callers must have authorized it against the caller's credentials.
    public var tenantID: String
    /// Start of the range, inclusive, in milliseconds since the Unix epoch (UTC).
    public var fromMilliseconds: Int64
    /// End of the range, exclusive, in milliseconds since the Unix epoch (UTC).
    public var toMilliseconds: Int64
    /// Event types to keep; empty keeps all. Values are ORed.
    public var eventTypes: [String]
    /// Actors to keep; empty keeps all.
    public var actorIDs: [String]
    /// Resources to keep; empty keeps all.
    public var resources: [String]
    /// Actions to keep; empty keeps all.
    public var actions: [String]
    /// Metadata entries every event must have (key present with exactly this value).
    public var metadataEquals: [String: String]
    /// Empty: row mode. Otherwise aggregate mode, counts grouped by these dimensions in order.
    public var groupBy: [ReportDimension]
    /// Row mode: the opaque cursor of a previous chunk (`next_cursor`) to resume after.
    public var cursor: String?
    /// Row mode: at most this many events; nil for no limit.
    public var limit: UInt64?

    /// Creates a query; see the properties for the meaning of each argument.
    public init(
        tenantID: String,
        fromMilliseconds: Int64,
        toMilliseconds: Int64,
        eventTypes: [String] = [],
        actorIDs: [String] = [],
        resources: [String] = [],
        actions: [String] = [],
        metadataEquals: [String: String] = [:],
        groupBy: [ReportDimension] = [],
        cursor: String? = nil,
        limit: UInt64? = nil
    ) {
        self.tenantID = tenantID
        self.fromMilliseconds = fromMilliseconds
        self.toMilliseconds = toMilliseconds
        self.eventTypes = eventTypes
        self.actorIDs = actorIDs
        self.resources = resources
        self.actions = actions
        self.metadataEquals = metadataEquals
        self.groupBy = groupBy
        self.cursor = cursor
        self.limit = limit
    }

    /// True in aggregate mode (``groupBy`` is not empty).
    public var isAggregate: Bool { !groupBy.isEmpty }

    /// Checks every field against `limits` and reports all broken rules at once.
    ///
    /// - Throws: ``ReportQueryError`` listing one ``ReportQueryError/Violation`` per broken
    ///   rule, each naming the field (`event_types[3]`, `metadata_equals["ip"]`) and the rule.
    public func validate(limits: ReportQueryLimits = ReportQueryLimits()) throws(ReportQueryError) {
        var violations: [ReportQueryError.Violation] = []
        func add(_ field: String, _ rule: String, _ text: String) {
            violations.append(.init(field: field, rule: rule, description: text))
        }
        func checkValue(_ value: String, field: String, maxBytes: Int) {
            if value.isEmpty {
                add(field, "required", "\(field) is empty; remove it or give a value")
            } else if value.utf8.count > maxBytes {
                add(field, "max_length", "\(field) is \(value.utf8.count) bytes; the limit is \(maxBytes)")
            }
        }
        if tenantID.isEmpty {
            add("tenant_id", "required", "tenant_id is required")
        } else if tenantID.utf8.count > limits.maxValueBytes {
            add("tenant_id", "max_length", "tenant_id is \(tenantID.utf8.count) bytes; the limit is \(limits.maxValueBytes)")
        }
        if fromMilliseconds <= 0 {
            add("from_ms", "required", "from_ms is required: give the start of the range in milliseconds since the Unix epoch (> 0)")
        }
        if toMilliseconds <= 0 {
            add("to_ms", "required", "to_ms is required: give the end of the range (exclusive) in milliseconds since the Unix epoch (> 0)")
        } else if toMilliseconds > ReportTime.maximumMilliseconds {
            add("to_ms", "range", "to_ms \(toMilliseconds) is after 2299-12-31T23:59:59.999Z, the last instant ClickHouse's DateTime64 holds")
        }
        if fromMilliseconds > 0, toMilliseconds > 0, fromMilliseconds >= toMilliseconds {
            add("to_ms", "after_from", "to_ms (\(toMilliseconds)) must be after from_ms (\(fromMilliseconds)): the range is [from, to)")
        }
        for (name, list) in [("event_types", eventTypes), ("actor_ids", actorIDs), ("resources", resources), ("actions", actions)] {
            if list.count > limits.maxListCount {
                add(name, "max_items", "\(name) has \(list.count) values; the limit is \(limits.maxListCount). Split the report or drop the filter")
            }
            for (index, value) in list.enumerated() {
                checkValue(value, field: "\(name)[\(index)]", maxBytes: limits.maxValueBytes)
            }
        }
        if metadataEquals.count > limits.maxMetadataFilters {
            add("metadata_equals", "max_items", "metadata_equals has \(metadataEquals.count) entries; the limit is \(limits.maxMetadataFilters)")
        }
        for key in metadataEquals.keys.sorted() {
            let field = "metadata_equals[\"\(key.prefix(64))\"]"
            checkValue(key, field: field + " key", maxBytes: limits.maxMetadataKeyBytes)
            if let value = metadataEquals[key], value.utf8.count > limits.maxValueBytes {
                add(field, "max_length", "\(field) value is \(value.utf8.count) bytes; the limit is \(limits.maxValueBytes)")
            }
        }
        var seen: Set<ReportDimension> = []
        for (index, dimension) in groupBy.enumerated() where !seen.insert(dimension).inserted {
            add("group_by[\(index)]", "unique", "group_by lists \(dimension) twice; give each dimension once")
        }
        if isAggregate, let cursor, !cursor.isEmpty {
            add("cursor", "row_mode_only", "cursor resumes a row-mode report; aggregate reports (group_by set) have no cursor")
        }
        if isAggregate, limit != nil {
            add("limit", "row_mode_only", "limit applies to row-mode reports; aggregate reports (group_by set) return every group")
        }
        if let cursor, cursor.utf8.count > 512 {
            add("cursor", "max_length", "cursor is \(cursor.utf8.count) bytes; cursors issued by AuditPipe are far shorter: pass next_cursor unchanged")
        }
        if !violations.isEmpty { throw ReportQueryError(violations: violations) }
    }
}

/// Bounds on the size of a ``ComplianceReportQuery``.
public struct ReportQueryLimits: Sendable, Hashable {
    /// Most values in each filter list (`event_types`, `actor_ids`, `resources`, `actions`).
    public var maxListCount: Int
    /// Longest filter value (and tenant id), in UTF-8 bytes.
    public var maxValueBytes: Int
    /// Most `metadata_equals` entries.
    public var maxMetadataFilters: Int
    /// Longest `metadata_equals` key, in UTF-8 bytes.
    public var maxMetadataKeyBytes: Int

    /// Creates limits; the defaults are 100 values per list, 1024-byte values, 16 metadata
    /// filters and 256-byte metadata keys.
    public init(maxListCount: Int = 100, maxValueBytes: Int = 1024, maxMetadataFilters: Int = 16, maxMetadataKeyBytes: Int = 256) {
        self.maxListCount = maxListCount
        self.maxValueBytes = maxValueBytes
        self.maxMetadataFilters = maxMetadataFilters
        self.maxMetadataKeyBytes = maxMetadataKeyBytes
    }
}

/// A report request that breaks one or more rules; maps to gRPC `INVALID_ARGUMENT`.
public struct ReportQueryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// One broken rule of one field.
    public struct Violation: Sendable, Hashable {
        /// The field, as a path: `tenant_id`, `event_types[2]`, `metadata_equals["ip"]`.
        public var field: String
        /// A short stable rule code: `required`, `max_length`, `max_items`, `after_from`,
        /// `unique`, `row_mode_only`, `range`, `invalid_cursor`.
        public var rule: String
        /// What is wrong and what to do, for a human.
        public var description: String

        package init(field: String, rule: String, description: String) {
            self.field = field
            self.rule = rule
            self.description = description
        }
    }

    /// The broken rules.
    public var violations: [Violation]

    package init(violations: [Violation]) {
        self.violations = violations
    }

    /// All violations, one per line.
    public var description: String {
        "invalid compliance report request: " + violations.map { "\($0.field): \($0.description)" }.joined(separator: "; ")
    }
}

/// UTC calendar arithmetic for reports (proleptic Gregorian, no leap seconds): the text forms
/// of report bounds, the CLI's dates, and the timestamps of exported rows, written without a
/// formatter or an allocation.
public enum ReportTime {
    /// 2299-12-31T23:59:59.999Z, the last instant of ClickHouse's DateTime64 range.
    public static let maximumMilliseconds: Int64 = StorableEvent.timestampRange.upperBound

    /// `YYYY-MM-DD hh:mm:ss.fff` in UTC: the text form ClickHouse parses for a
    /// `DateTime64(3, 'UTC')` parameter.
    static func clickHouseText(milliseconds: Int64) -> String {
        String(unsafeUninitializedCapacity: RFC3339.length) { buffer in
            RFC3339.write(milliseconds: milliseconds, to: UnsafeMutableRawPointer(buffer.baseAddress!))
            buffer[10] = UInt8(ascii: " ")
            return RFC3339.length - 1  // without the Z
        }
    }

    /// Milliseconds since the Unix epoch of midnight UTC starting a calendar day.
    public static func milliseconds(year: Int64, month: Int64, day: Int64) -> Int64 {
        CivilDate.days(year: year, month: month, day: day) * 86_400_000
    }
}
