public import AuditStore
public import AuditConsumer
import AuditEvents
public import AuditIntegrity
import CoreMetrics
import Foundation
public import KafkaClient
public import Logging
public import ServiceLifecycle

/// When and where the heads of the tenants' hash chains are signed.
public struct ChainCheckpointConfiguration: Sendable, Hashable {
    /// A chain that advanced is signed at least this often. Default 60 s.
    public var interval: Duration = .seconds(60)
    /// ... and as soon as it advanced this many events since its last checkpoint. Default 10,000.
    public var everyEvents: UInt64 = 10_000
    /// The Kafka topic checkpoints are published to (key: tenant id, value: the checkpoint's
    /// JSON), for witnesses outside the database. Nil publishes nothing. Default
    /// `auditpipe.checkpoints`.
    public var topic: String? = "auditpipe.checkpoints"
    /// A directory that receives one JSON file per checkpoint (see ``ChainCheckpointExport``), e.g.
    /// a mount that an external witness copies off the machine. Nil writes none (default).
    public var exportDirectory: String? = nil
    /// How often the due heads are looked for. Default 1 s.
    public var pollInterval: Duration = .seconds(1)

    /// Creates a configuration with the defaults documented on each field.
    public init() {}

    /// Checks every field.
    public func validate() throws(AuditSinkError) {
        if interval <= .zero { throw .configuration("ChainCheckpointConfiguration.interval", "must be positive") }
        if everyEvents < 1 { throw .configuration("ChainCheckpointConfiguration.everyEvents", "must be at least 1") }
        if let topic, topic.isEmpty { throw .configuration("ChainCheckpointConfiguration.topic", "must not be empty (nil publishes nothing)") }
        if let exportDirectory, exportDirectory.isEmpty {
            throw .configuration("ChainCheckpointConfiguration.exportDirectory", "must not be empty (nil exports nothing)")
        }
        if pollInterval <= .zero { throw .configuration("ChainCheckpointConfiguration.pollInterval", "must be positive") }
    }
}

/// Signs the acknowledged head of every chain that advanced, every
/// ``ChainCheckpointConfiguration/interval`` and every ``ChainCheckpointConfiguration/everyEvents``
/// events, with the configured Ed25519 key; stores each checkpoint in ClickHouse, publishes it to
/// Kafka and (optionally) exports it to a file.
///
/// Only heads that ClickHouse acknowledged are signed (``ClickHouseSink/chainHeads``), so a
/// checkpoint never covers a row that could still be lost. On graceful shutdown it signs the
/// heads that advanced once more, then returns: list it *before* the sink in a `ServiceGroup`,
/// so the sink (shut down first, in reverse order) has flushed its last batch by then.
public final class ChainCheckpointService: Service, Sendable {
    private let configuration: ChainCheckpointConfiguration
    private let key: CheckpointSigningKey
    private let heads: ChainHeadRegistry
    private let store: ClickHouseEventStore
    private let producer: KafkaProducer?
    private let logger: Logger

    /// Creates the service.
    ///
    /// - Parameters:
    ///   - heads: the sink's acknowledged heads (``ClickHouseSink/chainHeads``).
    ///   - producer: an acks=all producer for ``ChainCheckpointConfiguration/topic`` (nil: no publishing).
    public init(
        configuration: ChainCheckpointConfiguration, key: CheckpointSigningKey, heads: ChainHeadRegistry,
        store: ClickHouseEventStore, producer: KafkaProducer?, logger: Logger
    ) throws(AuditSinkError) {
        try configuration.validate()
        self.configuration = configuration
        self.key = key
        self.heads = heads
        self.store = store
        self.producer = configuration.topic == nil ? nil : producer
        var logger = logger
        logger[metadataKey: "checkpoint.key"] = "\(key.keyID)"
        self.logger = logger
    }

