import AsyncHTTPClient
import AuditEvents
package import AuditPipeClient
import Foundation
import Glibc
import KafkaClient
package import Logging

/// `auditpipe-tools bench ingest`: what it runs against, and how hard.
package struct IngestBenchmarkConfiguration: Sendable {
    /// AuditPipe's gRPC address.
    package var grpcHost = "127.0.0.1"
    package var grpcPort = 50051
    /// An API key, when the server requires one.
    package var apiKey: String?
    /// AuditPipe's HTTP base URL (its schema registry), e.g. `http://127.0.0.1:8080`.
    package var httpBaseURL = "http://127.0.0.1:8080"
    /// The schema registry the peer and the ceiling read; `nil`: the server's own (`httpBaseURL`).
    package var registryURL: String?
    /// The Kafka cluster the server produces to (the peer and the ceiling produce there too).
    package var kafkaBrokers: [String] = []
    /// The server's events topic; subject `<topic>-value`.
    package var eventsTopic = "auditpipe.events"
    /// Where the peer and the ceiling produce: a topic of their own, so that the server's sinks
    /// (which consume the events topic) do not spend the server's CPU on their records while our
    /// own runs are measured.
    package var peersTopic: String { "\(eventsTopic).peers" }
    /// The fixed rate of the latency figures, events/s.
    package var rate: Double = 5000
    /// How long each fixed-rate run lasts.
    package var rateDurationSeconds: Double = 20
    /// How long each max-throughput run lasts.
    package var maxDurationSeconds: Double = 20
    /// Unacknowledged events allowed in the max-throughput runs (Ingest stream, peer, ceiling).
    package var window = 1024
    /// Events per IngestBatch call in the batch throughput run.
    package var batchSize = 500
    /// Concurrent IngestBatch calls in the batch throughput run.
    package var batchConcurrency = 4
    /// Unanswered events beyond which the open-loop generator drops (and counts) events.
    package var maxInFlight = 50_000
    /// Warm-up before the measured runs (connections, caches), not measured.
    package var warmupSeconds: Double = 2
    /// Python with confluent-kafka; `nil` skips the peer.
    package var python: String?
    /// `Deploy/bench/confluent_peer.py`.
    package var peerScript = "Deploy/bench/confluent_peer.py"
    /// Skip the raw librdkafka ceiling.
    package var skipCeiling = false
    /// Appended to every figure name (runs against differently configured servers in one table).
    package var figureSuffix = ""
    /// The server's process id, for its CPU time per acknowledged event (`/proc/PID/stat`);
    /// `nil`: no CPU figures.
    package var serverPID: Int32?
    /// Whether the server runs its sinks (ClickHouse, Redis consumers): its CPU figure is then
    /// `server_cpu_us_per_event_with_sinks`, otherwise `server_cpu_us_per_event`.
    package var serverRunsSinks = true

    package init() {}

    /// The registry subject of the events topic.
    package var subject: String { "\(eventsTopic)-value" }

    /// Checks the settings; the error says which flag to fix.
    package func validate() throws(BenchError) {
        if kafkaBrokers.isEmpty { throw BenchError("--kafka-brokers (or AUDITPIPE_KAFKA_BROKERS): required for the ceiling and the peer") }
        if !(rate > 0) { throw BenchError("--rate must be positive") }
        if !(rateDurationSeconds > 0) || !(maxDurationSeconds > 0) { throw BenchError("--duration must be positive") }
        if window < 1 || batchSize < 1 || batchConcurrency < 1 { throw BenchError("--window, --batch-size and --batch-concurrency must be at least 1") }
        if batchSize > 10_000 { throw BenchError("--batch-size: the server accepts at most 10000 events per IngestBatch") }
    }
}

/// The measurements of one `bench ingest` run, before they become figures.
package struct IngestMeasurements: Sendable {
    package var oursAtRate: LoadMeasurement
    package var peerAtRate: LoadMeasurement?
    package var ceilingAtRate: LoadMeasurement?
    package var oursStreamMax: LoadMeasurement
    package var oursBatchMax: LoadMeasurement
    package var peerMax: LoadMeasurement?
    package var ceilingMax: LoadMeasurement?
    /// CPU seconds (utime + stime) spent during our three runs (rate, stream max, batch max):
    /// the server's, and this process's (the client library driving them).
    package var oursCPU: PhaseCPU = PhaseCPU()
    /// CPU seconds of this process during the ceiling's two runs (the ceiling produces from here).
    package var ceilingCPU: PhaseCPU = PhaseCPU()

    package init(
        oursAtRate: LoadMeasurement, peerAtRate: LoadMeasurement?, ceilingAtRate: LoadMeasurement?,
        oursStreamMax: LoadMeasurement, oursBatchMax: LoadMeasurement, peerMax: LoadMeasurement?, ceilingMax: LoadMeasurement?
    ) {
        self.oursAtRate = oursAtRate
        self.peerAtRate = peerAtRate
        self.ceilingAtRate = ceilingAtRate
        self.oursStreamMax = oursStreamMax
        self.oursBatchMax = oursBatchMax
        self.peerMax = peerMax
        self.ceilingMax = ceilingMax
    }
}

