/// Everything `auditpipe serve` needs to run. The executable fills it from flags and `AUDITPIPE_*`
/// environment variables (see README.md, "Configuration reference"); defaults are safe for a
/// single local instance.
public struct AuditPipeConfiguration: Sendable {
    /// Where the gRPC API listens (`AUDITPIPE_GRPC_ADDR`).
    public var grpcAddress = HostAndPort(host: "127.0.0.1", port: 50051)
    /// Where the HTTP endpoints listen: metrics, health, the schema registry API, legacy JSON
    /// (`AUDITPIPE_HTTP_ADDR`).
    public var httpAddress = HostAndPort(host: "127.0.0.1", port: 8080)
    /// Kafka bootstrap servers, comma separated (`AUDITPIPE_KAFKA_BROKERS`).
    public var kafkaBrokers: String = ""
    /// ClickHouse HTTP interface URL (`AUDITPIPE_CLICKHOUSE_URL`).
    public var clickHouseURL: String = ""
    /// ClickHouse user and password (`AUDITPIPE_CLICKHOUSE_USER`, `AUDITPIPE_CLICKHOUSE_PASSWORD`).
    public var clickHouseUser: String = "default"
    public var clickHousePassword: String = ""
    /// Redis URL, `redis://[:password@]host:port[/db]` (`AUDITPIPE_REDIS_URL`).
    public var redisURL: String = ""

    public init() {}

    /// Checks the settings that can be checked without connecting anywhere.
    public func validate() throws(ConfigurationError) {
        if grpcAddress == httpAddress, grpcAddress.port != 0 {
            throw ConfigurationError(
                setting: "AUDITPIPE_HTTP_ADDR",
                problem: "the HTTP address \(httpAddress) is the same as the gRPC address; give each its own port"
            )
        }
    }
}
