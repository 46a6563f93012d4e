/// A `host:port` pair, such as `127.0.0.1:50051` or `[::1]:8080`.
public struct HostAndPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`; `setting` names the flag or variable in the error.
    public init(parsing text: String, setting: String) throws(ConfigurationError) {
        guard let colon = text.lastIndex(of: ":") else {
            throw ConfigurationError(setting: setting, problem: "`\(text)` has no port; write it as host:port, e.g. 127.0.0.1:50051")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else {
            throw ConfigurationError(setting: setting, problem: "`\(text)` has no host; write it as host:port, e.g. 127.0.0.1:50051")
        }
        guard let port = Int(text[text.index(after: colon)...]), (0 ... 65535).contains(port) else {
            throw ConfigurationError(setting: setting, problem: "`\(text)` has no valid port (0 to 65535)")
        }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A setting that cannot be used, with what to do about it.
public struct ConfigurationError: Error, Hashable, CustomStringConvertible {
    /// The flag or environment variable, e.g. `AUDITPIPE_GRPC_ADDR`.
    public var setting: String
    public var problem: String

    public init(setting: String, problem: String) {
        self.setting = setting
        self.problem = problem
    }

    public var description: String { "invalid \(setting): \(problem)" }
}
