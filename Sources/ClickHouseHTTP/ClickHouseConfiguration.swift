/// How to reach ClickHouse's HTTP interface.
///
/// Defaults: user `default` with no password, the server's default database, a 5 s connect
/// timeout, a 60 s deadline for commands and inserts, and `max_execution_time` = 60 s for queries.
public struct ClickHouseConfiguration: Sendable, Hashable {
    /// The base URL, e.g. `http://127.0.0.1:8123` (a path prefix is kept; no query string).
    public var url: String
    /// Sent as `X-ClickHouse-User`.
    public var user: String
    /// Sent as `X-ClickHouse-Key`.
    public var password: String
    /// The default database of every request (URL parameter `database`); nil for the user's default.
    public var database: String?
    /// How long opening a TCP connection may take.
    public var connectTimeout: Duration
    /// Client-side deadline of ``ClickHouseClient/execute(_:parameters:settings:queryID:)`` and
    /// ``ClickHouseClient/insert(table:format:body:deduplicationToken:settings:queryID:compression:)``.
    public var requestTimeout: Duration
    /// The server-side `max_execution_time` of queries, unless a call's settings override it.
    /// Streaming queries get a client deadline of this plus ``requestTimeout``.
    public var maxExecutionTime: Duration
    /// Deadline of the `KILL QUERY` sent when a query is abandoned.
    public var killTimeout: Duration

    /// Creates a configuration.
    public init(
        url: String,
        user: String = "default",
        password: String = "",
        database: String? = nil,
        connectTimeout: Duration = .seconds(5),
        requestTimeout: Duration = .seconds(60),
        maxExecutionTime: Duration = .seconds(60),
        killTimeout: Duration = .seconds(5)
    ) {
        self.url = url
        self.user = user
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.maxExecutionTime = maxExecutionTime
        self.killTimeout = killTimeout
    }

    /// Checks the URL scheme and that timeouts are positive.
    ///
    /// - Throws: ``ClickHouseError`` of kind ``ClickHouseError/Kind/invalidInput``.
    public func validate() throws(ClickHouseError) {
        let lowered = url.lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://") else {
            throw ClickHouseError(kind: .invalidInput, message: "ClickHouse URL '\(url)' must start with http:// or https://")
        }
        guard !url.contains("?"), !url.contains("#") else {
            throw ClickHouseError(kind: .invalidInput, message: "ClickHouse URL '\(url)' must not carry a query string; pass settings per call")
        }
        for (name, value) in [("connectTimeout", connectTimeout), ("requestTimeout", requestTimeout), ("maxExecutionTime", maxExecutionTime), ("killTimeout", killTimeout)] where value <= .zero {
            throw ClickHouseError(kind: .invalidInput, message: "ClickHouse \(name) must be positive")
        }
    }
}
