import Metrics

/// The recent-events view's metrics (swift-metrics; the server bootstraps the Prometheus backend).
///
/// | name | type | dimensions |
/// |---|---|---|
/// | `auditpipe_recent_events_written_total` | counter | - |
/// | `auditpipe_recent_batches_written_total` | counter | - |
/// | `auditpipe_recent_redis_errors_total` | counter | `operation` (`write`: the recent-events sink, `read`: RecentEvents) |
enum RecentMetrics {
    static let written = Counter(label: "auditpipe_recent_events_written_total")
    static let batches = Counter(label: "auditpipe_recent_batches_written_total")
    static let redisErrors = Counter(label: "auditpipe_recent_redis_errors_total", dimensions: [("operation", "write")])
    static let redisReadErrors = Counter(label: "auditpipe_recent_redis_errors_total", dimensions: [("operation", "read")])
}