    /// Signs due heads until graceful shutdown, then signs what advanced one last time.
    public func run() async throws {
        logger.info("checkpoint service starting", metadata: ["interval": "\(configuration.interval)", "every_events": "\(configuration.everyEvents)"])
        while !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown {
                    try await Task.sleep(for: self.configuration.pollInterval)
                }
            } catch {
                break
            }
            if Task.isCancelled { break }
            await checkpointDue(everything: false)
        }
        // Graceful shutdown (not cancellation): sign what the sink flushed last.
        if !Task.isCancelled {
            await checkpointDue(everything: true)
        }
        logger.info("checkpoint service stopped")
    }

    /// Signs, stores, publishes and exports the due heads (with `everything`, every head that
    /// advanced since its last checkpoint). Returns the checkpoints that were stored.
    @discardableResult
    public func checkpointDue(everything: Bool) async -> [SignedCheckpoint] {
        let now = ContinuousClock.now
        let due = everything
            ? heads.due(now: now, interval: .zero, events: 1)
            : heads.due(now: now, interval: configuration.interval, events: configuration.everyEvents)
        guard !due.isEmpty else { return [] }
        let signedAt = UnixTime.nowMilliseconds()
        var signed: [SignedCheckpoint] = []
        for head in due.sorted(by: { $0.tenantID < $1.tenantID }) {
            do {
                signed.append(try key.sign(tenantID: head.tenantID, sequence: head.sequence, headHash: head.hash, signedAtMilliseconds: signedAt))
            } catch {
                SinkMetrics.checkpointFailure(stage: "sign")
                logger.error("cannot sign the head of \(head.tenantID): \(error)")
            }
        }
        do {
            try await store.insertCheckpoints(signed)
        } catch {
            SinkMetrics.checkpointFailure(stage: "store")
            logger.warning("cannot store \(signed.count) checkpoints, retrying next round: \(error)")
            return []
        }
        SinkMetrics.checkpointsStored.increment(by: signed.count)
        if let producer, let topic = configuration.topic {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for checkpoint in signed {
                        group.addTask {
                            _ = try await producer.send(ChainCheckpointExport.record(checkpoint, topic: topic))
                        }
                    }
                    try await group.waitForAll()
                }
            } catch {
                SinkMetrics.checkpointFailure(stage: "publish")
                logger.warning("cannot publish checkpoints to \(topic) (they are stored in ClickHouse): \(error)")
            }
        }
        if let directory = configuration.exportDirectory {
            do { try ChainCheckpointExport.write(signed, to: directory) } catch {
                SinkMetrics.checkpointFailure(stage: "export")
                logger.warning("cannot export checkpoints to \(directory) (they are stored in ClickHouse): \(error)")
            }
        }
        for checkpoint in signed {
            heads.checkpointed(tenantID: checkpoint.checkpoint.tenantID, sequence: checkpoint.checkpoint.sequence, at: now)
        }
        logger.debug("signed \(signed.count) checkpoints")
        return signed
    }
}

/// The external forms of checkpoints: Kafka records and files for witnesses.
public enum ChainCheckpointExport {
    /// The Kafka record of a checkpoint: key = tenant id, value = its JSON
    /// (``SignedCheckpoint/json``), header `auditpipe-key-id`.
    public static func record(_ checkpoint: SignedCheckpoint, topic: String) -> KafkaOutgoingMessage {
        KafkaOutgoingMessage(
            topic: topic, key: Array(checkpoint.checkpoint.tenantID.utf8), value: Array(checkpoint.json.utf8),
            headers: [KafkaHeader(name: "auditpipe-key-id", value: Array(checkpoint.checkpoint.keyID.utf8))]
        )
    }

    /// The file name of a checkpoint: `<tenant>.<sequence, 20 digits>.<signed_at_ms>.json`, the
    /// tenant percent-encoded outside `[A-Za-z0-9._-]`, so names sort by tenant then sequence.
    public static func fileName(of checkpoint: SignedCheckpoint) -> String {
        let c = checkpoint.checkpoint
        var tenant = ""
        for byte in c.tenantID.utf8 {
            let safe = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            tenant += safe ? String(UnicodeScalar(byte)) : String(format: "%%%02X", byte)
        }
        let sequence = String(c.sequence)
        return "\(tenant).\(String(repeating: "0", count: max(0, 20 - sequence.count)))\(sequence).\(c.signedAtMilliseconds).json"
    }

    /// Writes each checkpoint to `directory` (created if needed) as one JSON file (the JSON plus
    /// a newline), atomically (temporary file, then rename). Existing files are left alone.
    ///
    /// - Returns: the paths written.
    @discardableResult
    public static func write(_ checkpoints: [SignedCheckpoint], to directory: String) throws -> [String] {
        let manager = FileManager.default
        try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var written: [String] = []
        for checkpoint in checkpoints {
            let path = (directory as NSString).appendingPathComponent(fileName(of: checkpoint))
            if manager.fileExists(atPath: path) { continue }
            try Data((checkpoint.json + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            written.append(path)
        }
        return written
    }

    /// Reads the checkpoint files (`*.json`) of `directory`, or of one tenant.
    public static func read(from directory: String, tenantID: String? = nil) throws -> [SignedCheckpoint] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }.sorted()
        var result: [SignedCheckpoint] = []
        for name in names {
            let data = try Data(contentsOf: URL(fileURLWithPath: (directory as NSString).appendingPathComponent(name)))
            let checkpoint = try SignedCheckpoint(json: Array(data))
            if tenantID == nil || checkpoint.checkpoint.tenantID == tenantID { result.append(checkpoint) }
        }
        return result
    }
}
