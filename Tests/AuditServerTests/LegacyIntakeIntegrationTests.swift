import AuditAuth
import AuditPipeTestSupport
import AuditServer
import Foundation
import KafkaClient
import Logging
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The twelve simulated legacy services' corpus, through the real server's JSON intake and
/// Kafka bridge: every event is either durable or quarantined with its reasons, as the golden
/// files say; nothing is dropped.
@Suite("Legacy intake through the real stack", .enabled(if: TestService.available(.kafka, .kafkaControl)))
struct LegacyIntakeIntegrationTests {
    static let corpus = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/LegacyMappingTests/Corpus")

    /// (source, input file, golden lines) for every corpus input.
    static func inputs() throws -> [(source: String, file: URL, golden: [String])] {
        let fm = FileManager.default
        var inputs: [(String, URL, [String])] = []
        for source in try fm.contentsOfDirectory(atPath: corpus.path).sorted() where !source.hasSuffix(".md") {
            let folder = corpus.appendingPathComponent(source)
            for name in try fm.contentsOfDirectory(atPath: folder.path).sorted() where !name.hasSuffix(".expected") {
                let file = folder.appendingPathComponent(name)
                let golden = try String(contentsOf: file.appendingPathExtension("expected"), encoding: .utf8)
                    .split(separator: "\n").map(String.init)
                inputs.append((source, file, golden))
            }
        }
        return inputs
    }

    @Test(
        "every corpus event over HTTP lands in ClickHouse once, as its golden file says, or is quarantined",
        .enabled(if: TestService.available(.clickhouse, .redis))
    )
    func httpIntakeMatchesTheGoldenFiles() async throws {
        var configuration = try fullPipelineConfiguration()
        configuration.legacyRulesPath = TestEnvironment.repositoryRoot.appendingPathComponent("Deploy/legacy-rules.yaml").path
        configuration.quarantineTopic = try DevKafkaControl.createTopic("quarantine", partitions: 3, replicationFactor: 3)
        var expectedQuarantined = 0
        var expectedEvents: [String: [String: Any]] = [:]
        let started = Int64(Date().timeIntervalSince1970 * 1000)
        try await withServer(configuration) { server in
            // Twice: the second pass is a legacy service resending everything after a timeout.
            // Event ids derived from the source's own ids make the repeats land once.
            for pass in 1...2 {
                for (source, file, golden) in try Self.inputs() where source != "vpn-concentrator" {
                    let body = try Data(contentsOf: file)
                    let answer = try await postUntilAvailable(port: server.httpPort, path: "/v1/legacy/\(source)", body: body)
                    let results = try #require(answer["results"] as? [[String: Any]], "\(source)/\(file.lastPathComponent): \(answer)")
                    #expect(results.count == golden.count, "\(source)/\(file.lastPathComponent)")
                    for (result, line) in zip(results, golden) {
                        let status = result["status"] as? String
                        if line.contains("\"event\":") {
                            #expect(status == "durable", "\(source)/\(file.lastPathComponent): \(line) -> \(result)")
                            let event = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])["event"] as? [String: Any]
                            let eventID = try #require(event?["event_id"] as? String)
                            #expect(result["event_id"] as? String == eventID)
                            expectedEvents[eventID] = event
                        } else {
                            #expect(status == "quarantined", "\(source)/\(file.lastPathComponent): \(line) -> \(result)")
                            #expect((result["reasons"] as? [Any])?.isEmpty == false)
                            if pass == 1 { expectedQuarantined += 1 }
                        }
                    }
                }
            }
            let (report, status) = try await httpGet(port: server.httpPort, path: "/v1/legacy/report")
            #expect(status == 200)
            #expect(report.contains("auth-gateway"))
            try await expectStoredOnce(expectedEvents, configuration: configuration, since: started)
        }
        // Every quarantined event is in the quarantine topic with its reasons, once per post.
        let quarantined = try await countRecords(topic: configuration.quarantineTopic, atLeast: 2 * expectedQuarantined)
        #expect(quarantined == 2 * expectedQuarantined)
    }

    @Test(
        "the Kafka bridge maps a legacy topic into ClickHouse, once per event, and quarantines the rest",
        .enabled(if: TestService.available(.clickhouse, .redis))
    )
    func kafkaBridge() async throws {
        var configuration = try fullPipelineConfiguration()
        let legacyTopic = try DevKafkaControl.createTopic("vpn", partitions: 1, replicationFactor: 3)
        configuration.legacyRulesPath = TestEnvironment.repositoryRoot.appendingPathComponent("Deploy/legacy-rules.yaml").path
        configuration.quarantineTopic = try DevKafkaControl.createTopic("quarantine", partitions: 1, replicationFactor: 3)
        configuration.legacyBridges = ["vpn-concentrator": legacyTopic]

        let input = try #require(try Self.inputs().first { $0.source == "vpn-concentrator" })
        let lines = try String(contentsOf: input.file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: true)
        let started = Int64(Date().timeIntervalSince1970 * 1000)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: DevKafkaControl.bootstrapServers), logger: Logger(label: "test"))
        for line in lines {
            _ = try await producer.send(KafkaOutgoingMessage(topic: legacyTopic, key: nil, value: Array(line.utf8)))
        }
        await producer.shutdown()
        let expectedEvents = input.golden.filter { $0.contains("\"event\":") }.count
        let expectedQuarantined = input.golden.count - expectedEvents

        var golden: [String: [String: Any]] = [:]
        for line in input.golden where line.contains("\"event\":") {
            let event = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])["event"] as? [String: Any]
            golden[try #require(event?["event_id"] as? String)] = event
        }
        #expect(golden.count == expectedEvents)

        try await withServer(configuration) { _ in
            let events = try await countRecords(topic: configuration.eventsTopic, atLeast: expectedEvents)
            let quarantined = try await countRecords(topic: configuration.quarantineTopic, atLeast: expectedQuarantined)
            #expect(events == expectedEvents)
            #expect(quarantined == expectedQuarantined)
            try await expectStoredOnce(golden, configuration: configuration, since: started, byContent: true)
        }
    }
}

