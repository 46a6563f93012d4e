import CHiredis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One hiredis connection. Not thread-safe: every method is called on the owning
/// ``RedisConnection``'s worker thread only, which is what makes the `@unchecked Sendable`
/// sound (the value is handed to that thread and never touched elsewhere).
final class HiredisConnection: @unchecked Sendable {
    private let configuration: RedisConfiguration
    private var context: UnsafeMutablePointer<redisContext>?

    init(configuration: RedisConfiguration) {
        self.configuration = configuration
    }

    deinit { disconnect() }

    var isConnected: Bool { context != nil }

    /// Connects, sets the command timeout and keep-alive, then sends `AUTH` and `SELECT` when
    /// configured. Replaces any previous connection.
    func connect() throws(RedisError) {
        disconnect()
        guard let ctx = redisConnectWithTimeout(configuration.host, Int32(configuration.port), makeTimeval(configuration.connectTimeout)) else {
            throw RedisError(kind: .connection, message: "cannot allocate a hiredis context")
        }
        if ctx.pointee.err != 0 {
            let error = Self.contextError(ctx, doing: "connecting to \(configuration.host):\(configuration.port)")
            redisFree(ctx)
            throw error
        }
        if redisSetTimeout(ctx, makeTimeval(configuration.commandTimeout)) != REDIS_OK {
            let error = Self.contextError(ctx, doing: "setting the command timeout")
            redisFree(ctx)
            throw error
        }
        _ = redisEnableKeepAlive(ctx)
        context = ctx
        do throws(RedisError) {
            if let password = configuration.password {
                var auth: [RedisArgument] = ["AUTH"]
                if let username = configuration.username { auth.append(RedisArgument(username)) }
                auth.append(RedisArgument(password))
                if case .error(let message) = try command(auth) {
                    throw RedisError(kind: .authentication, message: "AUTH was rejected by \(configuration.host):\(configuration.port): \(message); check the password in the Redis URL")
                }
            }
            if configuration.database != 0 {
                if case .error(let message) = try command(["SELECT", RedisArgument(configuration.database)]) {
                    throw RedisError(kind: .authentication, message: "SELECT \(configuration.database) was rejected: \(message); check the database number in the Redis URL")
                }
            }
        } catch {
            disconnect()
            throw error
        }
    }

    func disconnect() {
        if let context {
            redisFree(context)
            self.context = nil
        }
    }

    /// Sends one command and waits for its reply. A transport failure discards the connection.
    func command(_ arguments: [RedisArgument]) throws(RedisError) -> RedisReply {
        let (replies, error) = pipeline([arguments])
        if let error { throw error }
        return replies[0]
    }

    /// Appends all commands to the output buffer, flushes them in one write, and reads one
    /// reply per command. Returns the replies read and, after a transport failure, the error:
    /// the connection is then discarded, and the commands without a reply may or may not have
    /// been executed. Every command must have at least one argument.
    func pipeline(_ commands: [[RedisArgument]]) -> (replies: [RedisReply], error: RedisError?) {
        guard let ctx = context else {
            return ([], RedisError(kind: .connection, message: "not connected to \(configuration.host):\(configuration.port)"))
        }
        precondition(commands.allSatisfy { !$0.isEmpty }, "a Redis command needs at least one argument")
        for arguments in commands {
            let status = Self.withArgv(arguments) { argc, argv, lengths in
                redisAppendCommandArgv(ctx, argc, argv, lengths)
            }
            if status != REDIS_OK {
                let error = Self.contextError(ctx, doing: "buffering a command")
                disconnect()
                return ([], error)
            }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer? = nil
            if redisGetReply(ctx, &raw) != REDIS_OK || raw == nil {
                let error = Self.contextError(ctx, doing: "waiting for a reply")
                if let raw { freeReplyObject(raw) }
                disconnect()
                return (replies, error)
            }
            let reply = raw!.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.convert(reply))
            freeReplyObject(raw)
        }
        return (replies, nil)
    }

    // MARK: C conversion helpers

    /// Calls `body` with C `argc`/`argv`/`argvlen` views of `arguments`, valid only inside.
    static func withArgv<R>(
        _ arguments: [RedisArgument],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        let total = arguments.reduce(0) { $0 + $1.bytes.count }
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(total, 1), alignment: 1)
        defer { storage.deallocate() }
        let argv = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: arguments.count)
        defer { argv.deallocate() }
        let lengths = UnsafeMutablePointer<Int>.allocate(capacity: arguments.count)
        defer { lengths.deallocate() }
        var offset = 0
        for (index, argument) in arguments.enumerated() {
            let start = storage.baseAddress! + offset
            argument.bytes.withUnsafeBytes { source in
                if let base = source.baseAddress { start.copyMemory(from: base, byteCount: source.count) }
            }
            argv[index] = UnsafePointer(start.assumingMemoryBound(to: CChar.self))
            lengths[index] = argument.bytes.count
            offset += argument.bytes.count
        }
        return body(Int32(arguments.count), argv, lengths)
    }

    /// Copies a hiredis reply tree into a ``RedisReply`` (the caller frees the C reply).
    static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        func bytes() -> [UInt8] {
            guard let str = r.str, r.len > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: r.len))
        }
        switch r.type {
        case REDIS_REPLY_STRING:
            return .bulkString(bytes())
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(r.integer))
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(r.elements)
            for index in 0..<r.elements {
                if let element = r.element[index] { elements.append(convert(element)) } else { elements.append(.null) }
            }
            return .array(elements)
        default:
            return .error("unknown hiredis reply type \(r.type)")
        }
    }

    /// Parses raw RESP2 bytes with hiredis' own reader: the same code path as replies read
    /// from a socket. Returns the complete replies found; throws on a protocol error.
    static func parse(resp: [UInt8]) throws(RedisError) -> [RedisReply] {
        guard let reader = redisReaderCreate() else { throw RedisError(kind: .protocol, message: "cannot allocate a hiredis reader") }
        defer { redisReaderFree(reader) }
        let fed = resp.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { redisReaderFeed(reader, $0.baseAddress, buffer.count) }
        }
        guard fed == REDIS_OK else { throw RedisError(kind: .protocol, message: "hiredis reader rejected the input") }
        var replies: [RedisReply] = []
        while true {
            var raw: UnsafeMutableRawPointer? = nil
            if redisReaderGetReply(reader, &raw) != REDIS_OK {
                let message = withUnsafeBytes(of: reader.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                throw RedisError(kind: .protocol, message: "invalid RESP: \(message)")
            }
            guard let raw else { return replies }
            replies.append(convert(raw.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
    }

    static func contextError(_ ctx: UnsafeMutablePointer<redisContext>, doing action: String) -> RedisError {
        let code = ctx.pointee.err
        let text = withUnsafeBytes(of: ctx.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let lowered = text.lowercased()
        if code == REDIS_ERR_IO && (lowered.contains("temporarily unavailable") || lowered.contains("timed out") || lowered.contains("timeout")) {
            return RedisError(kind: .timeout, message: "timed out while \(action): \(text)")
        }
        switch code {
        case REDIS_ERR_PROTOCOL:
            return RedisError(kind: .protocol, message: "protocol error while \(action): \(text)")
        default:
            return RedisError(kind: .connection, message: "connection failed while \(action): \(text.isEmpty ? "unknown error \(code)" : text)")
        }
    }
}

private func makeTimeval(_ duration: Duration) -> timeval {
    let (seconds, attoseconds) = duration.components
    return timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
}
