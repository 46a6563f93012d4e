public import ClickHouseHTTP

/// A compliance report that failed while running (the request itself was valid).
///
/// The server answers it with a gRPC status (AuditServer's `RPCStatus.swift`): a ClickHouse
/// timeout (`max_execution_time`) is `DEADLINE_EXCEEDED`, a transient ClickHouse failure is
/// `UNAVAILABLE` (retry), anything else `INTERNAL`.
public struct ReportError: Error, Sendable, CustomStringConvertible {
    /// What went wrong. Extensible: switch with a `default` case.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        let name: String
        /// ClickHouse failed the query (before or part-way through the answer).
        public static let clickHouse = Kind(name: "ClickHouse failed the query")
        /// The answer did not have the expected columns (the table differs from the schema
        /// AuditPipe expects).
        public static let unexpectedResult = Kind(name: "unexpected query result")
        /// A human-readable name.
        public var description: String { name }
    }

    /// What went wrong.
    public var kind: Kind
    /// What happened and what to do, for a human.
    public var message: String
    /// The ClickHouse `query_id`, to find the query in `system.query_log`.
    public var queryID: String?
    /// The ClickHouse error, when there is one.
    public var clickHouseError: ClickHouseError?

    /// Creates an error.
    public init(kind: Kind, message: String, queryID: String?, clickHouseError: ClickHouseError? = nil) {
        self.kind = kind
        self.message = message
        self.queryID = queryID
        self.clickHouseError = clickHouseError
    }

    /// Whether asking again later may succeed.
    public var isRetriable: Bool { clickHouseError?.isRetriable ?? false }

    /// `<kind>: <message> (query_id …)`.
    public var description: String {
        "\(kind): \(message)" + (queryID.map { " (query_id \($0))" } ?? "")
    }

    init(_ error: ClickHouseError, queryID: String) {
        let isTimeout = error.code == 159 || error.code == 160 || error.kind == .timeout
        let advice: String
        if isTimeout {
            advice = "the report took longer than its time limit; narrow the time range or filters, or ask in smaller pieces and resume with the cursor"
        } else if error.isRetriable {
            advice = "the analytical store is unavailable or overloaded; retry later (a row-mode report can resume from the last next_cursor)"
        } else {
            advice = "the report failed in the analytical store; an operator can look the query_id up in ClickHouse's system.query_log"
        }
        var said = "ClickHouse \(error.kind) error"
        if let code = error.code { said += " \(code)" }
        if let name = error.name { said += " \(name)" }
        said += ": \(error.message)"
        self.init(kind: .clickHouse, message: "\(advice). \(said)", queryID: queryID, clickHouseError: error)
    }
}