extension LegacyIntakeIntegrationTests {
    @Test("with authentication on, the legacy intake needs a key and keeps each key to its tenants")
    func httpIntakeAuthentication() async throws {
        var configuration = try testConfiguration()
        configuration.legacyRulesPath = TestEnvironment.repositoryRoot.appendingPathComponent("Deploy/legacy-rules.yaml").path
        configuration.quarantineTopic = try DevKafkaControl.createTopic("quarantine", partitions: 1, replicationFactor: 3)
        let key = APIKeys.generate()
        let authFile = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("auth") + ".json")
        try Data("""
            {"api_keys": [{"name": "acme-gateway", "sha256": "\(APIKeys.sha256Hex(of: key))", "tenants": ["acme"], "roles": ["ingest"]}]}
            """.utf8).write(to: authFile)
        defer { try? FileManager.default.removeItem(at: authFile) }
        configuration.authConfigPath = authFile.path

        let login = #"{"event_id":"e1","tenant_id":"acme","user_id":"u-1","status":"login_ok","occurred_at":"2026-11-19T08:15:30Z"}"#
        let otherTenant = #"{"event_id":"e2","tenant_id":"globex","user_id":"u-2","status":"login_ok","occurred_at":"2026-11-19T08:15:30Z"}"#
        try await withServer(configuration) { server in
            let (_, missing) = try await post(port: server.httpPort, path: "/v1/legacy/auth-gateway", body: Data(login.utf8), key: nil)
            #expect(missing == 401)
            let (_, wrong) = try await post(port: server.httpPort, path: "/v1/legacy/auth-gateway", body: Data(login.utf8), key: "not-the-key")
            #expect(wrong == 401)
            let answer = try await postUntilAvailable(port: server.httpPort, path: "/v1/legacy/auth-gateway", body: Data((login + "\n" + otherTenant).utf8), key: key)
            let statuses = (answer["results"] as? [[String: Any]])?.map { $0["status"] as? String }
            #expect(statuses == ["durable", "permission_denied"], "\(answer)")
        }
    }
}

/// The corpus's fixed clock (2026-11-20T00:00:00Z, see CorpusTests): a golden event with this
/// time had none of its own, and the server stamps such events with its own clock.
let corpusClock: Int64 = 1_795_132_800_000

