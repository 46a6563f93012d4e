import AuditStore
import AuditConsumer
import Metrics

/// The sink's metrics (swift-metrics; the server bootstraps the Prometheus backend); the
/// recent-events view's are `RecentMetrics` (AuditRecent).
///
/// | name | type | dimensions |
/// |---|---|---|
/// | `auditpipe_sink_batch_rows` | recorder (histogram) | `group` |
/// | `auditpipe_sink_insert_duration_seconds` | timer | `group` |
/// | `auditpipe_sink_rows_inserted_total` | counter | `group` |
/// | `auditpipe_sink_duplicates_dropped_total` | counter | `group` |
/// | `auditpipe_sink_event_id_lookups_total` | counter | `group` (rows whose id was at or below its tenant's bound, so looked up) |
/// | `auditpipe_sink_clickhouse_errors_total` | counter | `group`, `code` (ClickHouse code or `network`/`timeout`) |
/// | `auditpipe_sink_dead_letters_total` | counter | `stage` |
/// | `auditpipe_consumer_lag_records` | gauge | `group`, `topic`, `partition` (``ConsumerLagGauges``) |
/// | `auditpipe_consumer_lag_seconds` | gauge | `group`, `topic`, `partition` (see ``PartitionLagTracker``) |
/// | `auditpipe_consumer_last_committed_timestamp_seconds` | gauge | `group`, `topic`, `partition` |
/// | `auditpipe_chain_checkpoints_stored_total` | counter | - |
/// | `auditpipe_chain_checkpoint_failures_total` | counter | `stage` (`sign`, `store`, `publish`, `export`) |
struct SinkMetrics: Sendable {
    let group: String
    let batchRows: Recorder
    let insertTime: Timer
    let rowsInserted: Counter
    let duplicatesDropped: Counter
    let eventIDLookups: Counter

    init(group: String) {
        self.group = group
        let dimensions = [("group", group)]
        batchRows = Recorder(label: "auditpipe_sink_batch_rows", dimensions: dimensions, aggregate: true)
        insertTime = Timer(label: "auditpipe_sink_insert_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
        rowsInserted = Counter(label: "auditpipe_sink_rows_inserted_total", dimensions: dimensions)
        duplicatesDropped = Counter(label: "auditpipe_sink_duplicates_dropped_total", dimensions: dimensions)
        eventIDLookups = Counter(label: "auditpipe_sink_event_id_lookups_total", dimensions: dimensions)
    }

    func clickHouseError(code: String) {
        Counter(label: "auditpipe_sink_clickhouse_errors_total", dimensions: [("group", group), ("code", code)]).increment()
    }

    static func deadLetter(stage: String) {
        Counter(label: "auditpipe_sink_dead_letters_total", dimensions: [("stage", stage)]).increment()
    }

    var lag: ConsumerLagGauges { ConsumerLagGauges(group: group) }

    static let checkpointsStored = Counter(label: "auditpipe_chain_checkpoints_stored_total")

    static func checkpointFailure(stage: String) {
        Counter(label: "auditpipe_chain_checkpoint_failures_total", dimensions: [("stage", stage)]).increment()
    }
}
