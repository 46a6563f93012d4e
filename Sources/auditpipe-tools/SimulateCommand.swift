import ArgumentParser
import AuditSimulator
import Foundation

/// `auditpipe-tools simulate`: the main job in one command. Twelve simulated services send events to a
/// running server, then the run proves that every acknowledged event is stored.
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Simulate twelve services sending audit events, then check that nothing acknowledged was lost.",
        discussion: """
            Four services call the gRPC API through the Swift client (Ingest streams and \
            IngestBatch; one of them sends events that break the field rules on purpose) and eight \
            legacy producers post their own JSON shapes to /v1/legacy/{source} (a few records \
            malformed on purpose, to be quarantined). Every event has a stable id and is resent \
            with the same id while the server answers "unavailable". A progress line goes to \
            stderr.

            At the end it waits until the acknowledged events are queryable through \
            ComplianceReport, compares them id by id with what was acknowledged, and prints: the \
            services' counts, the quarantine summary, a compliance report (authentication events \
            per tenant this month), one user's recent events, and acknowledged vs stored per \
            tenant.

            Exit status: 0 when every acknowledged event is stored exactly once; 1 when any is \
            missing or duplicated, the read side did not answer, or the server could not be \
            reached.

            Example (after `Deploy/dev/up` and with `auditpipe serve` running):
              auditpipe-tools simulate --duration 60s --rate 200 --tenants 5
            """
    )

    @Option(help: "The AuditPipe gRPC server, host:port. [env: AUDITPIPE_SERVER, else AUDITPIPE_GRPC_ADDR, default 127.0.0.1:50051]")
    var server: String?

    @Option(help: "The server's HTTP address (legacy intake, /metrics), host:port. [env: AUDITPIPE_HTTP_ADDR, default 127.0.0.1:8080]")
    var http: String?

    @Option(help: "How long the services send: 90, 90s, 10m, 1h30m.")
    var duration = "60s"

    @Option(help: "Events per second over all services together.")
    var rate: Double = 200

    @Option(help: "How many tenants the events are spread over (acme, globex, initech, umbrella, hooli, ...).")
    var tenants = 5

    @Option(help: "Seed of every random choice (users, actions, which events are broken). Default: random.")
    var seed: UInt64?

    @Option(name: .customLong("run-id"), help: "Tag of this run's event ids and actors, 4 to 16 lowercase letters or digits. Default: random. Reusing one makes AuditPipe treat the events as repeats.")
    var runID: String?

    @Option(name: .customLong("retry-deadline"), help: "How long an unacknowledged event is resent before it is given up.")
    var retryDeadline = "60s"

    @Option(name: .customLong("settle-timeout"), help: "How long to wait at the end for acknowledged events to become queryable.")
    var settleTimeout = "120s"

    @Option(name: .customLong("api-key-env"), help: "The environment variable holding the API key, sent as a bearer token on gRPC and HTTP when set.")
    var apiKeyEnvironmentVariable = "AUDITPIPE_API_KEY"

    @Flag(name: .customLong("check-recent"), help: "Also wait until RecentEvents shows the busiest user's acknowledged events (up to 100), and fail if it does not within the settle timeout.")
    var checkRecent = false

    @Flag(name: .customLong("skip-verify"), help: "Do not read the stored events back (for a server without ComplianceReport / RecentEvents). The run then proves nothing about storage.")
    var skipVerify = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var random = SystemRandomNumberGenerator()
        let runID = runID ?? RunIdentity.random(using: &random).runID
        var configuration = SimulationConfiguration(run: RunIdentity(runID: runID))
        let grpcAddress = server ?? environment["AUDITPIPE_SERVER"] ?? environment["AUDITPIPE_GRPC_ADDR"] ?? "127.0.0.1:50051"
        guard let grpc = SimulationArguments.hostAndPort(grpcAddress) else {
            throw ValidationError("--server '\(grpcAddress)' must be host:port")
        }
        let httpAddress = http ?? environment["AUDITPIPE_HTTP_ADDR"] ?? "127.0.0.1:8080"
        guard let httpEndpoint = SimulationArguments.hostAndPort(httpAddress) else {
            throw ValidationError("--http '\(httpAddress)' must be host:port")
        }
        (configuration.grpcHost, configuration.grpcPort) = grpc
        (configuration.httpHost, configuration.httpPort) = httpEndpoint
        configuration.duration = try Self.seconds(duration, option: "--duration")
        configuration.retryDeadline = try Self.seconds(retryDeadline, option: "--retry-deadline")
        configuration.settleTimeout = try Self.seconds(settleTimeout, option: "--settle-timeout")
        configuration.rate = rate
        configuration.tenantCount = tenants
        configuration.seed = seed ?? UInt64.random(in: 1...999_999, using: &random)
        configuration.verify = !skipVerify
        configuration.checkRecent = checkRecent
        if let key = environment[apiKeyEnvironmentVariable], !key.isEmpty {
            configuration.apiKey = key
        }
        do {
            try configuration.validate()
        } catch {
            throw ValidationError(error.description)
        }
        let outcome = try await SimulationRunner(configuration: configuration).run()
        if outcome.exitCode != 0 {
            throw ExitCode(outcome.exitCode)
        }
    }

    private static func seconds(_ text: String, option: String) throws -> Double {
        guard let value = SimulationArguments.seconds(text) else {
            throw ValidationError("\(option) '\(text)' is not a duration; write e.g. 90s, 10m or 1h30m")
        }
        return value
    }
}
