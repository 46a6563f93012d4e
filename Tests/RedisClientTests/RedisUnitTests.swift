import Testing
@testable import RedisClient

@Suite("RedisConfiguration URL parsing")
struct RedisConfigurationTests {
    @Test func minimalURL() throws {
        let config = try RedisConfiguration(url: "redis://localhost")
        #expect(config.host == "localhost")
        #expect(config.port == 6379)
        #expect(config.password == nil)
        #expect(config.username == nil)
        #expect(config.database == 0)
    }

    @Test func fullURL() throws {
        let config = try RedisConfiguration(url: "redis://:p%40ss%3Aword@127.0.0.1:6390/3")
        #expect(config.host == "127.0.0.1")
        #expect(config.port == 6390)
        #expect(config.password == "p@ss:word")
        #expect(config.username == nil)
        #expect(config.database == 3)
    }

    @Test func aclUserAndIPv6() throws {
        let config = try RedisConfiguration(url: "redis://app:secret@[::1]:7000/0")
        #expect(config.host == "::1")
        #expect(config.port == 7000)
        #expect(config.username == "app")
        #expect(config.password == "secret")
    }

    @Test func barePasswordAndTrailingSlash() throws {
        let config = try RedisConfiguration(url: "REDIS://secret@h:1/")
        #expect(config.password == "secret")
        #expect(config.database == 0)
        #expect(config.port == 1)
    }

    @Test(arguments: [
        ("http://localhost", "scheme"),
        ("rediss://localhost", "TLS"),
        ("redis://", "host is missing"),
        ("redis://:pw@:6379", "host is missing"),
        ("redis://h:0", "port '0'"),
        ("redis://h:70000", "port '70000'"),
        ("redis://h:abc", "port 'abc'"),
        ("redis://h/x", "database 'x'"),
        ("redis://h/-1", "database '-1'"),
        ("redis://h?db=1", "query strings"),
        ("redis://[::1", "closing ']'"),
        ("redis://:bad%zz@h", "percent-encoding"),
    ])
    func rejectsBadURLs(url: String, expected: String) {
        do {
            _ = try RedisConfiguration(url: url)
            Issue.record("accepted \(url)")
        } catch {
            #expect(error.kind == .configuration)
            #expect(error.message.contains(expected), "\(error.message)")
            #expect(!error.isRetriable)
        }
    }

    @Test func errorMessagesRedactThePassword() {
        do {
            _ = try RedisConfiguration(url: "redis://:topsecret@h:99999")
            Issue.record("accepted a bad port")
        } catch {
            #expect(!error.message.contains("topsecret"))
            #expect(error.message.contains("redis://:***@h:99999"))
        }
    }

    @Test func validateRejectsBadValues() {
        var config = RedisConfiguration()
        config.poolSize = 0
        #expect(throws: RedisError.self) { try config.validate() }
        config = RedisConfiguration(commandTimeout: .zero)
        #expect(throws: RedisError.self) { try config.validate() }
        #expect(throws: Never.self) { try RedisConfiguration().validate() }
    }
}

@Suite("RESP reply parsing through hiredis' reader")
struct RedisReplyParsingTests {
    func parse(_ text: String) throws -> [RedisReply] {
        try HiredisConnection.parse(resp: Array(text.utf8))
    }

    @Test func scalars() throws {
        #expect(try parse("+OK\r\n") == [.status("OK")])
        #expect(try parse(":-42\r\n") == [.integer(-42)])
        #expect(try parse("$5\r\nhello\r\n") == [.bulkString(Array("hello".utf8))])
        #expect(try parse("$0\r\n\r\n") == [.bulkString([])])
        #expect(try parse("$-1\r\n") == [.null])
        #expect(try parse("*-1\r\n") == [.null])
        #expect(try parse("-WRONGTYPE Operation against a key\r\n") == [.error("WRONGTYPE Operation against a key")])
    }

    @Test func binarySafeBulkString() throws {
        let bytes: [UInt8] = Array("$4\r\n".utf8) + [0, 13, 10, 255] + Array("\r\n".utf8)
        #expect(try HiredisConnection.parse(resp: bytes) == [.bulkString([0, 13, 10, 255])])
    }