/// CPU time spent by processes over some runs, and the events acknowledged in them.
package struct PhaseCPU: Sendable {
    /// Seconds of the server process (nil when its pid is unknown or unreadable).
    package var serverSeconds: Double?
    /// Seconds of this (the load generator's) process.
    package var localSeconds: Double = 0
    /// Events acknowledged over those runs.
    package var events: Int = 0
    /// Per run: its label, server seconds, local seconds, events.
    package var runs: [(label: String, server: Double?, local: Double, events: Int)] = []

    package init() {}

    /// Adds one run measured with ``CPUProbe``.
    package mutating func add(label: String, server: Double?, local: Double, events: Int) {
        if let server { serverSeconds = (serverSeconds ?? 0) + server }
        localSeconds += local
        self.events += events
        runs.append((label, server, local, events))
    }

    /// Microseconds per event of `seconds`, nil without events.
    package func microsecondsPerEvent(_ seconds: Double?) -> Double? {
        guard let seconds, events > 0 else { return nil }
        return seconds * 1_000_000 / Double(events)
    }
}

/// Reads the CPU time of the server and of this process around one run.
struct CPUProbe {
    let serverPID: Int32?

    func measure<T>(_ body: () async throws -> T) async rethrows -> (T, server: Double?, local: Double) {
        let serverBefore = serverPID.flatMap(ProcessCPU.seconds(of:))
        let localBefore = ProcessCPU.seconds(of: getpid()) ?? 0
        let value = try await body()
        let localAfter = ProcessCPU.seconds(of: getpid()) ?? 0
        let serverAfter = serverPID.flatMap(ProcessCPU.seconds(of:))
        let server = serverBefore.flatMap { before in serverAfter.map { $0 - before } }
        return (value, server, localAfter - localBefore)
    }
}

