import Foundation

/// Where and how to reach a Redis server.
///
/// Build one from a URL with ``init(url:)`` (`redis://[[user]:password@]host[:port][/db]`) or
/// field by field. Defaults: port 6379, database 0, a 2 s connect timeout, a 2 s command timeout
/// and a pool of 4 connections.
public struct RedisConfiguration: Sendable, Hashable {
    /// Host name or IP address (IPv6 without brackets).
    public var host: String
    /// TCP port.
    public var port: Int
    /// The ACL user name sent with `AUTH`, or nil for the legacy single-password `AUTH`.
    public var username: String?
    /// The password sent with `AUTH` after each connect, or nil to skip `AUTH`.
    public var password: String?
    /// The logical database selected with `SELECT` after each connect (skipped when 0).
    public var database: Int
    /// How long a TCP connect may take before it fails with a retriable error.
    public var connectTimeout: Duration
    /// How long one command (or one pipeline) may wait for the server before it fails with a
    /// retriable error; the connection is then discarded and rebuilt for the next command.
    public var commandTimeout: Duration
    /// Number of connections ``RedisClient`` keeps; each one has its own thread.
    public var poolSize: Int

    /// Creates a configuration field by field.
    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(2),
        poolSize: Int = 4
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.poolSize = poolSize
    }

    /// Parses `redis://[[user]:password@]host[:port][/db]`.
    ///
    /// User and password may be percent-encoded. IPv6 hosts go in brackets
    /// (`redis://[::1]:6379`). Query strings and fragments are rejected rather than ignored, and
    /// so is `rediss://` (TLS is not supported by this client).
    ///
    /// - Throws: ``RedisError`` with kind ``RedisError/Kind/configuration`` naming what is wrong.
    public init(
        url: String,
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(2),
        poolSize: Int = 4
    ) throws(RedisError) {
        func fail(_ reason: String) -> RedisError {
            RedisError(
                kind: .configuration,
                message: "invalid Redis URL '\(RedisConfiguration.redacted(url))': \(reason); expected redis://[[user]:password@]host[:port][/db]"
            )
        }
        let scheme = "redis://"
        guard url.lowercased().hasPrefix(scheme) else {
            if url.lowercased().hasPrefix("rediss://") {
                throw fail("TLS (rediss://) is not supported by this client")
            }
            throw fail("the scheme must be redis://")
        }
        var rest = Substring(url.dropFirst(scheme.count))
        if rest.contains("?") || rest.contains("#") {
            throw fail("query strings and fragments are not supported")
        }
        // Split off the path (database).
        var pathPart: Substring? = nil
        if let slash = rest.firstIndex(of: "/") {
            pathPart = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        // Credentials.
        var username: String? = nil
        var password: String? = nil
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                let user = userInfo[..<colon]
                let pass = userInfo[userInfo.index(after: colon)...]
                guard let decodedUser = Self.percentDecode(user), let decodedPass = Self.percentDecode(pass) else {
                    throw fail("the user info has an invalid percent-encoding")
                }
                username = decodedUser.isEmpty ? nil : decodedUser
                password = decodedPass
            } else {
                // `redis://password@host` is accepted by many clients as a bare password.
                guard let decoded = Self.percentDecode(userInfo) else {
                    throw fail("the user info has an invalid percent-encoding")
                }
                password = decoded
            }
            if password?.isEmpty == true { password = nil }
        }
        // Host and port.
        var host: Substring
        var portText: Substring? = nil
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("an IPv6 host is missing its closing ']'") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("unexpected text after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.firstIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw fail("the host is missing") }
        var port = 6379
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw fail("the port '\(portText)' is not a number from 1 to 65535")
            }
            port = value
        }
        var database = 0
        if let pathPart, !pathPart.isEmpty {
            guard let value = Int(pathPart), value >= 0 else {
                throw fail("the database '\(pathPart)' is not a non-negative integer")
            }
            database = value
        }
        self.init(
            host: String(host),
            port: port,
            username: username,
            password: password,
            database: database,
            connectTimeout: connectTimeout,
            commandTimeout: commandTimeout,
            poolSize: poolSize
        )
    }

    /// Checks the values that the URL parser cannot: timeouts and pool size.
    ///
    /// - Throws: ``RedisError`` with kind ``RedisError/Kind/configuration``.
    public func validate() throws(RedisError) {
        if host.isEmpty { throw RedisError(kind: .configuration, message: "Redis host must not be empty") }
        if !(1...65535).contains(port) {
            throw RedisError(kind: .configuration, message: "Redis port \(port) must be from 1 to 65535")
        }
        if database < 0 { throw RedisError(kind: .configuration, message: "Redis database \(database) must be >= 0") }
        if connectTimeout <= .zero || commandTimeout <= .zero {
            throw RedisError(kind: .configuration, message: "Redis connect and command timeouts must be positive")
        }
        if poolSize < 1 { throw RedisError(kind: .configuration, message: "Redis pool size \(poolSize) must be at least 1") }
        if host.contains("\0") || (password ?? "").contains("\0") {
            throw RedisError(kind: .configuration, message: "Redis host and password must not contain NUL bytes")
        }
    }

    /// The URL with any password replaced by `***`, for logs and error messages.
    static func redacted(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://"), let at = url.lastIndex(of: "@"), at > schemeEnd.upperBound else {
            return url
        }
        let userInfo = url[schemeEnd.upperBound..<at]
        if let colon = userInfo.firstIndex(of: ":") {
            return String(url[..<colon]) + ":***" + String(url[at...])
        }
        return String(url[..<schemeEnd.upperBound]) + "***" + String(url[at...])
    }

    static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                      let h = hexValue(high), let l = hexValue(low) else { return nil }
                bytes.append(h << 4 | l)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
