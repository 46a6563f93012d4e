import Metrics

/// The sink's metrics (swift-metrics; the server bootstraps the Prometheus backend).
///
/// | name | type | dimensions |
/// |---|---|---|
/// | `auditpipe_sink_batch_rows` | recorder (histogram) | `group` |
/// | `auditpipe_sink_insert_duration_seconds` | timer | `group` |
/// | `auditpipe_sink_rows_inserted_total` | counter | `group` |
/// | `auditpipe_sink_duplicates_dropped_total` | counter | `group` |
/// | `auditpipe_sink_clickhouse_errors_total` | counter | `group`, `code` (ClickHouse code or `network`/`timeout`) |
/// | `auditpipe_sink_dead_letters_total` | counter | `stage` |
/// | `auditpipe_consumer_lag_records` | gauge | `group`, `topic`, `partition` |
/// | `auditpipe_consumer_lag_seconds` | gauge | `group`, `topic`, `partition` (now minus the Kafka timestamp of the oldest record not yet committed; 0 when caught up) |
/// | `auditpipe_recent_events_written_total` | counter | - |
/// | `auditpipe_recent_redis_errors_total` | counter | - |
struct SinkMetrics: Sendable {
    let group: String
    let batchRows: Recorder
    let insertTime: Timer
    let rowsInserted: Counter
    let duplicatesDropped: Counter

    init(group: String) {
        self.group = group
        let dimensions = [("group", group)]
        batchRows = Recorder(label: "auditpipe_sink_batch_rows", dimensions: dimensions, aggregate: true)
        insertTime = Timer(label: "auditpipe_sink_insert_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
        rowsInserted = Counter(label: "auditpipe_sink_rows_inserted_total", dimensions: dimensions)
        duplicatesDropped = Counter(label: "auditpipe_sink_duplicates_dropped_total", dimensions: dimensions)
    }

    func clickHouseError(code: String) {
        Counter(label: "auditpipe_sink_clickhouse_errors_total", dimensions: [("group", group), ("code", code)]).increment()
    }

    static func deadLetter(stage: String) {
        Counter(label: "auditpipe_sink_dead_letters_total", dimensions: [("stage", stage)]).increment()
    }

    func lag(topic: String, partition: Int32, records: Int64?, seconds: Double?) {
        let dimensions = [("group", group), ("topic", topic), ("partition", String(partition))]
        if let records { Gauge(label: "auditpipe_consumer_lag_records", dimensions: dimensions).record(Double(records)) }
        if let seconds { Gauge(label: "auditpipe_consumer_lag_seconds", dimensions: dimensions).record(seconds) }
    }

    static let recentWritten = Counter(label: "auditpipe_recent_events_written_total")
    static let redisErrors = Counter(label: "auditpipe_recent_redis_errors_total")
}