/// `auditpipe-tools bench ingest`: events through the Swift client into `auditpipe serve`, next to
/// Confluent's Python serializer + producer (the peer) and raw librdkafka produce of the same
/// pre-encoded bytes (the ceiling), in one run.
package enum IngestBenchmark {
    /// The acknowledgement p99 at the fixed rate: at most this multiple of raw librdkafka's p99
    /// in the same run, with the sinks running and without.
    package static let latencyCeilingTargetWithSinks = 3.0
    package static let latencyCeilingTargetIngestOnly = 1.5
    /// Throughput with the sinks running: at least these multiples of the peer's.
    package static let streamPeerTarget = 2.0
    package static let batchPeerTarget = 4.0
    /// The server's CPU per event: at most this multiple of the ceiling's.
    package static let serverCPUCeilingTarget = 2.0
    /// The peer's and the ceiling's names in the results.
    package static let peerName = "confluent-python"
    package static let ceilingName = "librdkafka-raw"

    /// Runs every figure and returns them; `progress` receives a line per step (for stderr).
    package static func run(
        _ configuration: IngestBenchmarkConfiguration,
        logger: Logger,
        progress: @escaping @Sendable (String) -> Void
    ) async throws -> [BenchResult] {
        try configuration.validate()
        let registryURL = configuration.registryURL ?? configuration.httpBaseURL
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        let schema: RegisteredSchema
        do {
            schema = try await BenchRegistry.latest(subject: configuration.subject, baseURL: registryURL, httpClient: httpClient)
            try await httpClient.shutdown()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        progress("schema \(schema.subject) version \(schema.version) id \(schema.id)")
        let corpus = BenchEventCorpus()
        let ceilingRecords = try corpus.wireRecords(schema: schema)

        let client = try AuditPipeClient(configuration: .init(host: configuration.grpcHost, port: configuration.grpcPort, apiKey: configuration.apiKey))
        let measurements = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            defer { client.shutdown() }
            return try await client.withIngestStream { stream in
                try await measure(
                    configuration, client: client, stream: stream, corpus: corpus, schema: schema,
                    registryURL: registryURL, ceilingRecords: ceilingRecords, logger: logger, progress: progress
                )
            }
        }
        return results(measurements, configuration: configuration) + cpuResults(measurements, configuration: configuration)
    }

    private static func measure(
        _ configuration: IngestBenchmarkConfiguration,
        client: AuditPipeClient,
        stream: IngestStream,
        corpus: BenchEventCorpus,
        schema: RegisteredSchema,
        registryURL: String,
        ceilingRecords: [(key: [UInt8], value: [UInt8], eventID: String)],
        logger: Logger,
        progress: @escaping @Sendable (String) -> Void
    ) async throws -> IngestMeasurements {
        let sendOne: @Sendable (Int) async -> SendOutcome = { index in
            outcome(of: await stream.send(corpus.event(index, eventID: UUIDv7.make())))
        }
        progress("warm-up \(BenchFormat.value(configuration.warmupSeconds)) s (Ingest stream, not measured)")
        let warm = await LoadDriver.closedLoop(label: "warm-up", durationSeconds: configuration.warmupSeconds, concurrency: 64, batchSize: 1) { first, _ in
            await sendOne(first)
        }
        guard warm.succeeded > 0 else {
            throw BenchError("no event was acknowledged during the warm-up: \(warm.firstError ?? "no answer"); is `auditpipe serve` running at \(configuration.grpcHost):\(configuration.grpcPort)?")
        }

        let schedule = OpenLoopSchedule(rate: configuration.rate, durationSeconds: configuration.rateDurationSeconds)
        let probe = CPUProbe(serverPID: configuration.serverPID)
        var oursCPU = PhaseCPU()
        var ceilingCPU = PhaseCPU()
        progress("ours: Ingest stream at \(BenchFormat.value(configuration.rate)) events/s for \(BenchFormat.value(configuration.rateDurationSeconds)) s")
        let (oursAtRate, rateServer, rateLocal) = await probe.measure {
            await LoadDriver.openLoop(label: "auditpipe-stream", schedule: schedule, maxInFlight: configuration.maxInFlight, send: sendOne)
        }
        oursCPU.add(label: "stream at rate", server: rateServer, local: rateLocal, events: oursAtRate.succeeded)
        progress(describe(oursAtRate) + cpuNote(server: rateServer, local: rateLocal, events: oursAtRate.succeeded))

        var peer: ConfluentPeer?
        var eventsFile: URL?
        if let python = configuration.python {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("auditpipe-bench-events-\(UUIDv7.make()).json")
            try Data(corpus.templatesJSON().utf8).write(to: file)
            eventsFile = file
            peer = ConfluentPeer(
                python: python, script: configuration.peerScript, brokers: configuration.kafkaBrokers,
                topic: configuration.peersTopic, registryURL: registryURL, subject: schema.subject, eventsFile: file.path
            )
        }
        defer { if let eventsFile { try? FileManager.default.removeItem(at: eventsFile) } }

        var peerAtRate: LoadMeasurement?
        if let peer {
            progress("peer: \(peerName) at \(BenchFormat.value(configuration.rate)) events/s")
            peerAtRate = try await peer.runAtRate(configuration.rate, durationSeconds: configuration.rateDurationSeconds)
            progress(describe(peerAtRate!))
        }

        var ceiling: KafkaProducer?
        if !configuration.skipCeiling {
            var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: configuration.kafkaBrokers)
            producerConfiguration.clientID = "auditpipe-bench-ceiling"  // the server's settings otherwise
            ceiling = try KafkaProducer(configuration: producerConfiguration, logger: logger)
        }
        let topic = configuration.peersTopic
        let produceOne: @Sendable (KafkaProducer, Int) async -> SendOutcome = { producer, index in
            let record = ceilingRecords[index % ceilingRecords.count]
            do {
                _ = try await producer.send(KafkaOutgoingMessage(
                    topic: topic, key: record.key, value: record.value, headers: [("event_id", Array(record.eventID.utf8))]
                ))
                return .ok
            } catch {
                return .failure("\(error)")
            }
        }
        var ceilingAtRate: LoadMeasurement?
        var ceilingMax: LoadMeasurement?
        do {
            if let ceiling {
                _ = await LoadDriver.closedLoop(label: "warm-up", durationSeconds: min(1, configuration.warmupSeconds), concurrency: 64, batchSize: 1) { first, _ in
                    await produceOne(ceiling, first)
                }
                progress("ceiling: \(ceilingName) at \(BenchFormat.value(configuration.rate)) events/s")
                let (atRate, _, local) = await probe.measure {
                    await LoadDriver.openLoop(label: ceilingName, schedule: schedule, maxInFlight: configuration.maxInFlight) { index in
                        await produceOne(ceiling, index)
                    }
                }
                ceilingAtRate = atRate
                ceilingCPU.add(label: "ceiling at rate", server: nil, local: local, events: atRate.succeeded)
                progress(describe(atRate) + cpuNote(server: nil, local: local, events: atRate.succeeded))
            }

            progress("ours: Ingest stream, max throughput, window \(configuration.window), \(BenchFormat.value(configuration.maxDurationSeconds)) s")
            let (oursStreamMax, streamServer, streamLocal) = await probe.measure {
                await LoadDriver.closedLoop(
                    label: "auditpipe-stream", durationSeconds: configuration.maxDurationSeconds, concurrency: configuration.window, batchSize: 1
                ) { first, _ in await sendOne(first) }
            }
            oursCPU.add(label: "stream max", server: streamServer, local: streamLocal, events: oursStreamMax.succeeded)
            progress(describe(oursStreamMax) + cpuNote(server: streamServer, local: streamLocal, events: oursStreamMax.succeeded))

            progress("ours: IngestBatch, max throughput, \(configuration.batchConcurrency) x \(configuration.batchSize) events")
            let (oursBatchMax, batchServer, batchLocal) = await probe.measure { await LoadDriver.closedLoop(
                label: "auditpipe-batch", durationSeconds: configuration.maxDurationSeconds,
                concurrency: configuration.batchConcurrency, batchSize: configuration.batchSize
            ) { first, count in
                let events = (first..<first + count).map { corpus.event($0, eventID: UUIDv7.make()) }
                do {
                    let answers = try await client.ingestBatch(events)
                    return answers.reduce(into: SendOutcome(succeeded: 0)) { total, answer in
                        let one = outcome(of: answer)
                        total.succeeded += one.succeeded
                        total.failed += one.failed
                        if total.error == nil { total.error = one.error }
                    }
                } catch {
                    return .failure("IngestBatch failed: \(error)", count: count)
                }
            } }
            oursCPU.add(label: "batch max", server: batchServer, local: batchLocal, events: oursBatchMax.succeeded)
            progress(describe(oursBatchMax) + cpuNote(server: batchServer, local: batchLocal, events: oursBatchMax.succeeded))

            var peerMax: LoadMeasurement?
            if let peer {
                progress("peer: \(peerName), max throughput, window \(configuration.window)")
                peerMax = try await peer.runMax(durationSeconds: configuration.maxDurationSeconds, window: configuration.window)
                progress(describe(peerMax!))
            }
            if let ceiling {
                progress("ceiling: \(ceilingName), max throughput, window \(configuration.window)")
                let (max, _, local) = await probe.measure {
                    await LoadDriver.closedLoop(
                        label: ceilingName, durationSeconds: configuration.maxDurationSeconds, concurrency: configuration.window, batchSize: 1
                    ) { first, _ in await produceOne(ceiling, first) }
                }
                ceilingMax = max
                ceilingCPU.add(label: "ceiling max", server: nil, local: local, events: max.succeeded)
                progress(describe(max) + cpuNote(server: nil, local: local, events: max.succeeded))
                await ceiling.shutdown(timeout: .seconds(30))
            }
            var measurements = IngestMeasurements(
                oursAtRate: oursAtRate, peerAtRate: peerAtRate, ceilingAtRate: ceilingAtRate,
                oursStreamMax: oursStreamMax, oursBatchMax: oursBatchMax, peerMax: peerMax, ceilingMax: ceilingMax
            )
            measurements.oursCPU = oursCPU
            measurements.ceilingCPU = ceilingCPU
            return measurements
        } catch {
            await ceiling?.shutdown(timeout: .seconds(30))
            throw error
        }
    }

    /// ", server N us/event, client M us/event" for a progress line.
    private static func cpuNote(server: Double?, local: Double, events: Int) -> String {
        guard events > 0 else { return "" }
        var text = ""
        if let server { text += ", server \(BenchFormat.fixed(server * 1e6 / Double(events), decimals: 1)) us CPU/event" }
        return text + ", this process \(BenchFormat.fixed(local * 1e6 / Double(events), decimals: 1)) us CPU/event"
    }

    /// The client's answer as counts.
    package static func outcome(of result: IngestResult) -> SendOutcome {
        switch result {
        case .durable: return .ok
        case .invalid(let violations): return .failure("invalid: \(violations)")
        case .permissionDenied(let message): return .failure("permission denied: \(message)")
        case .unavailable(let message): return .failure("unavailable: \(message)")
        }
    }

    /// One progress line for a measurement.
    package static func describe(_ m: LoadMeasurement) -> String {
        var text = "  \(m.label): \(m.succeeded)/\(m.sent) acknowledged in \(BenchFormat.fixed(m.elapsedSeconds, decimals: 2)) s = \(BenchFormat.fixed(m.throughput, decimals: 0)) events/s"
        if let latency = m.latency {
            text += ", latency ms p50 \(BenchFormat.value(LatencySummary.milliseconds(latency.p50Nanoseconds)))"
            text += " p99 \(BenchFormat.value(LatencySummary.milliseconds(latency.p99Nanoseconds)))"
            text += " max \(BenchFormat.value(LatencySummary.milliseconds(latency.maxNanoseconds)))"
        }
        if m.failed > 0 { text += ", \(m.failed) failed (first: \(m.firstError ?? "?"))" }
        return text
    }

    /// The figures of a run: latency at the fixed rate and throughput, each next to the peer and the ceiling.
    package static func results(_ m: IngestMeasurements, configuration: IngestBenchmarkConfiguration) -> [BenchResult] {
        let rate = JSONText.number(configuration.rate)
        var out: [BenchResult] = []
        let rateNote = "Ingest stream via AuditPipeClient, open loop \(rate) events/s for \(BenchFormat.value(configuration.rateDurationSeconds)) s; \(runNote(m.oursAtRate))"
        // A latency figure only counts when the rate was actually delivered without failures.
        let deliveredAll = m.oursAtRate.failed == 0 && m.oursAtRate.succeeded == m.oursAtRate.sent && m.oursAtRate.sent > 0
        for (percentile, name) in [(50.0, "p50"), (99.0, "p99")] {
            let ours = m.oursAtRate.latency.map { LatencySummary.milliseconds(percentile == 50 ? $0.p50Nanoseconds : $0.p99Nanoseconds) } ?? .nan
            var peers: [(String?, LoadMeasurement?)] = [(peerName, m.peerAtRate), (ceilingName, m.ceilingAtRate)].filter { $0.1 != nil }
            if peers.isEmpty { peers = [(nil, nil)] }
            for (peerName, peer) in peers {
                let peerValue = peer?.latency.map { LatencySummary.milliseconds(percentile == 50 ? $0.p50Nanoseconds : $0.p99Nanoseconds) }
                let target: Double? = name == "p99" && peerName == ceilingName
                    ? (configuration.serverRunsSinks ? latencyCeilingTargetWithSinks : latencyCeilingTargetIngestOnly) : nil
                var result = BenchResult(
                    benchmark: "ingest", figure: "ack_latency_\(name)_at_\(rate)_per_s\(configuration.figureSuffix)", value: ours, unit: "ms",
                    peer: peerName, peerValue: peerValue,
                    target: target.map { "<= \(JSONText.number($0))x ceiling" },
                    notes: rateNote + (peer.map { "; \(peerName ?? ""): \(runNote($0))" } ?? "")
                )
                if let target { result.met = deliveredAll && result.ratio.map { $0 <= target } == true }
                out.append(result)
            }
        }
        for (figure, ours, how, peerTarget) in [
            ("throughput_stream", m.oursStreamMax, "Ingest stream, \(configuration.window) events in flight", streamPeerTarget),
            ("throughput_batch", m.oursBatchMax, "IngestBatch, \(configuration.batchConcurrency) concurrent calls of \(configuration.batchSize) events", batchPeerTarget),
        ] {
            // The targets hold with the sinks running; the ceiling is shown for scale.
            let peers = [(peerName, m.peerMax, configuration.serverRunsSinks ? peerTarget : nil), (ceilingName, m.ceilingMax, nil)].filter { $0.1 != nil }
            guard !peers.isEmpty else {
                out.append(BenchResult(
                    benchmark: "ingest", figure: figure + configuration.figureSuffix, value: ours.throughput, unit: "events/s",
                    notes: "\(how), \(BenchFormat.value(configuration.maxDurationSeconds)) s; \(runNote(ours)); no peer or ceiling run"
                ))
                continue
            }
            for (peerName, peer, target) in peers {
                guard let peer else { continue }
                var result = BenchResult(
                    benchmark: "ingest", figure: figure + configuration.figureSuffix, value: ours.throughput, unit: "events/s",
                    peer: peerName, peerValue: peer.throughput,
                    target: target.map { ">= \(JSONText.number($0))x peer" },
                    notes: "\(how), \(BenchFormat.value(configuration.maxDurationSeconds)) s; \(runNote(ours)); \(peerName) (window \(configuration.window)): \(runNote(peer))"
                )
                if let target { result.met = result.ratio.map { $0 >= target && ours.failed == 0 } }
                out.append(result)
            }
        }
        return out
    }

    /// The CPU figures: the server's CPU per acknowledged event next to the ceiling process's
    /// CPU per event producing the same bytes (from the same run), and the load generator's.
    package static func cpuResults(_ m: IngestMeasurements, configuration: IngestBenchmarkConfiguration) -> [BenchResult] {
        var out: [BenchResult] = []
        let perRun = m.oursCPU.runs.map { run in
            let server = run.server.map { BenchFormat.fixed($0 * 1e6 / Double(max(run.events, 1)), decimals: 1) } ?? "?"
            return "\(run.label) \(server) us (\(run.events) events)"
        }.joined(separator: ", ")
        if let server = m.oursCPU.microsecondsPerEvent(m.oursCPU.serverSeconds) {
            let ceiling = m.ceilingCPU.microsecondsPerEvent(m.ceilingCPU.localSeconds)
            let notes = "utime+stime of the server (pid \(configuration.serverPID.map(String.init) ?? "?")) over our three runs: \(BenchFormat.fixed(m.oursCPU.serverSeconds ?? 0, decimals: 2)) CPU-s for \(m.oursCPU.events) acknowledged events; per run: \(perRun)"
                + (ceiling.map { _ in "; \(ceilingName): this process's CPU over its two runs, \(BenchFormat.fixed(m.ceilingCPU.localSeconds, decimals: 2)) CPU-s for \(m.ceilingCPU.events) events" } ?? "; no ceiling run")
            if configuration.serverRunsSinks {
                out.append(BenchResult(
                    benchmark: "ingest", figure: "server_cpu_us_per_event_with_sinks", value: server, unit: "us",
                    peer: ceiling == nil ? nil : ceilingName, peerValue: ceiling, notes: notes
                ))
            } else {
                var result = BenchResult(
                    benchmark: "ingest", figure: "server_cpu_us_per_event", value: server, unit: "us",
                    peer: ceiling == nil ? nil : ceilingName, peerValue: ceiling,
                    target: ceiling == nil ? nil : "<= \(JSONText.number(serverCPUCeilingTarget))x ceiling", notes: notes
                )
                result.met = result.ratio.map { $0 <= serverCPUCeilingTarget }
                out.append(result)
            }
        }
        if let client = m.oursCPU.microsecondsPerEvent(m.oursCPU.localSeconds) {
            let perRun = m.oursCPU.runs.map { "\($0.label) \(BenchFormat.fixed($0.local * 1e6 / Double(max($0.events, 1)), decimals: 1)) us" }.joined(separator: ", ")
            out.append(BenchResult(
                benchmark: "ingest", figure: "client_cpu_us_per_event\(configuration.figureSuffix)", value: client, unit: "us",
                notes: "utime+stime of the load generator (AuditPipeClient and the load driver) over our three runs; per run: \(perRun)"
            ))
        }
        return out
    }

    private static func runNote(_ m: LoadMeasurement) -> String {
        var text = "\(m.succeeded)/\(m.sent) acked in \(BenchFormat.fixed(m.elapsedSeconds, decimals: 1)) s"
        if let latency = m.latency {
            text += ", p50/p99/max \(BenchFormat.value(LatencySummary.milliseconds(latency.p50Nanoseconds)))/\(BenchFormat.value(LatencySummary.milliseconds(latency.p99Nanoseconds)))/\(BenchFormat.value(LatencySummary.milliseconds(latency.maxNanoseconds))) ms"
        }
        if m.maxScheduleLagNanoseconds > 0 {
            text += ", max send lag \(BenchFormat.value(LatencySummary.milliseconds(m.maxScheduleLagNanoseconds))) ms"
        }
        if m.failed > 0 { text += ", \(m.failed) failed (\(m.firstError?.prefix(200) ?? "?"))" }
        return text
    }
}
