/// One reply from Redis (RESP2).
public enum RedisReply: Sendable, Hashable {
    /// A bulk string: arbitrary bytes.
    case bulkString([UInt8])
    /// A simple status reply such as `OK` or `PONG`.
    case status(String)
    /// An integer reply.
    case integer(Int64)
    /// An array (multi-bulk) reply.
    case array([RedisReply])
    /// The nil bulk string or nil array.
    case null
    /// An error reply, e.g. `WRONGTYPE Operation against a key holding the wrong kind of value`.
    case error(String)

    /// The reply as text: bulk strings decoded as UTF-8 (nil when not valid UTF-8), statuses
    /// as is, integers in decimal; nil for other replies.
    public var string: String? {
        switch self {
        case .bulkString(let bytes): String(validating: bytes, as: UTF8.self)
        case .status(let text): text
        case .integer(let value): String(value)
        default: nil
        }
    }

    /// The raw bytes of a bulk string or status; nil for other replies.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): bytes
        case .status(let text): Array(text.utf8)
        default: nil
        }
    }

    /// The value of an integer reply, or of a bulk string holding a decimal integer (as
    /// `ZSCORE`/`GET` return them); nil otherwise.
    public var int: Int64? {
        switch self {
        case .integer(let value): value
        case .bulkString(let bytes): String(validating: bytes, as: UTF8.self).flatMap { Int64($0) }
        default: nil
        }
    }

    /// The elements of an array reply; nil otherwise.
    public var array: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// True for the nil reply.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The message of an error reply; nil otherwise.
    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }

    /// Returns the reply, or throws a ``RedisError`` of kind ``RedisError/Kind/server`` when
    /// it is an error reply. Useful on the elements of a pipeline's result.
    public func checked() throws(RedisError) -> RedisReply {
        if case .error(let message) = self { throw RedisError(kind: .server, message: message) }
        return self
    }
}

/// One argument of a Redis command: binary-safe bytes.
///
/// String, integer and byte-array literals convert implicitly: `["ZADD", key, score, member]`.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    /// The bytes sent to the server.
    public var bytes: [UInt8]

    /// An argument holding these bytes.
    public init(bytes: [UInt8]) { self.bytes = bytes }
    /// An argument holding the UTF-8 bytes of a string.
    public init(_ string: String) { self.bytes = Array(string.utf8) }
    /// An argument holding an integer in decimal.
    public init<I: BinaryInteger>(_ value: I) { self.bytes = Array(String(value).utf8) }
    /// An argument holding a floating-point number in Redis' accepted notation
    /// (`inf`/`-inf` for infinities).
    public init(_ value: Double) {
        if value == .infinity {
            bytes = Array("+inf".utf8)
        } else if value == -.infinity {
            bytes = Array("-inf".utf8)
        } else {
            bytes = Array(String(value).utf8)
        }
    }
    /// A string literal argument.
    public init(stringLiteral value: String) { self.init(value) }
    /// An integer literal argument.
    public init(integerLiteral value: Int) { self.init(value) }
    /// The argument as text (lossy for non-UTF-8 bytes).
    public var description: String { String(decoding: bytes, as: UTF8.self) }
}
