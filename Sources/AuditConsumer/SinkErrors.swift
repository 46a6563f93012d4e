/// How failed writes (to ClickHouse, to Redis) are retried: exponential backoff with jitter.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts of one batch before a transient failure dead-letters it; nil retries forever.
    /// Default 5.
    public var maxAttempts: Int? = 5
    /// The delay after the first failure. Default 0.5 s.
    public var initialBackoff: Duration = .milliseconds(500)
    /// The longest delay. Default 30 s.
    public var maxBackoff: Duration = .seconds(30)

    /// Creates the defaults.
    public init() {}

    /// Creates a policy.
    public init(maxAttempts: Int?, initialBackoff: Duration, maxBackoff: Duration) {
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }

    package func validate() throws(AuditSinkError) {
        if let maxAttempts, maxAttempts < 1 { throw .configuration("RetryPolicy.maxAttempts", "must be at least 1, or nil for no limit") }
        if initialBackoff <= .zero || maxBackoff < initialBackoff {
            throw .configuration("RetryPolicy", "needs 0 < initialBackoff <= maxBackoff")
        }
    }

    /// The delay before attempt `attempt + 1` after `attempt` failures (1-based): the capped
    /// exponential delay scaled by a jitter factor in [0.5, 1) (`jitter` in [0, 1)).
    package func backoff(afterAttempt attempt: Int, jitter: Double) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let uncapped = initialBackoff * (1 << exponent)
        let capped = min(uncapped, maxBackoff)
        return capped * (0.5 + 0.5 * min(max(jitter, 0), 0.999_999))
    }
}

/// An error of a sink (ClickHouse, recent events), with a message saying what to do.
public struct AuditSinkError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong and what to do.
    public var message: String
    /// Whether retrying later can help.
    public var isRetriable: Bool

    /// Creates an error.
    public init(message: String, isRetriable: Bool) {
        self.message = message
        self.isRetriable = isRetriable
    }

    /// The message.
    public var description: String { "AuditSinkError: \(message)" }

    package static func configuration(_ field: String, _ rule: String) -> AuditSinkError {
        AuditSinkError(message: "invalid configuration: \(field) \(rule)", isRetriable: false)
    }
}