    @Test func nestedArraysAndSeveralReplies() throws {
        let replies = try parse("*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n+x\r\n:7\r\n")
        #expect(replies == [
            .array([.bulkString([97]), .array([.integer(1), .null]), .status("x")]),
            .integer(7),
        ])
    }

    @Test func incompleteInputYieldsNothingYet() throws {
        #expect(try parse("$5\r\nhel") == [])
    }

    @Test func protocolErrorIsReported() {
        #expect(throws: RedisError.self) { try parse("?what\r\n") }
    }

    @Test func accessors() {
        let reply = RedisReply.array([.bulkString(Array("12".utf8)), .status("OK"), .integer(5), .null, .error("ERR x")])
        let elements = reply.array!
        #expect(elements[0].string == "12")
        #expect(elements[0].int == 12)
        #expect(elements[1].string == "OK")
        #expect(elements[2].int == 5)
        #expect(elements[2].string == "5")
        #expect(elements[3].isNull)
        #expect(elements[4].errorMessage == "ERR x")
        #expect(throws: RedisError.self) { try elements[4].checked() }
        #expect(RedisReply.bulkString([0xff]).string == nil)
        #expect(RedisReply.integer(1).array == nil)
    }

    @Test func retriableServerErrors() {
        #expect(RedisError(kind: .server, message: "LOADING Redis is loading").isRetriable)
        #expect(RedisError(kind: .server, message: "BUSY script").isRetriable)
        #expect(!RedisError(kind: .server, message: "WRONGTYPE Operation").isRetriable)
        #expect(!RedisError(kind: .server, message: "ERR LOADINGX").isRetriable)
        #expect(RedisError(kind: .connection, message: "reset").isRetriable)
        #expect(RedisError(kind: .timeout, message: "t").isRetriable)
        #expect(!RedisError(kind: .authentication, message: "WRONGPASS").isRetriable)
        #expect(!RedisError(kind: .closed, message: "closed").isRetriable)
    }

    @Test func argumentEncoding() {
        #expect(RedisArgument(12).bytes == Array("12".utf8))
        #expect(RedisArgument(-1.5).bytes == Array("-1.5".utf8))
        #expect(RedisArgument(Double.infinity).bytes == Array("+inf".utf8))
        let argv: [RedisArgument] = ["ZADD", 5, RedisArgument(bytes: [0, 1])]
        #expect(argv.map(\.bytes) == [Array("ZADD".utf8), Array("5".utf8), [0, 1]])
    }
}

@Suite("Pipeline queue state machine")
struct PipelineQueueTests {
    @Test func theFirstCallerSchedulesOneDrainThatTakesEveryoneQueued() {
        var queue = PipelineQueue<String>()
        guard case .scheduleDrain = queue.enqueue("a") else { Issue.record("expected scheduleDrain"); return }
        guard case .none = queue.enqueue("b") else { Issue.record("expected none"); return }
        guard case .none = queue.enqueue("c") else { Issue.record("expected none"); return }
        #expect(queue.take() == ["a", "b", "c"])
        // Arrivals while the drain writes are taken by the same drain, without a new schedule.
        guard case .none = queue.enqueue("d") else { Issue.record("expected none"); return }
        #expect(queue.take() == ["d"])
        #expect(queue.take() == [])
        // The drain ended: the next caller schedules a new one.
        guard case .scheduleDrain = queue.enqueue("e") else { Issue.record("expected scheduleDrain"); return }
        #expect(queue.take() == ["e"])
    }

    @Test func closeLetsTheScheduledDrainFinishAndFailsLaterCallers() {
        var queue = PipelineQueue<String>()
        _ = queue.enqueue("a")
        queue.close()
        guard case .fail = queue.enqueue("b") else { Issue.record("expected fail"); return }
        #expect(queue.take() == ["a"])
        #expect(queue.take() == [])
        #expect(queue.isClosed)
    }

    @Test func aDrainThatCannotRunHandsBackEveryone() {
        var queue = PipelineQueue<String>()
        _ = queue.enqueue("a")
        _ = queue.enqueue("b")
        #expect(queue.abandon() == ["a", "b"])
        guard case .scheduleDrain = queue.enqueue("c") else { Issue.record("expected scheduleDrain"); return }
    }
}
