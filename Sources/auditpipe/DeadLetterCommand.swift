import ArgumentParser
import AuditSink
import Foundation
import KafkaClient
import Logging

/// `auditpipe dlq list|replay`: review dead letters and send the ones fixed since back through the sink.
struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "List dead letters, or replay them into the pipeline once their cause is fixed.",
        discussion: """
            The sink dead-letters a record it can never write (undecodable, unknown schema id, \
            rejected by the table) and one whose insert failed on every retry; the latter are \
            re-driven by the server itself once ClickHouse is healthy. The others wait here for a \
            person: fix the cause (e.g. the table), then replay them.

            Replay produces each picked record back to its source topic (acks=all) with its \
            original key, value and headers; it goes through the sink like any record, and \
            event_id deduplication drops one that was stored after all, so a replay can be \
            repeated safely. Nothing is committed or deleted in the dead-letter topic.
            """,
        subcommands: [DeadLetterListCommand.self, DeadLetterReplayCommand.self]
    )
}

/// The options both subcommands share: where the dead letters are and which to pick.
struct DeadLetterSelection: ParsableArguments {
    @Option(name: .customLong("kafka-brokers"), help: "Kafka bootstrap servers, comma separated. [env: AUDITPIPE_KAFKA_BROKERS]")
    var kafkaBrokers: String?

    @Option(help: "The dead-letter topic. [env: AUDITPIPE_DLQ_TOPIC, default auditpipe.events.dlq]")
    var topic: String?

    @Option(name: .customLong("stage"), help: "Only dead letters of this stage (repeatable): decode, schema, encode, insert-rejected, insert-retries-exhausted.")
    var stages: [String] = []

    @Option(name: .customLong("reason-contains"), help: "Only dead letters whose reason contains this text (case-insensitive).")
    var reasonContains: String?

    @Option(name: .customLong("source-partition"), help: "Only records from this partition of the source topic.")
    var sourcePartition: Int32?

    @Option(help: "Only dead letters written at or after this time (ISO 8601, e.g. 2026-03-01T00:00:00Z).")
    var since: String?

    func validate() throws {
        for stage in stages where !DeadLetterFilter.knownStages.contains(stage) {
            throw ValidationError("--stage '\(stage)' is not a stage; use one of \(DeadLetterFilter.knownStages.joined(separator: ", "))")
        }
        if let since, Self.milliseconds(since) == nil {
            throw ValidationError("--since '\(since)' is not an ISO 8601 time; write e.g. 2026-03-01T00:00:00Z")
        }
    }

    var filter: DeadLetterFilter {
        var filter = DeadLetterFilter()
        filter.stages = Set(stages)
        filter.reasonContains = reasonContains
        filter.sourcePartition = sourcePartition
        filter.since = since.flatMap(Self.milliseconds)
        return filter
    }

    var deadLetterTopic: String {
        topic ?? ProcessInfo.processInfo.environment["AUDITPIPE_DLQ_TOPIC"] ?? "auditpipe.events.dlq"
    }

    func bootstrapServers() throws -> [String] {
        let servers = (kafkaBrokers ?? ProcessInfo.processInfo.environment["AUDITPIPE_KAFKA_BROKERS"] ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !servers.isEmpty else {
            throw ValidationError("no Kafka bootstrap servers: pass --kafka-brokers or set AUDITPIPE_KAFKA_BROKERS (dev stack: source .dev/env)")
        }
        return servers
    }

    static func milliseconds(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1000) }
        }
        return nil
    }

    static var logger: Logger {
        var logger = Logger(label: "auditpipe.dlq")
        logger.logLevel = .warning
        return logger
    }

    static func line(_ entry: DeadLetterEntry) -> String {
        let time = entry.timeMilliseconds > 0
            ? ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(entry.timeMilliseconds) / 1000)) : "-"
        return "\(entry.partition)@\(entry.offset)  \(time)  \(entry.stage)  \(entry.sourceTopic)[\(entry.sourcePartition)]@\(entry.sourceOffset)  attempts \(entry.attempts)\(entry.redrivenAutomatically ? "  (re-driven automatically)" : "")  \(entry.reason)"
    }
}

struct DeadLetterListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Print the dead letters that match, one per line: where, when, stage, source, attempts, reason."
    )

    @OptionGroup var selection: DeadLetterSelection

    func run() async throws {
        let filter = selection.filter
        var picked = 0
        let totals: (read: Int, foreign: Int)
        do {
            totals = try await DeadLetterReplay.read(topic: selection.deadLetterTopic, bootstrapServers: try selection.bootstrapServers(), logger: DeadLetterSelection.logger) { entry, _ in
                guard filter.matches(entry) else { return }
                picked += 1
                print(DeadLetterSelection.line(entry))
            }
        } catch let error as DeadLetterReplay.ReadError {
            throw CommandFailure(message: error.description)
        } catch let error as KafkaError {
            throw CommandFailure(message: "cannot read \(selection.deadLetterTopic): \(error.message)")
        }
        FileHandle.standardError.write(Data("\(picked) of \(totals.read) dead letters match\(totals.foreign > 0 ? " (\(totals.foreign) records without AuditPipe's headers skipped)" : "")\n".utf8))
    }
}

struct DeadLetterReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Produce the dead letters that match back to their source topic, to be written again.",
        discussion: """
            Example: after fixing what made ClickHouse reject a batch,
              auditpipe dlq replay --stage insert-rejected --dry-run
              auditpipe dlq replay --stage insert-rejected
            """
    )

    @OptionGroup var selection: DeadLetterSelection

    @Flag(name: .customLong("dry-run"), help: "Print what would be replayed; produce nothing.")
    var dryRun = false

    func run() async throws {
        let filter = selection.filter
        let servers = try selection.bootstrapServers()
        let logger = DeadLetterSelection.logger
        let producer: KafkaProducer? = dryRun ? nil : try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: servers), logger: logger)
        var replayed = 0
        var matched = 0
        let totals: (read: Int, foreign: Int)
        do {
            totals = try await DeadLetterReplay.read(topic: selection.deadLetterTopic, bootstrapServers: servers, logger: logger) { entry, message in
                guard filter.matches(entry) else { return }
                matched += 1
                guard let producer else {
                    print("would replay  " + DeadLetterSelection.line(entry))
                    return
                }
                let report = try await DeadLetterReplay.replay(message, entry: entry, to: producer)
                replayed += 1
                print("replayed \(entry.partition)@\(entry.offset) -> \(report.topic)[\(report.partition)]@\(report.offset)")
            }
        } catch let error as DeadLetterReplay.ReadError {
            await producer?.shutdown()
            throw CommandFailure(message: error.description)
        } catch let error as KafkaError {
            await producer?.shutdown()
            throw CommandFailure(message: "replay stopped after \(replayed) records: \(error.message) (run it again: repeats are deduplicated by event_id)")
        }
        await producer?.shutdown()
        let verb = dryRun ? "would replay" : "replayed"
        FileHandle.standardError.write(Data("\(verb) \(dryRun ? matched : replayed) of \(totals.read) dead letters\(totals.foreign > 0 ? " (\(totals.foreign) records without AuditPipe's headers skipped)" : "")\n".utf8))
    }
}
