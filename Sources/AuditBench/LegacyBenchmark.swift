import AsyncHTTPClient
package import AuditEvents
import AuditPipeClient
import Foundation
import LegacyMapping
import NIOCore
import NIOHTTP1

/// `auditpipe-tools bench legacy`: what it runs against, and how hard.
package struct LegacyBenchmarkConfiguration: Sendable {
    /// AuditPipe's gRPC address (the canonical ceiling).
    package var grpcHost = "127.0.0.1"
    package var grpcPort = 50051
    /// An API key, when the server requires one (sent to both intakes).
    package var apiKey: String?
    /// AuditPipe's HTTP base URL, e.g. `http://127.0.0.1:8080` (`POST /v1/legacy/{source}`).
    package var httpBaseURL = "http://127.0.0.1:8080"
    /// The mapping rules the server runs with (the ceiling's events are mapped with them up front).
    package var rulesPath = "Deploy/legacy-rules.yaml"
    /// The legacy source whose format is generated. Only `auth-gateway` (flat snake_case,
    /// ISO-8601, a status field mapped to type and action) has a generator.
    package var source = "auth-gateway"
    /// How long each figure runs.
    package var durationSeconds: Double = 20
    /// Events per request (legacy POST body and IngestBatch alike).
    package var batchSize = 200
    /// Concurrent requests (both sides).
    package var concurrency = 8
    /// NDJSON (true) or a JSON array (false) bodies.
    package var ndjson = true
    /// Distinct payloads generated up front and cycled (memory stays bounded).
    package var payloadPool = 64
    /// Warm-up of each intake before it is measured.
    package var warmupSeconds: Double = 2

    package init() {}

    /// Checks the settings; the error says which flag to fix.
    package func validate() throws(BenchError) {
        if source != "auth-gateway" { throw BenchError("--source: only `auth-gateway` has a generator in this benchmark") }
        if !(durationSeconds > 0) { throw BenchError("--duration must be positive") }
        if batchSize < 1 || batchSize > 10_000 { throw BenchError("--batch-size must be 1...10000 (the intake's and IngestBatch's limit)") }
        if concurrency < 1 || payloadPool < 1 { throw BenchError("--concurrency and --payload-pool must be at least 1") }
    }
}

/// A legacy request body and the canonical events the rules map it to.
package struct LegacyBenchPayload: Sendable {
    package var body: [UInt8]
    package var canonical: [AuditEvent]
}

/// `auth-gateway` records (the shape of Tests/LegacyMappingTests/Corpus/auth-gateway), deterministic.
package enum LegacyAuthGatewayGenerator {
    /// `count` records as JSON object texts; event ids are `"<runID>-<first + i>"`.
    package static func records(first: Int, count: Int, runID: String, nowMilliseconds: Int64, seed: UInt64 = 0xA17) -> [String] {
        var random = SplitMix64(seed: seed &+ UInt64(first))
        let statuses = ["login_ok", "login_ok", "login_ok", "logout", "login_failed", "mfa_challenge"]
        return (0..<count).map { offset in
            let status = statuses[Int(random.next() % UInt64(statuses.count))]
            let ip = "10.\(random.next() % 256).\(random.next() % 256).\(random.next() % 256)"
            let timestamp = RFC3339.text(milliseconds: nowMilliseconds - Int64(count - offset))
            return "{\"event_id\":\(JSONText.string("\(runID)-\(first + offset)")),\"tenant_id\":\"tenant-\(random.next() % 20)\","
                + "\"user_id\":\"u-\(random.next() % 5000)\",\"status\":\"\(status)\",\"client_ip\":\"\(ip)\","
                + "\"user_agent\":\"Mozilla/5.0 (X11; Linux x86_64) bench/\(random.next() % 100)\",\"occurred_at\":\"\(timestamp)\"}"
        }
    }

    /// `records` as a request body: NDJSON lines or one JSON array.
    package static func body(_ records: [String], ndjson: Bool) -> [UInt8] {
        Array((ndjson ? records.joined(separator: "\n") + "\n" : "[" + records.joined(separator: ",") + "]").utf8)
    }
}

