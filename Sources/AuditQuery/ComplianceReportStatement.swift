public import ClickHouseHTTP
public import AuditStore

/// Where the audit events live in ClickHouse.
///
/// The names are sent as `Identifier` query parameters, never spliced into SQL, and must be
/// plain identifiers (letters, digits, `_`).
public struct AuditEventsTable: Sendable, Hashable {
    /// The database; nil for the ClickHouse client's database (its configuration's
    /// `database`, as the sink uses it).
    public var database: String?
    /// The table (``ClickHouseTables/events``, created by the store's migrations).
    public var table: String

    /// Creates a table reference.
    public init(database: String? = nil, table: String = ClickHouseTables().events) {
        self.database = database
        self.table = table
    }

    /// Checks that both names are plain identifiers.
    ///
    /// - Throws: ``ReportQueryError`` naming the setting.
    public func validate() throws(ReportQueryError) {
        for (field, name) in [("database", database), ("table", table)] {
            guard let name else { continue }
            guard name.utf8.count <= 128, isIdentifier(name) else {
                throw ReportQueryError(violations: [.init(
                    field: field, rule: "identifier",
                    description: "ClickHouse \(field) name '\(name)' must be 1 to 128 letters, digits or '_', not starting with a digit"
                )])
            }
        }
    }
}

/// The SQL of one compliance report: text with `{name:Type}` placeholders and the values for
/// them, ready for ``ClickHouseClient/query(_:parameters:settings:queryID:)``.
///
/// The `WHERE` clause always starts with
/// `tenant_id = {tenant:String} AND timestamp >= {from:…} AND timestamp < {to:…}` (plus
/// `event_type IN {event_types:Array(String)}` when event types are given), so that ClickHouse
/// selects granules with the primary key `(tenant_id, event_type, timestamp)` and only the
/// monthly partitions (`toYYYYMM(timestamp)`) that the range touches.
public struct ComplianceReportStatement: Sendable, Hashable {
    /// What the statement returns.
    public enum Mode: Sendable, Hashable {
        /// Events, ordered by `(timestamp, kafka_partition, kafka_offset)`.
        case rows
        /// Counts grouped by these dimensions.
        case aggregate([ReportDimension])
    }

    /// The validated query.
    public let query: ComplianceReportQuery
    /// Rows or aggregates.
    public let mode: Mode
    /// Row mode: the decoded cursor position to resume after.
    public let after: ReportPosition?
    /// The SQL text (ends with `FORMAT RowBinaryWithNamesAndTypes`).
    public let sql: String
    /// The placeholder values.
    public let parameters: [String: ClickHouseParameter]
    /// ClickHouse settings for the request (`max_execution_time`, `readonly`).
    public let settings: [String: String]

    /// The columns a row-mode statement returns, in order (a `LowCardinality(String)` column
    /// is accepted where `String` is listed: both are plain strings in RowBinary).
    public static let rowColumns: [ClickHouseColumn] = [
        ClickHouseColumn("tenant_id", .string),
        ClickHouseColumn("event_type", .string),
        ClickHouseColumn("timestamp", .dateTime64(precision: 3, timezone: "UTC")),
        ClickHouseColumn("event_id", .string),
        ClickHouseColumn("actor_id", .string),
        ClickHouseColumn("resource", .string),
        ClickHouseColumn("action", .string),
        ClickHouseColumn("metadata", .map(.string, .string)),
        ClickHouseColumn("ingested_at", .dateTime64(precision: 3, timezone: "UTC")),
        ClickHouseColumn("schema_id", .int32),
        ClickHouseColumn("kafka_partition", .int32),
        ClickHouseColumn("kafka_offset", .int64),
    ]

