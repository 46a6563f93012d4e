import AuditEvents
import AuditPipeClient
import AuditPipeProto
import ClickHouseHTTP
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
package import Logging
import RedisClient
import Synchronization

/// `auditpipe-tools bench recent`: RecentEvents of a running server for a user with 100 events, against
/// the server's own Redis read of them (`ZRANGE <key> -100 -1`, run by `redis-benchmark` with the
/// same number of requests and connections, in the same run); then the write side
/// (``RecentWriteBenchmark``): freshness at 5,000 events/s and Redis CPU per event written.
///
/// Starts `auditpipe serve` (``AuditPipeExecutable``) on its own ports, topic and sink group, ingests
/// 100 events for one new user through the Swift client, waits until RecentEvents returns all
/// 100, then measures: the figures with a gRPC client that counts each answer's events from its
/// bytes (redis-benchmark does not parse the members either), the notes also with the generated
/// client, which decodes every event.
package struct RecentBenchmark: Sendable {
    /// Requests per side (after 500 warm-up requests).
    package var requests: Int = 50_000
    /// Requests in flight (gRPC) / connections (redis-benchmark).
    package var concurrency: Int = 16
    package var grpcAddress = "127.0.0.1:31062"
    package var httpAddress = "127.0.0.1:8192"
    /// Ingest rate of the freshness and Redis CPU measurements (events/s).
    package var rate: Double = 5000
    /// How long the freshness load runs.
    package var freshnessDuration: Duration = .seconds(30)
    /// Events of the Redis CPU measurement.
    package var cpuEvents = 50_000
    /// Redis' pid file, to read its CPU time from /proc.
    package var redisPIDFile: String?
    package var logger: Logger

    package init(logger: Logger) { self.logger = logger }

    package func run(environment: StoreBenchEnvironment) async throws -> [BenchResult] {
        guard let redisURL = environment.redisURL else { throw BenchSetupError("AUDITPIPE_REDIS_URL is not set") }
        let redisConfiguration = try RedisConfiguration(url: redisURL)
        let id = benchRunID()
        let topic = "bench_recent_\(id)"
        let database = "bench_recent_\(id)"
        try await environment.createTopic(topic, partitions: 3)
        try await environment.createTopic(topic + ".dlq", partitions: 1)
        let server = try await BenchServerProcess(
            settings: .init(
                grpcAddress: grpcAddress, httpAddress: httpAddress, eventsTopic: topic, deadLetterTopic: topic + ".dlq",
                sinkGroup: "bench-recent-\(id)", clickHouseDatabase: database
            ),
            environment: environment
        )
        let redis = try RedisClient(configuration: redisConfiguration)
        let tenant = "bench-recent-\(id)"
        let actor = "user-1"
        do {
            let results = try await withGRPCClient(
                transport: try HTTP2ClientTransport.Posix(target: .dns(host: server.grpcHost, port: server.grpcPort), transportSecurity: .plaintext)
            ) { grpc in
                let service = Auditpipe_V1_AuditService.Client(wrapping: grpc)
                try await seed(server: server, service: service, tenant: tenant, actor: actor)
                let keys = try await findKeys(redis: redis, tenant: tenant)
                do {
                    let pid = redisPIDFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
                        .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                    var results = try await measure(
                        grpc: grpc, tenant: tenant, actor: actor, keys: keys, redis: redisConfiguration,
                        processes: CPUProcesses(server: server.processIdentifier, redis: pid)
                    )
                    let writes = RecentWriteBenchmark(rate: rate, duration: freshnessDuration, cpuEvents: cpuEvents, redisPID: pid)
                    results += try await writes.run(server: server, service: service, redis: redis, keyPrefix: "auditpipe:recent:", run: id)
                    await delete(keys, redis: redis)
                    return results
                } catch {
                    await delete(keys, redis: redis)
                    throw error
                }
            }
            await cleanUp(redis: redis, environment: environment, database: database)
            await server.stop()
            return results
        } catch {
            await cleanUp(redis: redis, environment: environment, database: database)
            await server.stop()
            throw error
        }
    }

    private func delete(_ keys: [String], redis: RedisClient) async {
        if !keys.isEmpty { _ = try? await redis.send([RedisArgument("DEL")] + keys.map { RedisArgument($0) }) }
    }

    private func cleanUp(redis: RedisClient, environment: StoreBenchEnvironment, database: String) async {
        await redis.close()
        if let admin = try? ClickHouseAdmin(environment: environment) { await admin.drop(database) }
    }

    private func request(tenant: String, actor: String) -> Auditpipe_V1_RecentEventsRequest {
        var request = Auditpipe_V1_RecentEventsRequest()
        request.tenantID = tenant
        request.actorID = actor
        request.limit = 100
        return request
    }

    /// Ingests 100 events for (tenant, actor) and waits until RecentEvents returns them all.
    private func seed(server: BenchServerProcess, service: Auditpipe_V1_AuditService.Client<HTTP2ClientTransport.Posix>, tenant: String, actor: String) async throws {
        let client = try AuditPipeClient(configuration: AuditPipeClientConfiguration(host: server.grpcHost, port: server.grpcPort))
        let connections = Task { try await client.run() }
        defer { client.shutdown(); connections.cancel() }
        let now = UnixTime.nowMilliseconds()
        var events: [AuditEvent] = []
        for index in 0..<100 {
            let isLogin = index % 3 == 0
            let time: Int64 = now - Int64(100 - index) * 1000
            let metadata: [String: String] = ["ip": "10.0.0.\(index)", "client": "bench"]
            events.append(AuditEvent(
                eventID: "\(tenant)-\(index)", tenantID: tenant, actorID: actor, eventType: isLogin ? "auth" : "data_change",
                resource: "doc/\(index)", action: isLogin ? "login" : "update", timestampMilliseconds: time, metadata: metadata
            ))
        }
        let results: [IngestResult] = try await client.ingest(events)
        if let refused = results.first(where: { !$0.isDurable }) {
            throw BenchSetupError("seed events were not acknowledged: \(refused)")
        }
        let deadline = ContinuousClock.now + .seconds(90)
        while true {
            let response: Auditpipe_V1_RecentEventsResponse = try await service.recentEvents(request(tenant: tenant, actor: actor))
            if response.events.count == 100 { return }
            guard ContinuousClock.now < deadline else {
                throw BenchSetupError("RecentEvents returned \(response.events.count) of 100 events after 90 s; see the server log")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// The keys of the tenant's only user, found by SCAN so the benchmark does not depend on the
    /// key layout.
    private func findKeys(redis: RedisClient, tenant: String) async throws -> [String] {
        var cursor = "0"
        var found: [String] = []
        repeat {
            let reply = try await redis.send(["SCAN", RedisArgument(cursor), "MATCH", RedisArgument("*\(tenant)*"), "COUNT", 1000]).checked()
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string else {
                throw BenchSetupError("unexpected SCAN reply from Redis")
            }
            cursor = next
            found += (parts[1].array ?? []).compactMap(\.string)
        } while cursor != "0"
        return found.sorted()
    }

    /// The processes whose CPU time the read figures report.
    struct CPUProcesses {
        var server: Int32
        var redis: Int32?

        /// utime + stime of the server, Redis (nil without its pid) and this process, in seconds.
        func sample() -> (server: Double?, redis: Double?, client: Double?) {
            (ProcessCPU.seconds(of: server), redis.flatMap(ProcessCPU.seconds(of:)), ProcessCPU.seconds(of: getpid()))
        }
    }

    private func measure(
        grpc: GRPCClient<HTTP2ClientTransport.Posix>, tenant: String, actor: String, keys: [String],
        redis: RedisConfiguration, processes: CPUProcesses
    ) async throws -> [BenchResult] {
        guard keys.count == 1, let key = keys.first else {
            throw BenchSetupError("expected one sorted set for \(tenant) in Redis, found \(keys)")
        }
        let message = request(tenant: tenant, actor: actor)
        let service = Auditpipe_V1_AuditService.Client(wrapping: grpc)
        // The figures: a client that counts the events in each answer from its bytes (tags and
        // lengths), as redis-benchmark reads its replies without parsing the members: what the
        // server answers. Then, for the notes, the generated client, which decodes every event.
        let counting: @Sendable () async throws -> Int = {
            try await grpc.unary(
                request: ClientRequest(message: message),
                descriptor: Auditpipe_V1_AuditService.Method.RecentEvents.descriptor,
                serializer: ProtobufSerializer<Auditpipe_V1_RecentEventsRequest>(),
                deserializer: ChunkEventCount(),
                options: .defaults
            ) { try $0.message }
        }
        let decoding: @Sendable () async throws -> Int = {
            let response: Auditpipe_V1_RecentEventsResponse = try await service.recentEvents(message)
            return response.events.count
        }
        for _ in 0..<500 { _ = try await counting(); _ = try await decoding() }
        let before = processes.sample()
        let (ours, elapsed) = try await run(counting)
        let after = processes.sample()
        let (decoded, decodedElapsed) = try await run(decoding)

        let redisBefore = processes.sample().redis
        let read = try await RedisBenchmarkRun.run(arguments: RedisBenchmarkRun.arguments(
            host: redis.host, port: redis.port, password: redis.password, requests: requests, connections: concurrency,
            command: ["ZRANGE", key, "-100", "-1"]
        ))
        let redisAfter = processes.sample().redis
        let throughput = Double(requests) / elapsed
        func ms(_ nanoseconds: UInt64) -> String { BenchFormat.value(LatencySummary.milliseconds(nanoseconds)) }
        /// Microseconds of CPU per request between two samples.
        func perRequest(_ from: Double?, _ to: Double?) -> Double? {
            guard let from, let to else { return nil }
            return (to - from) / Double(requests) * 1e6
        }
        func us(_ value: Double?) -> String { value.map { BenchFormat.value($0) + " us" } ?? "n/a (no pid)" }
        let serverCPU = perRequest(before.server, after.server)
        let peerRedisCPU = perRequest(redisBefore, redisAfter)
        let notes = """
            \(requests) requests, \(concurrency) in flight, user with 100 events; ours: gRPC RecentEvents (limit 100) over one HTTP/2 \
            connection from this process, each answer's events counted from its bytes: p50 \(ms(ours.p50Nanoseconds)) ms p99 \
            \(ms(ours.p99Nanoseconds)) ms max \(ms(ours.maxNanoseconds)) ms; with the generated client decoding all 100 events of \
            every answer: \(BenchFormat.value(Double(requests) / decodedElapsed)) req/s, p50 \(ms(decoded.p50Nanoseconds)) ms p99 \
            \(ms(decoded.p99Nanoseconds)) ms; peer: the server's own Redis read of the same 100 events, redis-benchmark -n \(requests) \
            -c \(concurrency) ZRANGE <key> -100 -1 (the server pipelines an EXISTS of the keys of the layout before with it), p50 \
            \(BenchFormat.value(read.p50Milliseconds)) ms p99 \(BenchFormat.value(read.p99Milliseconds)) ms. CPU per request \
            (utime + stime from /proc over the counting run): server \(us(serverCPU)), Redis \(us(perRequest(before.redis, after.redis))), \
            this client \(us(perRequest(before.client, after.client))); Redis over redis-benchmark's run \(us(peerRedisCPU))
            """
        return [
            BenchResult(
                benchmark: "recent", figure: "recent_events_throughput", value: throughput, unit: "req/s",
                peer: "redis-benchmark ZRANGE -100 -1 (the server's read)", peerValue: read.requestsPerSecond,
                target: ">= 0.5x peer", met: throughput >= 0.5 * read.requestsPerSecond, notes: notes
            ),
            BenchResult(
                benchmark: "recent", figure: "recent_events_p99", value: LatencySummary.milliseconds(ours.p99Nanoseconds), unit: "ms",
                peer: "redis-benchmark ZRANGE -100 -1 (the server's read)", peerValue: read.p99Milliseconds,
                target: "<= 3x peer", met: LatencySummary.milliseconds(ours.p99Nanoseconds) <= 3 * read.p99Milliseconds,
                notes: "see recent_events_throughput"
            ),
            BenchResult(
                benchmark: "recent", figure: "recent_events_server_cpu_us_per_request", value: serverCPU ?? 0, unit: "us",
                peer: "Redis CPU per request of the same read by redis-benchmark", peerValue: peerRedisCPU,
                notes: "the server's CPU (utime + stime from /proc) per RecentEvents request of the counting run; reported, no target: see recent_events_throughput"
            ),
        ]
    }

    /// `requests` calls of `call` with `concurrency` in flight; each must answer 100 events.
    private func run(_ call: @escaping @Sendable () async throws -> Int) async throws -> (LatencySummary, elapsedSeconds: Double) {
        let counters = RecentCounters()
        let total = requests
        let clock = ContinuousClock()
        let start = clock.now
        let histogram = try await withThrowingTaskGroup(of: LatencyHistogram.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var histogram = LatencyHistogram()
                    while counters.take() < total {
                        let sent = clock.now
                        let events = try await call()
                        histogram.record(clock.now - sent)
                        if events != 100 { counters.wrongAnswer() }
                    }
                    return histogram
                }
            }
            var merged = LatencyHistogram()
            for try await part in group { merged.merge(part) }
            return merged
        }
        let elapsed = (clock.now - start).seconds
        guard let summary = histogram.summary else { throw BenchSetupError("no RecentEvents requests were measured") }
        guard counters.wrongAnswers == 0 else {
            throw BenchSetupError("\(counters.wrongAnswers) RecentEvents answers did not hold 100 events; the measurement is not valid")
        }
        return (summary, elapsed)
    }
}

/// The request counter and the count of wrong answers, shared by the workers.
final class RecentCounters: Sendable {
    private let next = Atomic<Int>(0)
    private let wrong = Atomic<Int>(0)

    /// The index of the next request (the caller stops at the total).
    func take() -> Int { next.add(1, ordering: .relaxed).oldValue }
    func wrongAnswer() { wrong.add(1, ordering: .relaxed) }
    var wrongAnswers: Int { wrong.load(ordering: .relaxed) }
}

/// Drops a benchmark's database with a short-lived client.
struct ClickHouseAdmin {
    let client: ClickHouseHTTP.ClickHouseClient

    init(environment: StoreBenchEnvironment) throws {
        client = try ClickHouseHTTP.ClickHouseClient(configuration: .init(
            url: environment.clickHouseURL, user: environment.clickHouseUser, password: environment.clickHousePassword
        ))
    }

    func drop(_ database: String) async {
        _ = try? await client.execute("DROP DATABASE IF EXISTS `\(database)`")
        try? await client.shutdown()
    }
}
