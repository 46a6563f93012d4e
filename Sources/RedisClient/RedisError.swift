/// An error from the Redis client: what failed, a message for a human, and whether retrying the
/// same command later can succeed.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The class of failure. Extensible: switch with a `default` case.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        let name: String
        /// The configuration or URL is invalid. Not retriable: fix the configuration.
        public static let configuration = Kind(name: "configuration")
        /// Connecting, writing or reading failed (refused, reset, closed by the server). The
        /// connection is discarded; the next command reconnects. Retriable, but the failed
        /// command may or may not have been executed by the server.
        public static let connection = Kind(name: "connection")
        /// The server did not answer within the command timeout (or connect timeout).
        /// Retriable, with the same caveat as ``connection``.
        public static let timeout = Kind(name: "timeout")
        /// `AUTH` or `SELECT` was rejected when connecting. Not retriable: fix the credentials
        /// or database number.
        public static let authentication = Kind(name: "authentication")
        /// The server answered the command with an error reply (e.g. `WRONGTYPE`). Not
        /// retriable except for `LOADING`, `BUSY`, `TRYAGAIN`, `MASTERDOWN`, `CLUSTERDOWN`.
        public static let server = Kind(name: "server")
        /// The reply could not be parsed (protocol error). The connection is discarded.
        public static let `protocol` = Kind(name: "protocol")
        /// The client was closed; no further commands are accepted. Not retriable.
        public static let closed = Kind(name: "closed")
        /// A human-readable name of the kind.
        public var description: String { name }
    }

    /// The class of failure.
    public var kind: Kind
    /// What happened and, where it helps, what to do about it.
    public var message: String

    /// Creates an error.
    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    /// Whether the same command may succeed if sent again later (after backoff).
    ///
    /// True for connection failures and timeouts (a command that failed that way may already
    /// have been applied: only retry idempotent commands blindly) and for server errors that
    /// Redis documents as transient (`LOADING`, `BUSY`, `TRYAGAIN`, `MASTERDOWN`, `CLUSTERDOWN`).
    public var isRetriable: Bool {
        switch kind {
        case .connection, .timeout: return true
        case .server:
            let prefix = message.prefix { $0 != " " }
            return ["LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN"].contains(String(prefix))
        default: return false
        }
    }

    /// `Redis <kind> error: <message>`.
    public var description: String { "Redis \(kind) error: \(message)" }
}