    /// Validates `query` (and its cursor) and builds the statement.
    ///
    /// - Parameters:
    ///   - query: the report request; the tenant must already be authorized.
    ///   - table: where the events are.
    ///   - cursors: checks the query's cursor.
    ///   - limits: size limits of the request.
    ///   - maxExecutionTime: ClickHouse's `max_execution_time`, in whole seconds (≥ 1).
    /// - Throws: ``ReportQueryError`` naming every broken rule.
    public init(
        query: ComplianceReportQuery,
        table: AuditEventsTable,
        cursors: ReportCursorCodec,
        limits: ReportQueryLimits = ReportQueryLimits(),
        maxExecutionTime: Duration = .seconds(60)
    ) throws(ReportQueryError) {
        try query.validate(limits: limits)
        try table.validate()
        self.query = query
        var after: ReportPosition? = nil
        if let cursor = query.cursor, !cursor.isEmpty {
            after = try cursors.decode(cursor, for: query)
        }
        self.after = after
        self.mode = query.isAggregate ? .aggregate(query.groupBy) : .rows

        var parameters: [String: ClickHouseParameter] = [
            "table": .string(table.table),
            "tenant": .string(query.tenantID),
            "from": .raw(ReportTime.clickHouseText(milliseconds: query.fromMilliseconds)),
            "to": .raw(ReportTime.clickHouseText(milliseconds: query.toMilliseconds)),
        ]
        let timeType = "DateTime64(3, 'UTC')"
        var conditions = [
            "tenant_id = {tenant:String}",
            "timestamp >= {from:\(timeType)}",
            "timestamp < {to:\(timeType)}",
        ]
        for (column, name, values) in [
            ("event_type", "event_types", query.eventTypes),
            ("actor_id", "actor_ids", query.actorIDs),
            ("resource", "resources", query.resources),
            ("action", "actions", query.actions),
        ] where !values.isEmpty {
            conditions.append("\(column) IN {\(name):Array(String)}")
            parameters[name] = .strings(Set(values).sorted())
        }
        for (index, entry) in query.metadataEquals.sorted(by: { $0.key < $1.key }).enumerated() {
            conditions.append("mapContains(metadata, {k\(index):String}) AND metadata[{k\(index):String}] = {v\(index):String}")
            parameters["k\(index)"] = .string(entry.key)
            parameters["v\(index)"] = .string(entry.value)
        }

        let source: String
        if let database = table.database {
            parameters["database"] = .string(database)
            source = "{database:Identifier}.{table:Identifier}"
        } else {
            source = "{table:Identifier}"
        }
        self.source = source
        self.filterConditions = conditions
        var sql: String
        switch mode {
        case .rows:
            if let after {
                // The plain bound lets the primary key skip granules before the cursor; the
                // tuple comparison picks up exactly after the last event sent.
                conditions.append("timestamp >= {after_timestamp:\(timeType)}")
                conditions.append(
                    "(timestamp, kafka_partition, kafka_offset) > ({after_timestamp:\(timeType)}, {after_partition:Int32}, {after_offset:Int64})"
                )
                parameters["after_timestamp"] = .raw(ReportTime.clickHouseText(milliseconds: after.timestampMilliseconds))
                parameters["after_partition"] = .integer(after.kafkaPartition)
                parameters["after_offset"] = .integer(after.kafkaOffset)
            }
            sql = """
                SELECT tenant_id, event_type, timestamp, event_id, actor_id, resource, action, metadata, \
                ingested_at, schema_id, kafka_partition, kafka_offset
                FROM \(source)
                WHERE \(conditions.joined(separator: "\n  AND "))
                ORDER BY timestamp, kafka_partition, kafka_offset
                """
            if let limit = query.limit {
                sql += "\nLIMIT {limit:UInt64}"
                parameters["limit"] = .integer(limit)
            }
        case .aggregate(let dimensions):
            let keys = dimensions.map(Self.aggregateExpression)
            sql = """
                SELECT \((keys + ["count() AS count"]).joined(separator: ", "))
                FROM \(source)
                WHERE \(conditions.joined(separator: "\n  AND "))
                GROUP BY \(dimensions.map(\.columnName).joined(separator: ", "))
                ORDER BY \(dimensions.map(\.columnName).joined(separator: ", "))
                """
        }
        sql += "\nFORMAT RowBinaryWithNamesAndTypes"
        self.sql = sql
        self.parameters = parameters
        let (seconds, attoseconds) = maxExecutionTime.components
        self.settings = [
            "max_execution_time": String(max(1, seconds + (attoseconds > 0 ? 1 : 0))),
            // Read-only for the request, but settings may still be given (readonly=2).
            "readonly": "2",
        ]
    }

