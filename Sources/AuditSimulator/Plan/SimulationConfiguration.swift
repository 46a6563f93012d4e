/// Everything a simulation run needs. Plain values; `validate()` names the setting at fault.
package struct SimulationConfiguration: Sendable {
    /// The gRPC server.
    package var grpcHost = "127.0.0.1"
    package var grpcPort = 50051
    /// The server's HTTP address (legacy intake, /metrics, /healthz), host:port.
    package var httpHost = "127.0.0.1"
    package var httpPort = 8080
    /// Sent as `authorization: Bearer <key>` on gRPC and HTTP, when set.
    package var apiKey: String?
    /// How long the services send, in seconds.
    package var duration: Double = 60
    /// Events per second over all services together.
    package var rate: Double = 200
    /// How many tenants the services spread their events over.
    package var tenantCount = 5
    /// Seeds every random choice (tenants, users, actions, which events are broken).
    package var seed: UInt64 = 1
    /// Makes this run's event ids and actors unique; see `RunIdentity`.
    package var run: RunIdentity
    package var services: [SimulatedService] = SimulatedService.defaultCatalog
    /// How long an unacknowledged event is resent before it is given up, in seconds.
    package var retryDeadline: Double = 60
    /// How long events may wait on an Ingest stream with no answer at all before the client
    /// abandons the stream (its events are resent, and the run fails: a server must answer every
    /// event, within its produce timeout), in seconds.
    package var streamAnswerTimeout: Double = 60
    /// How long to wait at the end for acknowledged events to become queryable, in seconds.
    package var settleTimeout: Double = 120
    /// Compare acknowledged with stored events and print the read-side reports (compliance
    /// report, recent events). Off only for servers without a read side.
    package var verify = true
    /// After the storage check, wait until RecentEvents shows the busiest user's newest events
    /// (as many as were acknowledged, up to 100) and fail the run if it does not within
    /// `settleTimeout`: proves the Redis path caught up (e.g. after a Redis outage).
    package var checkRecent = false
    /// Print the tables and reports on stdout. Off for callers that print their own summary (a
    /// chaos scenario prints one `DeliveryTally` line); the progress line on stderr stays.
    package var printReports = true

    package init(run: RunIdentity) {
        self.run = run
    }

    /// The tenants events are spread over.
    package var tenants: [String] { TenantNames.first(tenantCount) }

    /// A problem with one setting.
    package struct Problem: Error, Sendable, CustomStringConvertible {
        package var setting: String
        package var message: String
        package var description: String { "\(setting): \(message)" }
    }

    package func validate() throws(Problem) {
        guard duration > 0, duration <= 7 * 24 * 3600 else { throw Problem(setting: "--duration", message: "must be more than 0 and at most 7 days (e.g. 60s, 10m, 2h)") }
        guard rate > 0, rate <= 100_000 else { throw Problem(setting: "--rate", message: "must be more than 0 and at most 100000 events per second") }
        guard (1...1000).contains(tenantCount) else { throw Problem(setting: "--tenants", message: "must be 1 to 1000") }
        guard RunIdentity.isValid(run.runID) else { throw Problem(setting: "--run-id", message: "must be 4 to 16 lowercase letters or digits") }
        guard !services.isEmpty else { throw Problem(setting: "--services", message: "no service selected") }
        guard retryDeadline >= 0 else { throw Problem(setting: "--retry-deadline", message: "must not be negative") }
        guard streamAnswerTimeout > 0 else { throw Problem(setting: "streamAnswerTimeout", message: "must be more than 0") }
        guard settleTimeout > 0 else { throw Problem(setting: "--settle-timeout", message: "must be more than 0") }
        guard (1...65535).contains(grpcPort), (1...65535).contains(httpPort) else { throw Problem(setting: "--server/--http", message: "ports must be 1 to 65535") }
    }
}

/// Parsing of the command line's values.
package enum SimulationArguments {
    /// `90`, `90s`, `1500ms`, `10m`, `2h`, `1m30s` → seconds.
    package static func seconds(_ text: String) -> Double? {
        var total = 0.0
        var number = ""
        var sawUnit = false
        var rest = Substring(text.trimmingSpaces)
        guard !rest.isEmpty else { return nil }
        while let c = rest.first {
            if c.isNumber || c == "." {
                number.append(c)
                rest = rest.dropFirst()
                continue
            }
            guard let value = Double(number) else { return nil }
            let multiplier: Double
            if rest.hasPrefix("ms") { multiplier = 0.001; rest = rest.dropFirst(2) }
            else if c == "s" { multiplier = 1; rest = rest.dropFirst() }
            else if c == "m" { multiplier = 60; rest = rest.dropFirst() }
            else if c == "h" { multiplier = 3600; rest = rest.dropFirst() }
            else { return nil }
            total += value * multiplier
            number = ""
            sawUnit = true
        }
        if !number.isEmpty {
            guard !sawUnit, let value = Double(number) else { return nil }
            total += value
        }
        return total
    }

    /// `host:port` or `[v6]:port`.
    package static func hostAndPort(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
