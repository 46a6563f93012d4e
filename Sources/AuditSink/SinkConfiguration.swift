public import AuditStore
public import AuditConsumer
import ClickHouseHTTP
/// Configuration of the ClickHouse side of the sink: topics, tables, batching, deduplication and
/// retries. Plain values with documented defaults; ``validate()`` names the field and the rule.
public struct AuditSinkConfiguration: Sendable, Hashable {
    /// The audit topic read by ``ClickHouseSink``. Default `auditpipe.events`.
    public var topic: String = "auditpipe.events"
    /// Where records that can never be written go. Default `auditpipe.events.dlq`.
    public var deadLetterTopic: String = "auditpipe.events.dlq"
    /// The ClickHouse tables (names and engine).
    public var tables = ClickHouseTables()
    /// A batch is cut when it holds this many records. Default 50,000 (ClickHouse advises
    /// 10k–100k rows per insert; each insert is a part, and every statement of a batch costs
    /// ClickHouse a few milliseconds whatever its size, so a backlog goes in large batches).
    public var maxBatchRows: Int = 50_000
    /// ... or when its oldest record has waited this long, so events are queryable within a
    /// second. Default 500 ms: at 5,000 events/s on the dev stack, with the producer's default
    /// 25 ms linger, the visibility p99 was 709-926 ms with it and 1,352-1,483 ms with 1 s (with
    /// a 5 ms linger the machine's CPU, not the delay, decided it: 3,004 ms). The price is
    /// twice the batches (each a range record, an insert and a key record, a few milliseconds of
    /// ClickHouse CPU each) at rates where batches are cut by time.
    public var maxBatchDelay: Duration = .milliseconds(500)
    /// Events with the same (tenant, event_id) whose event times are at most this far apart are
    /// stored once, as long as the first was stored within ``ClickHouseTables/eventKeyRetention``.
    /// Default 24 h.
    public var eventIDWindow: Duration = .seconds(24 * 3600)
    /// How ClickHouse failures are retried. Default: 5 attempts, 0.5 s doubling to 30 s, jitter.
    public var retry = RetryPolicy()
    /// How often the lag gauges are refreshed. Default 5 s.
    public var lagInterval: Duration = .seconds(5)
    /// Whether each stored row is put on its tenant's hash chain (`chain_seq`, `chain_hash`; see
    /// the `AuditIntegrity` module). Default true. Off, rows are stored with `chain_seq` 0 and
    /// `auditpipe verify` reports them as not on the chain; it exists to measure the chain's cost.
    public var hashChain: Bool = true

    /// Creates a configuration with the defaults documented on each field.
    public init() {}

    /// Checks every field.
    public func validate() throws(AuditSinkError) {
        if topic.isEmpty { throw .configuration("AuditSinkConfiguration.topic", "must not be empty") }
        if deadLetterTopic.isEmpty || deadLetterTopic == topic {
            throw .configuration("AuditSinkConfiguration.deadLetterTopic", "must be a topic other than \(topic)")
        }
        if !(1...1_000_000).contains(maxBatchRows) {
            throw .configuration("AuditSinkConfiguration.maxBatchRows", "must be in 1...1000000 (got \(maxBatchRows))")
        }
        if maxBatchDelay <= .zero { throw .configuration("AuditSinkConfiguration.maxBatchDelay", "must be positive") }
        if eventIDWindow < .zero { throw .configuration("AuditSinkConfiguration.eventIDWindow", "must not be negative") }
        if eventIDWindow > tables.eventKeyRetention {
            throw .configuration(
                "AuditSinkConfiguration.eventIDWindow",
                "must not exceed ClickHouseTables.eventKeyRetention (\(tables.eventKeyRetention.components.seconds) s): the keys it compares against are kept that long"
            )
        }
        if lagInterval <= .zero { throw .configuration("AuditSinkConfiguration.lagInterval", "must be positive") }
        do { try tables.validate() } catch { throw AuditSinkError(message: error.message, isRetriable: false) }
        try retry.validate()
    }
}
