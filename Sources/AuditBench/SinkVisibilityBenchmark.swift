import AuditEvents
import AuditSink
import AuditPipeClient
import ClickHouseHTTP
import Foundation
package import Logging
import NIOCore
import Synchronization

/// `auditpipe-tools bench sink`, part 2: how long after its acknowledgement an event is visible in a
/// ClickHouse `SELECT`, at a fixed ingest rate through a running server.
///
/// Starts `auditpipe serve` (``AuditPipeExecutable``) on its own ports, topic, sink group and database,
/// warms the path up, then sends events at `rate` per second for `duration` through the Swift
/// ``AuditPipeClient`` (open loop, two `Ingest` streams) while polling
/// `max(kafka_offset)` per partition every `pollInterval`. See ``SinkVisibility`` for how the
/// polls and acknowledgements become latencies.
package struct SinkVisibilityBenchmark: Sendable {
    package var rate: Double = 5000
    package var duration: Duration = .seconds(30)
    package var pollInterval: Duration = .milliseconds(100)
    package var grpcAddress = "127.0.0.1:31061"
    package var httpAddress = "127.0.0.1:8191"
    package var keepDatabase = false
    package var logger: Logger

    package init(logger: Logger) { self.logger = logger }

    package func run(environment: StoreBenchEnvironment) async throws -> [BenchResult] {
        let id = benchRunID()
        let topic = "bench_vis_\(id)"
        let database = "bench_vis_\(id)"
        try await environment.createTopic(topic, partitions: 6)
        try await environment.createTopic(topic + ".dlq", partitions: 1)
        let admin = try ClickHouseClient(configuration: ClickHouseConfiguration(
            url: environment.clickHouseURL, user: environment.clickHouseUser, password: environment.clickHousePassword,
            requestTimeout: .seconds(30)
        ))
        var settings = BenchServerProcess.Settings(
            grpcAddress: grpcAddress, httpAddress: httpAddress, eventsTopic: topic, deadLetterTopic: topic + ".dlq",
            sinkGroup: "bench-vis-\(id)", clickHouseDatabase: database
        )
        settings.logLevel = "warning"
        logger.notice("starting auditpipe serve on \(grpcAddress) (topic \(topic), database \(database))")
        let server = try await BenchServerProcess(settings: settings, environment: environment)
        let client = try AuditPipeClient(configuration: AuditPipeClientConfiguration(host: server.grpcHost, port: server.grpcPort))
        let connections = Task { try await client.run() }
        do {
            let results = try await measure(client: client, admin: admin, database: database, run: id)
            client.shutdown()
            _ = try? await connections.value
            await server.stop()
            if !keepDatabase { _ = try? await admin.execute("DROP DATABASE IF EXISTS `\(database)`") }
            try? await admin.shutdown()
            return results
        } catch {
            client.shutdown()
            connections.cancel()
            await server.stop()
            if !keepDatabase { _ = try? await admin.execute("DROP DATABASE IF EXISTS `\(database)`") }
            try? await admin.shutdown()
            throw error
        }
    }

    private func frontier(_ admin: ClickHouseClient, database: String) async throws -> [Int32: Int64] {
        let buffer = try await admin.queryCollecting(
            "SELECT kafka_partition, max(kafka_offset) FROM `\(database)`.audit_events GROUP BY kafka_partition FORMAT TabSeparated"
        )
        var result: [Int32: Int64] = [:]
        for line in String(buffer: buffer).split(separator: "\n") {
            let fields = line.split(separator: "\t")
            if fields.count == 2, let partition = Int32(fields[0]), let offset = Int64(fields[1]) { result[partition] = offset }
        }
        return result
    }

    private func measure(client: AuditPipeClient, admin: ClickHouseClient, database: String, run: String) async throws -> [BenchResult] {
        let now = UnixTime.nowMilliseconds()
        // Warm-up: the sink group must have joined and the whole path be hot before measuring.
        let warmup = (0..<200).map { SinkBenchEvents.event($0, now: now, tenantPrefix: "bench-vis-\(run)-") }
        let warmResults: [IngestResult] = try await client.ingest(warmup)
        if let refused = warmResults.first(where: { !$0.isDurable }) {
            throw BenchSetupError("warm-up events were not acknowledged: \(refused)")
        }
        let warmDeadline = ContinuousClock.now + .seconds(90)
        while try await frontier(admin, database: database).values.reduce(0, { $0 + Int($1) + 1 }) < warmup.count {
            guard ContinuousClock.now < warmDeadline else { throw BenchSetupError("warm-up events not visible in ClickHouse after 90 s") }
            try await Task.sleep(for: .milliseconds(100))
        }

        let clock = ContinuousClock()
        let start = clock.now
        let log = VisibilityLog()
        let schedule = OpenLoopSchedule(rate: rate, durationSeconds: duration.seconds)
        let interval = pollInterval
        let poller = Task {
            var lastGrowth = clock.now
            var lastTotal: Int64 = -1
            while !Task.isCancelled {
                let pollStart = clock.now
                do {
                    let frontier = try await self.frontier(admin, database: database)
                    let at = (clock.now - start).nanoseconds
                    log.append(SinkVisibility.Poll(at: at, frontier: frontier))
                    let total = frontier.values.reduce(0, +)
                    if total != lastTotal { lastTotal = total; lastGrowth = clock.now }
                } catch {
                    log.pollFailed()
                }
                // After the load: stop once nothing new arrived for 5 s.
                if log.loadDone, clock.now - lastGrowth > .seconds(5) { return }
                try? await Task.sleep(until: pollStart + interval, clock: clock)
            }
        }
        let eventNow = UnixTime.nowMilliseconds()
        let tenantPrefix = "bench-vis-\(run)-"
        let measurement = try await client.withIngestStream { first in
            try await client.withIngestStream { second in
                await LoadDriver.openLoop(label: "ingest", schedule: schedule, maxInFlight: 20_000) { index in
                    let event = SinkBenchEvents.event(index, now: eventNow, tenantPrefix: tenantPrefix)
                    let stream = index % 2 == 0 ? first : second
                    switch await stream.send(event) {
                    case .durable(let partition, let offset):
                        let at = (clock.now - start).nanoseconds
                        log.append(SinkVisibility.Acknowledgement(partition: partition, offset: offset, at: at))
                        return .ok
                    case let other:
                        return .failure("\(other)")
                    }
                }
            }
        }
        log.finishLoad()
        let allAcks = log.acknowledgements
        // Wait until every acknowledged event is visible (or the poller gives up).
        let maxOffsets = Dictionary(allAcks.map { ($0.partition, $0.offset) }, uniquingKeysWith: max)
        let drainDeadline = clock.now + .seconds(60)
        while clock.now < drainDeadline {
            let last = log.polls.last?.frontier ?? [:]
            if maxOffsets.allSatisfy({ (last[$0.key] ?? -1) >= $0.value }) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        poller.cancel()
        _ = await poller.value
        let (latencies, unseen) = SinkVisibility.latencies(allAcks, polls: log.polls)
        guard let summary = LatencySummary(samples: latencies) else {
            throw BenchSetupError("no acknowledged event became visible; see the server log")
        }
        let pollCount = log.polls.count
        let achieved = Double(measurement.succeeded) / measurement.elapsedSeconds
        let notes = """
            \(measurement.succeeded) events acknowledged of \(measurement.sent + measurement.skipped) scheduled at \(BenchFormat.value(rate))/s \
            for \(BenchFormat.value(duration.seconds)) s (achieved \(BenchFormat.value(achieved))/s, \(measurement.failed) failed\
            \(measurement.firstError.map { ": " + $0 } ?? "")); ack latency p50 \
            \(BenchFormat.value(measurement.latency.map { LatencySummary.milliseconds($0.p50Nanoseconds) } ?? 0)) ms p99 \
            \(BenchFormat.value(measurement.latency.map { LatencySummary.milliseconds($0.p99Nanoseconds) } ?? 0)) ms; \
            visibility = end of the first poll (every \(BenchFormat.value(Double(pollInterval.nanoseconds) / 1e6)) ms, \(pollCount) polls, \
            \(log.failedPolls) failed) whose max(kafka_offset) reached the event, minus its ack; \
            \(unseen) acknowledged events never seen; max \(BenchFormat.value(LatencySummary.milliseconds(summary.maxNanoseconds))) ms; \
            sink batches: up to \(AuditSinkConfiguration().maxBatchRows) rows, \(AuditSinkConfiguration().maxBatchDelay) (server defaults)
            """
        let p50 = LatencySummary.milliseconds(summary.p50Nanoseconds)
        let p99 = LatencySummary.milliseconds(summary.p99Nanoseconds)
        let valid = unseen == 0 && measurement.failed == 0
        return [
            BenchResult(benchmark: "sink", figure: "visibility_p50", value: p50, unit: "ms", notes: notes),
            BenchResult(
                benchmark: "sink", figure: "visibility_p99", value: p99, unit: "ms",
                target: "< 1000 ms at 5000 events/s", met: valid && p99 < 1000 && achieved >= 0.95 * rate,
                notes: valid ? "see visibility_p50" : "NOT VALID: \(unseen) unseen, \(measurement.failed) failed; see visibility_p50"
            ),
        ]
    }
}

/// What the load and the poller record, shared between their tasks.
final class VisibilityLog: Sendable {
    private struct State {
        var acknowledgements: [SinkVisibility.Acknowledgement] = []
        var polls: [SinkVisibility.Poll] = []
        var failedPolls = 0
        var loadDone = false
    }

    private let state = Mutex(State())

    func append(_ acknowledgement: SinkVisibility.Acknowledgement) { state.withLock { $0.acknowledgements.append(acknowledgement) } }
    func append(_ poll: SinkVisibility.Poll) { state.withLock { $0.polls.append(poll) } }
    func pollFailed() { state.withLock { $0.failedPolls += 1 } }
    func finishLoad() { state.withLock { $0.loadDone = true } }

    var acknowledgements: [SinkVisibility.Acknowledgement] { state.withLock { $0.acknowledgements } }
    var polls: [SinkVisibility.Poll] { state.withLock { $0.polls } }
    var failedPolls: Int { state.withLock { $0.failedPolls } }
    var loadDone: Bool { state.withLock { $0.loadDone } }
}
