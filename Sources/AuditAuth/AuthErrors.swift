public import GRPCCore

/// A refused request: missing or wrong credentials (`UNAUTHENTICATED`), or credentials that do
/// not allow this tenant or role (`PERMISSION_DENIED`).
public struct AuthorizationError: Error, Sendable, Hashable, CustomStringConvertible, RPCErrorConvertible {
    /// The gRPC status.
    public var code: RPCError.Code
    /// What is wrong and what to do. Never contains a key.
    public var message: String

    /// Creates an error.
    public init(code: RPCError.Code, message: String) {
        self.code = code
        self.message = message
    }

    /// The status code.
    public var rpcErrorCode: RPCError.Code { code }
    /// The message.
    public var rpcErrorMessage: String { message }
    /// `<code>: <message>`.
    public var description: String { "\(code): \(message)" }
}

/// An authentication configuration that does not validate; names the entry and the rule.
public struct AuthConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The entry, as a path: `api_keys[2] ("billing")`, `tls.certificate_chain`.
    public var entry: String
    /// What is wrong and what to do.
    public var problem: String

    /// Creates an error.
    public init(entry: String, problem: String) {
        self.entry = entry
        self.problem = problem
    }

    /// `auth configuration, <entry>: <problem>`.
    public var description: String { "auth configuration, \(entry): \(problem)" }
}
