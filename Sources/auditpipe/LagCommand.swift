import ArgumentParser
import AuditConsumer
import Foundation

/// `auditpipe lag`: consumer lag per group and partition, from a running server's `/metrics`.
struct LagCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lag",
        abstract: "Show consumer lag per group and partition, in records and seconds.",
        discussion: """
            Reads the lag gauges from a running server's /metrics: the ClickHouse sink's group \
            and the recent-events group (<sink group>-recent), per topic and partition. LAG \
            SECONDS is now minus the Kafka timestamp of the oldest record not yet processed (0 \
            when caught up); LAST COMMITTED is how old the newest processed record is. Exits 1 \
            when the server cannot be reached. See docs/metrics.md.
            """
    )

    @Option(name: .customLong("http"), help: "The server's HTTP address host:port. [env: AUDITPIPE_HTTP_ADDR, default 127.0.0.1:8080]")
    var http: String?

    @Option(help: "Output: table or json.")
    var format: Format = .table

    @Option(help: "Only this consumer group.")
    var group: String?

    enum Format: String, ExpressibleByArgument {
        case table, json
    }

    func run() async throws {
        let text = try await ServerHTTP.get("/metrics", address: ServerHTTP.address(http))
        var report = ConsumerLagReport(prometheusText: text)
        if let group { report = ConsumerLagReport(rows: report.rows.filter { $0.group == group }) }
        switch format {
        case .json:
            print(report.json())
        case .table:
            if report.rows.isEmpty {
                print("no consumer lag reported by \(ServerHTTP.address(http))" + (group.map { " for group \($0)" } ?? "")
                    + " (no partitions assigned yet, or neither ClickHouse nor Redis is configured)")
            } else {
                print(report.renderTable(now: Date().timeIntervalSince1970))
            }
        }
    }
}
