import AuditPipeTestSupport
import Testing
@testable import RedisClient

/// Against the real Redis server of `Deploy/dev/up` (AUDITPIPE_REDIS_URL).
@Suite("Redis integration", .enabled(if: TestService.available(.redis)))
struct RedisIntegrationTests {
    func configuration(poolSize: Int = 2, commandTimeout: Duration = .seconds(2)) throws -> RedisConfiguration {
        try RedisConfiguration(url: try TestService.redis.value, commandTimeout: commandTimeout, poolSize: poolSize)
    }

    @Test func zaddZrevrangeAndCappedPipeline() async throws {
        let redis = try await RedisClient.connect(configuration: try configuration())
        let key = RedisArgument(TestEnvironment.uniqueName("test:recent"))
        do {
            // 130 events through the per-user pipeline: ZADD + ZREMRANGEBYRANK + EXPIRE.
            for index in 0..<130 {
                let replies = try await redis.pipeline([
                    ["ZADD", key, RedisArgument(1_700_000_000_000 + index), RedisArgument("event-\(index)")],
                    ["ZREMRANGEBYRANK", key, 0, -101],
                    ["EXPIRE", key, 600],
                ])
                #expect(replies.count == 3)
                #expect(replies[0] == .integer(1))
                #expect(replies[1] == .integer(index >= 100 ? 1 : 0))
                #expect(replies[2] == .integer(1))
            }
            #expect(try await redis.send(["ZCARD", key]) == .integer(100))
            let newest = try await redis.send(["ZREVRANGE", key, 0, 2, "WITHSCORES"])
            #expect(newest.array?.compactMap(\.string) == [
                "event-129", "1700000000129", "event-128", "1700000000128", "event-127", "1700000000127",
            ])
            let oldest = try await redis.send(["ZRANGE", key, 0, 0])
            #expect(oldest.array?.first?.string == "event-30")
            let ttl = try await redis.send(["TTL", key])
            #expect((1...600).contains(ttl.int ?? -1))
        } catch {
            _ = try? await redis.send(["DEL", key])
            await redis.close()
            throw error
        }
        #expect(try await redis.send(["DEL", key]) == .integer(1))
        await redis.close()
    }

    @Test func binaryValuesRoundTrip() async throws {
        let redis = try RedisClient(configuration: try configuration(poolSize: 1))
        let key = RedisArgument(TestEnvironment.uniqueName("test:bin"))
        let value: [UInt8] = (0...255).map { UInt8($0) } + [0, 0, 13, 10]
        #expect(try await redis.send(["SET", key, RedisArgument(bytes: value), "EX", 60]) == .status("OK"))
        #expect(try await redis.send(["GET", key]) == .bulkString(value))
        #expect(try await redis.send(["GET", RedisArgument(TestEnvironment.uniqueName("test:missing"))]) == .null)
        _ = try await redis.send(["DEL", key])
        await redis.close()
    }

    @Test func serverErrorsAreThrownBySendAndReturnedByPipeline() async throws {
        let redis = try RedisClient(configuration: try configuration(poolSize: 1))
        let key = RedisArgument(TestEnvironment.uniqueName("test:err"))
        _ = try await redis.send(["SET", key, "x", "EX", 60])
        do {
            _ = try await redis.send(["ZADD", key, 1, "m"])
            Issue.record("ZADD on a string key succeeded")
        } catch let error as RedisError {
            #expect(error.kind == .server)
            #expect(error.message.hasPrefix("WRONGTYPE"))
            #expect(!error.isRetriable)
        }
        let replies = try await redis.pipeline([["ZADD", key, 1, "m"], ["GET", key]])
        #expect(replies[0].errorMessage?.hasPrefix("WRONGTYPE") == true)
        #expect(replies[1] == .bulkString(Array("x".utf8)))
        _ = try await redis.send(["DEL", key])
        await redis.close()
    }

    @Test func reconnectsAfterClientKillAndReportsTheFailedCommand() async throws {
        let redis = try await RedisClient.connect(configuration: try configuration(poolSize: 1))
        let admin = try await RedisClient.connect(configuration: try configuration(poolSize: 1))
        let firstID = try #require(try await redis.send(["CLIENT", "ID"]).int)
        #expect(try await admin.send(["CLIENT", "KILL", "ID", RedisArgument(firstID)]) == .integer(1))

        // The command after the kill fails: reported, retriable, never silently dropped.
        do {
            _ = try await redis.send(["PING"])
            Issue.record("PING on a killed connection succeeded")
        } catch let error as RedisError {
            #expect(error.kind == .connection, "\(error)")
            #expect(error.isRetriable)
        }
        // The next command reconnects (AUTH/SELECT again) on a new server-side client.
        #expect(try await redis.send(["PING"]) == .status("PONG"))
        let secondID = try #require(try await redis.send(["CLIENT", "ID"]).int)
        #expect(secondID != firstID)
        await redis.close()
        await admin.close()
    }

    @Test func commandTimeoutIsRetriableAndTheConnectionRecovers() async throws {
        let redis = try await RedisClient.connect(configuration: try configuration(poolSize: 1, commandTimeout: .milliseconds(300)))
        let key = RedisArgument(TestEnvironment.uniqueName("test:blpop"))
        do {
            _ = try await redis.send(["BLPOP", key, 2])
            Issue.record("BLPOP returned before the command timeout")
        } catch let error as RedisError {
            #expect(error.kind == .timeout, "\(error)")
            #expect(error.isRetriable)
        }
        #expect(try await redis.send(["PING"]) == .status("PONG"))
        await redis.close()
    }

    /// Many callers at once on one connection: their pipelines are written together, and each
    /// gets its own replies, in its own order, with server errors where they belong.
    @Test func concurrentCallersArePipelinedTogetherAndGetTheirOwnReplies() async throws {
        let redis = try await RedisClient.connect(configuration: try configuration(poolSize: 1))
        let prefix = TestEnvironment.uniqueName("test:batch")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<50 {
                group.addTask {
                    let key = RedisArgument("\(prefix):\(caller)")
                    let replies = try await redis.pipeline([
                        ["SET", key, RedisArgument(caller)], ["GET", key], ["INCR", key], ["LPUSH", key, "x"], ["DEL", key],
                    ])
                    #expect(replies.count == 5)
                    #expect(replies[1].int == Int64(caller))
                    #expect(replies[2].int == Int64(caller + 1))
                    #expect(replies[3].errorMessage?.hasPrefix("WRONGTYPE") == true)
                    #expect(replies[4].int == 1)
                }
            }
            try await group.waitForAll()
        }
        await redis.close()
    }

    @Test func poolServesConcurrentCallers() async throws {
        let redis = try await RedisClient.connect(configuration: try configuration(poolSize: 3))
        let key = RedisArgument(TestEnvironment.uniqueName("test:incr"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 {
                group.addTask { for _ in 0..<10 { _ = try await redis.send(["INCR", key]) } }
            }
            try await group.waitForAll()
        }
        #expect(try await redis.send(["GET", key]).int == 200)
        _ = try await redis.send(["DEL", key])
        await redis.close()
        do {
            _ = try await redis.send(["PING"])
            Issue.record("a closed client accepted a command")
        } catch let error as RedisError {
            #expect(error.kind == .closed)
        }
    }

    @Test func wrongPasswordFailsAtConnectWithAClearError() async throws {
        var config = try configuration(poolSize: 1)
        config.password = "definitely-wrong-\(UInt32.random(in: 0 ... .max))"
        do {
            let client = try await RedisClient.connect(configuration: config)
            await client.close()
            Issue.record("connected with a wrong password")
        } catch let error as RedisError {
            #expect(error.kind == .authentication, "\(error)")
            #expect(!error.isRetriable)
        }
    }

    @Test func connectionRefusedIsRetriable() async throws {
        let config = RedisConfiguration(host: "127.0.0.1", port: 1, connectTimeout: .milliseconds(500), poolSize: 1)
        do {
            let client = try await RedisClient.connect(configuration: config)
            await client.close()
            Issue.record("connected to port 1")
        } catch let error as RedisError {
            #expect(error.kind == .connection, "\(error)")
            #expect(error.isRetriable)
        }
    }
}

@Suite("Redis pipeline validation", .enabled(if: TestService.available(.redis)))
struct RedisPipelineValidationTests {
    @Test func anEmptyCommandRejectsThePipelineWithoutSendingAnything() async throws {
        let redis = try RedisClient(configuration: try RedisConfiguration(url: try TestService.redis.value, poolSize: 1))
        let key = RedisArgument(TestEnvironment.uniqueName("test:empty"))
        do {
            _ = try await redis.pipeline([["SET", key, "1", "EX", 60], []])
            Issue.record("an empty command was accepted")
        } catch let error as RedisError {
            #expect(error.kind == .configuration)
        }
        // Nothing of the rejected pipeline was sent, and replies stay in step.
        #expect(try await redis.send(["GET", key]) == .null)
        #expect(try await redis.send(["PING"]) == .status("PONG"))
        await redis.close()
    }
}