/// Waits (up to 60 s) until ClickHouse holds as many rows as events are expected, then checks
/// that each expected event is stored exactly once with the canonical fields of its golden line,
/// and that nothing else is stored. Events are matched by event_id, or, with `byContent` (ids
/// derived from a Kafka position differ from the golden's position), by their other fields.
func expectStoredOnce(
    _ expected: [String: [String: Any]], configuration: AuditPipeConfiguration, since start: Int64, byContent: Bool = false,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let sql = """
        SELECT event_id, tenant_id, actor_id, event_type, resource, action,
               toUnixTimestamp64Milli(timestamp) AS timestamp_ms, metadata
        FROM `\(configuration.clickHouseDatabase)`.audit_events FORMAT JSONEachRow
        """
    var rows: [[String: Any]] = []
    let deadline = ContinuousClock.now + .seconds(60)
    repeat {
        rows = (try? await clickHouseRows(sql, configuration: configuration)) ?? []
        if rows.count >= expected.count { break }
        try await Task.sleep(for: .milliseconds(500))
    } while ContinuousClock.now < deadline
    // Anything still in flight would show up as a duplicate: give it a moment.
    try await Task.sleep(for: .seconds(2))
    rows = try await clickHouseRows(sql, configuration: configuration)
    let end = Int64(Date().timeIntervalSince1970 * 1000)

    func time(_ value: Any?) -> Int64? {
        // JSONEachRow writes 64-bit integers as strings.
        (value as? String).flatMap { Int64($0) } ?? (value as? NSNumber)?.int64Value
    }
    func key(_ event: [String: Any]) -> String {
        let fields = byContent ? ["tenant_id", "actor_id", "event_type", "resource", "action"] : ["event_id"]
        var parts = fields.map { event[$0] as? String ?? "" }
        if byContent {
            let timestamp = time(event["timestamp_ms"]) ?? 0
            parts.append(timestamp == corpusClock || (start...end).contains(timestamp) ? "clock" : String(timestamp))
            parts.append((event["metadata"] as? [String: String] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))
        }
        return parts.joined(separator: "|")
    }
    var stored: [String: [[String: Any]]] = [:]
    for row in rows { stored[key(row), default: []].append(row) }
    #expect(rows.count == expected.count, "rows stored \(rows.count), events expected \(expected.count)", sourceLocation: sourceLocation)
    for (eventID, event) in expected {
        let matches = stored[key(event)] ?? []
        #expect(matches.count == 1, "\(eventID) stored \(matches.count) times", sourceLocation: sourceLocation)
        guard let row = matches.first else { continue }
        for field in ["tenant_id", "actor_id", "event_type", "resource", "action"] {
            #expect(row[field] as? String == event[field] as? String, "\(eventID).\(field)", sourceLocation: sourceLocation)
        }
        if byContent {
            #expect((row["event_id"] as? String)?.hasPrefix((eventID.split(separator: ":").first.map(String.init) ?? "") + ":") == true, "\(eventID): \(row)", sourceLocation: sourceLocation)
        }
        let goldenTime = time(event["timestamp_ms"])
        if goldenTime == corpusClock {
            #expect(time(row["timestamp_ms"]).map { (start...end).contains($0) } == true, "\(eventID).timestamp is the server's clock", sourceLocation: sourceLocation)
        } else {
            #expect(time(row["timestamp_ms"]) == goldenTime, "\(eventID).timestamp", sourceLocation: sourceLocation)
        }
        #expect(row["metadata"] as? [String: String] == event["metadata"] as? [String: String], "\(eventID).metadata", sourceLocation: sourceLocation)
    }
}

/// Runs a query on the dev stack's ClickHouse over HTTP (with `settings` as URL parameters) and
/// parses its JSONEachRow answer.
func clickHouseRows(_ sql: String, configuration: AuditPipeConfiguration, settings: [String: String] = [:]) async throws -> [[String: Any]] {
    var url = URLComponents(string: configuration.clickHouseURL)!
    if !settings.isEmpty { url.queryItems = settings.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) } }
    var request = URLRequest(url: url.url!)
    request.httpMethod = "POST"
    request.httpBody = Data(sql.utf8)
    let credentials = Data("\(configuration.clickHouseUser):\(configuration.clickHousePassword)".utf8).base64EncodedString()
    request.setValue("Basic \(credentials)", forHTTPHeaderField: "Authorization")
    let (data, response) = try await URLSession.shared.data(for: request)
    let status = (response as? HTTPURLResponse)?.statusCode ?? 0
    guard status == 200 else {
        throw ClickHouseQueryFailed(message: "ClickHouse answered \(status): \(String(decoding: data, as: UTF8.self))")
    }
    return try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
        try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
}

struct ClickHouseQueryFailed: Error { var message: String }

/// POSTs once and returns the body and status.
func post(port: Int, path: String, body: Data, key: String?) async throws -> (Data, Int) {
    var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
    request.httpMethod = "POST"
    request.httpBody = body
    if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
    let (data, response) = try await URLSession.shared.data(for: request)
    return (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
}

/// POSTs until the answer is not 503 (the server's registry may still be starting), then parses it.
func postUntilAvailable(port: Int, path: String, body: Data, key: String? = nil) async throws -> [String: Any] {
    let deadline = ContinuousClock.now + .seconds(30)
    while true {
        let (data, status) = try await post(port: port, path: path, body: body, key: key)
        if status != 503 || ContinuousClock.now > deadline {
            return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "status \(status): \(String(decoding: data, as: UTF8.self))")
        }
        try await Task.sleep(for: .milliseconds(200))
    }
}

/// Counts the records of `topic` (all partitions, from the beginning), waiting up to 30 s for
/// at least `atLeast` of them, then 1 s more for any extra (duplicates would show up).
func countRecords(topic: String, atLeast expected: Int) async throws -> Int {
    var configuration = KafkaConsumerConfiguration(bootstrapServers: try DevKafkaControl.bootstrapServers, groupID: TestEnvironment.uniqueName("count"))
    configuration.autoOffsetReset = .earliest
    let consumer = try KafkaConsumer(configuration: configuration, topics: [topic], logger: Logger(label: "test"))
    let count = RecordCount()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            for try await event in consumer.events {
                if case .message = event { count.value.withLock { $0 += 1 } }
            }
        }
        group.addTask {
            let deadline = ContinuousClock.now + .seconds(30)
            while count.value.withLock({ $0 }) < expected, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .seconds(1))
        }
        try await group.next()
        group.cancelAll()
    }
    await consumer.close()
    return count.value.withLock { $0 }
}

final class RecordCount: Sendable {
    let value = Mutex(0)
}