    /// The `FROM` source (`{table:Identifier}` or `{database:Identifier}.{table:Identifier}`).
    private let source: String
    /// The `WHERE` conditions of the whole report, without a cursor.
    private let filterConditions: [String]

    /// Row mode: the SQL and parameters of one piece of the report (see
    /// ``ComplianceReportExecutor``): the events with timestamps in `[from, to)`, strictly after
    /// `after` in report order, at most `limit` of them. The statement's tenant, range and
    /// filters stay; `from` and `to` lie within the report's range.
    public func piece(from: Int64, to: Int64, after: ReportPosition?, limit: Int) -> (sql: String, parameters: [String: ClickHouseParameter]) {
        let timeType = "DateTime64(3, 'UTC')"
        var parameters = self.parameters
        parameters["limit"] = nil
        parameters["after_timestamp"] = nil
        parameters["after_partition"] = nil
        parameters["after_offset"] = nil
        parameters["from"] = .raw(ReportTime.clickHouseText(milliseconds: max(from, query.fromMilliseconds)))
        parameters["to"] = .raw(ReportTime.clickHouseText(milliseconds: min(to, query.toMilliseconds)))
        parameters["piece_limit"] = .integer(max(1, limit))
        var conditions = filterConditions
        if let after {
            conditions.append(
                "(timestamp, kafka_partition, kafka_offset) > ({after_timestamp:\(timeType)}, {after_partition:Int32}, {after_offset:Int64})"
            )
            parameters["after_timestamp"] = .raw(ReportTime.clickHouseText(milliseconds: after.timestampMilliseconds))
            parameters["after_partition"] = .integer(after.kafkaPartition)
            parameters["after_offset"] = .integer(after.kafkaOffset)
        }
        let sql = """
            SELECT \(Self.rowColumns.map(\.name).joined(separator: ", "))
            FROM \(source)
            WHERE \(conditions.joined(separator: "\n  AND "))
            ORDER BY timestamp, kafka_partition, kafka_offset
            LIMIT {piece_limit:UInt64}
            FORMAT RowBinaryWithNamesAndTypes
            """
        return (sql, parameters)
    }

    /// Row mode: `EXPLAIN ESTIMATE` of the report's rest from `from` (its rows in a
    /// `TabSeparated` answer: ClickHouse's count of the rows in the granules it would read,
    /// from the primary index alone, without reading data).
    public func estimate(from: Int64) -> (sql: String, parameters: [String: ClickHouseParameter]) {
        var parameters = self.parameters
        for name in ["limit", "after_timestamp", "after_partition", "after_offset"] { parameters[name] = nil }
        parameters["from"] = .raw(ReportTime.clickHouseText(milliseconds: max(from, query.fromMilliseconds)))
        let sql = """
            EXPLAIN ESTIMATE SELECT kafka_offset
            FROM \(source)
            WHERE \(filterConditions.joined(separator: "\n  AND "))
            FORMAT TabSeparated
            """
        return (sql, parameters)
    }

    /// The columns this statement returns, in order.
    public var columns: [ClickHouseColumn] {
        switch mode {
        case .rows: return Self.rowColumns
        case .aggregate(let dimensions):
            return dimensions.map { ClickHouseColumn($0.columnName, .string) } + [ClickHouseColumn("count", .uint64)]
        }
    }

    static func aggregateExpression(_ dimension: ReportDimension) -> String {
        switch dimension {
        case .eventType: return "event_type"
        case .action: return "action"
        case .actor: return "actor_id"
        case .day: return "toString(toDate(timestamp)) AS day"
        }
    }
}

extension ReportDimension {
    /// The result column of this dimension in aggregate mode.
    var columnName: String {
        switch self {
        case .eventType: return "event_type"
        case .action: return "action"
        case .actor: return "actor_id"
        case .day: return "day"
        }
    }
}