/// `auditpipe-tools bench legacy`: mapped events/s through `POST /v1/legacy/{source}` next to IngestBatch
/// with the same events already canonical (the ceiling), in one run.
package enum LegacyBenchmark {
    package static let ceilingName = "ingest-canonical"

    /// Generates the payloads and maps each with the server's rules (so the ceiling sends exactly
    /// the canonical events the intake produces).
    package static func payloads(_ configuration: LegacyBenchmarkConfiguration, runID: String) throws -> [LegacyBenchPayload] {
        let rules: LegacyRuleSet
        do {
            rules = try LegacyRuleSet.load(contentsOfFile: configuration.rulesPath)
        } catch {
            throw BenchError("cannot load the mapping rules \(configuration.rulesPath): \(error); pass the file the server runs with (--legacy-rules)")
        }
        guard let sourceRules = rules[source: configuration.source] else {
            throw BenchError("\(configuration.rulesPath) has no source `\(configuration.source)`")
        }
        let mapper = LegacyMapper(rules: sourceRules)
        let now = UnixTime.nowMilliseconds()
        return try (0..<configuration.payloadPool).map { index -> LegacyBenchPayload in
            let records = LegacyAuthGatewayGenerator.records(
                first: index * configuration.batchSize, count: configuration.batchSize, runID: runID, nowMilliseconds: now
            )
            let body = LegacyAuthGatewayGenerator.body(records, ndjson: configuration.ndjson)
            let canonical: [AuditEvent]
            switch mapper.mapPayload(body, receivedAtMilliseconds: now, nowMilliseconds: now) {
            case .failure(let refusal):
                throw BenchError("the generated payload is refused by the `\(configuration.source)` rules: \(refusal)")
            case .success(let items):
                canonical = try items.map { item -> AuditEvent in
                    switch item.result {
                    case .success(let event): return event
                    case .failure(let rejection): throw BenchError("a generated `\(configuration.source)` record does not map: \(rejection)")
                    }
                }
            }
            return LegacyBenchPayload(body: body, canonical: canonical)
        }
    }

    /// Runs both figures and returns them; `progress` receives a line per step.
    package static func run(
        _ configuration: LegacyBenchmarkConfiguration,
        progress: @escaping @Sendable (String) -> Void
    ) async throws -> [BenchResult] {
        try configuration.validate()
        let runID = "bench-\(UUIDv7.make())"
        let pool = try payloads(configuration, runID: runID)
        progress("\(pool.count) payloads of \(configuration.batchSize) `\(configuration.source)` events generated and mapped")

        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        let client = try AuditPipeClient(configuration: .init(host: configuration.grpcHost, port: configuration.grpcPort, apiKey: configuration.apiKey))
        let base = configuration.httpBaseURL.hasSuffix("/") ? String(configuration.httpBaseURL.dropLast()) : configuration.httpBaseURL
        let url = "\(base)/v1/legacy/\(configuration.source)"
        let post: @Sendable (Int) async -> SendOutcome = { index in
            await postLegacy(pool[index % pool.count], url: url, ndjson: configuration.ndjson, apiKey: configuration.apiKey, httpClient: httpClient)
        }
        let ingest: @Sendable (Int) async -> SendOutcome = { index in
            let events = pool[index % pool.count].canonical
            do {
                return try await client.ingestBatch(events).reduce(into: SendOutcome(succeeded: 0)) { total, answer in
                    let one = IngestBenchmark.outcome(of: answer)
                    total.succeeded += one.succeeded
                    total.failed += one.failed
                    if total.error == nil { total.error = one.error }
                }
            } catch {
                return .failure("IngestBatch failed: \(error)", count: events.count)
            }
        }
        let batch = configuration.batchSize
        do {
            let (legacy, ceiling) = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                defer { client.shutdown() }
                func measure(_ label: String, _ send: @escaping @Sendable (Int) async -> SendOutcome) async throws -> LoadMeasurement {
                    let warm = await LoadDriver.closedLoop(label: "warm-up", durationSeconds: configuration.warmupSeconds, concurrency: configuration.concurrency, batchSize: batch) { first, _ in
                        await send(first / batch)
                    }
                    guard warm.succeeded > 0 else {
                        throw BenchError("\(label): nothing was accepted during the warm-up: \(warm.firstError ?? "no answer")")
                    }
                    progress("\(label): \(configuration.concurrency) concurrent requests of \(batch) events, \(BenchFormat.value(configuration.durationSeconds)) s")
                    let measured = await LoadDriver.closedLoop(label: label, durationSeconds: configuration.durationSeconds, concurrency: configuration.concurrency, batchSize: batch) { first, _ in
                        await send(first / batch)
                    }
                    progress(IngestBenchmark.describe(measured))
                    return measured
                }
                let legacy = try await measure("legacy-http", post)
                let ceiling = try await measure(ceilingName, ingest)
                return (legacy, ceiling)
            }
            try await httpClient.shutdown()
            return results(legacy: legacy, ceiling: ceiling, configuration: configuration)
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
    }

    private static func postLegacy(_ payload: LegacyBenchPayload, url: String, ndjson: Bool, apiKey: String?, httpClient: HTTPClient) async -> SendOutcome {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: ndjson ? "application/x-ndjson" : "application/json")
        if let apiKey { request.headers.add(name: "authorization", value: "Bearer \(apiKey)") }
        request.body = .bytes(ByteBuffer(bytes: payload.body))
        struct Answer: Decodable {
            var accepted: Int
            var quarantined: Int
            var unavailable: Int
            var permission_denied: Int
        }
        let count = payload.canonical.count
        do {
            let response = try await httpClient.execute(request, timeout: .seconds(60))
            let body = try await response.body.collect(upTo: 64 * 1024 * 1024)
            guard response.status == .ok || response.status == .serviceUnavailable else {
                return .failure("POST \(url) answered \(response.status.code): \(String(buffer: body).prefix(300))", count: count)
            }
            let answer = try JSONDecoder().decode(Answer.self, from: Data(body.readableBytesView))
            let failed = count - answer.accepted
            return SendOutcome(
                succeeded: answer.accepted, failed: failed,
                error: failed == 0 ? nil : "\(answer.quarantined) quarantined, \(answer.unavailable) unavailable, \(answer.permission_denied) denied"
            )
        } catch {
            return .failure("POST \(url) failed: \(error)", count: count)
        }
    }

    /// The figures: mapped events/s and per-event request latency next to the canonical ceiling.
    package static func results(legacy: LoadMeasurement, ceiling: LoadMeasurement, configuration: LegacyBenchmarkConfiguration) -> [BenchResult] {
        let how = "\(configuration.concurrency) concurrent requests of \(configuration.batchSize) `\(configuration.source)` events (\(configuration.ndjson ? "NDJSON" : "JSON array")), \(BenchFormat.value(configuration.durationSeconds)) s; ceiling: IngestBatch of the same events mapped up front"
        func note(_ m: LoadMeasurement) -> String {
            var text = "\(m.label) \(m.succeeded)/\(m.sent) accepted in \(BenchFormat.fixed(m.elapsedSeconds, decimals: 1)) s"
            if m.failed > 0 { text += ", \(m.failed) not accepted (\(m.firstError?.prefix(200) ?? "?"))" }
            return text
        }
        var out = [
            BenchResult(
                benchmark: "legacy", figure: "mapped_throughput", value: legacy.throughput, unit: "events/s",
                peer: ceilingName, peerValue: ceiling.throughput,
                notes: "\(how); \(note(legacy)); \(note(ceiling)); issue 6 sets no numeric target"
            )
        ]
        for (name, pick) in [("p50", \LatencySummary.p50Nanoseconds), ("p99", \LatencySummary.p99Nanoseconds)] {
            guard let ours = legacy.latency, let theirs = ceiling.latency else { continue }
            out.append(BenchResult(
                benchmark: "legacy", figure: "request_latency_\(name)", value: LatencySummary.milliseconds(ours[keyPath: pick]), unit: "ms",
                peer: ceilingName, peerValue: LatencySummary.milliseconds(theirs[keyPath: pick]),
                notes: "time for a whole request of \(configuration.batchSize) events to be answered (every event durable or refused)"
            ))
        }
        return out
    }
}
