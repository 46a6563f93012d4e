import Foundation
public import Logging
import Yams

// The configuration file (`auditpipe serve --config FILE`, or `AUDITPIPE_CONFIG`), environment
// overrides and flags, merged into one `AuditPipeConfiguration` with the origin of every value.
// Precedence, highest first: flags, environment, file, defaults. Every key is declared once in
// `ConfigurationKeys.all` (path, variable, flag, default, meaning); docs/configuration.md is the
// same table for people, and a test keeps the two in step.

/// Where an effective setting came from.
public enum ConfigurationOrigin: Sendable, Hashable, CustomStringConvertible {
    /// The built-in default.
    case defaultValue
    /// The configuration file, at a line and column.
    case file(path: String, line: Int, column: Int)
    /// An environment variable.
    case environment(String)
    /// A command-line flag.
    case flag(String)

    /// `default`, `file auditpipe.yaml:12:3`, `env AUDITPIPE_X` or `flag --x`.
    public var description: String {
        switch self {
        case .defaultValue: "default"
        case .file(let path, let line, let column): "file \(path):\(line):\(column)"
        case .environment(let name): "env \(name)"
        case .flag(let name): "flag \(name)"
        }
    }
}

/// One problem with the configuration: the key, where the bad value came from, and what to do.
public struct ConfigurationProblem: Sendable, Hashable, CustomStringConvertible {
    /// The key, such as `sink.batch_max_rows` (empty for a problem with the whole file).
    public var key: String
    /// Where the offending value came from, when known.
    public var origin: ConfigurationOrigin?
    /// What is wrong and what to do.
    public var problem: String

    /// Creates a problem.
    public init(key: String, origin: ConfigurationOrigin?, problem: String) {
        self.key = key
        self.origin = origin
        self.problem = problem
    }

    /// `auditpipe.yaml:12:3: sink.batch_max_rows: must be a positive integer, got "ten"`, or
    /// `sink.batch_max_rows (from AUDITPIPE_SINK_BATCH_MAX_ROWS): ...`.
    public var description: String {
        let subject = key.isEmpty ? "" : "\(key)"
        switch origin {
        case .file(let path, let line, let column):
            return "\(path):\(line):\(column): " + (subject.isEmpty ? problem : "\(subject): \(problem)")
        case .environment(let name):
            return "\(subject) (from \(name)): \(problem)"
        case .flag(let name):
            return "\(subject) (from \(name)): \(problem)"
        case .defaultValue, nil:
            return subject.isEmpty ? problem : "\(subject): \(problem)"
        }
    }
}

/// The configuration cannot be used: every problem found, each naming its key.
public struct ConfigurationFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The problems, in file order, then environment, flags and cross-key checks.
    public var problems: [ConfigurationProblem]

    /// Creates an error.
    public init(problems: [ConfigurationProblem]) {
        self.problems = problems
    }

    /// One line per problem.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// The effective configuration: the server's settings, the log level, and where each value came
/// from.
public struct LoadedConfiguration: Sendable {
    /// The server's settings.
    public var configuration: AuditPipeConfiguration
    /// The log level (`log.level`).
    public var logLevel: Logger.Level
    /// The configuration file read, if any.
    public var file: String?
    /// The origin of each key's value, by key path; keys not listed have their default.
    public var origins: [String: ConfigurationOrigin]
    /// Things worth a look that do not stop the server (e.g. an `AUDITPIPE_*` variable that
    /// looks like a misspelt key).
    public var warnings: [String]

    /// Every key with its effective value (secrets masked) and origin, in reference order.
    public var effectiveSettings: [EffectiveSetting] {
        ConfigurationKeys.all.map { key in
            EffectiveSetting(
                key: key.path, environmentVariable: key.environment,
                value: key.display(ResolvedSettings(configuration: configuration, logLevel: logLevel)),
                origin: origins[key.path] ?? .defaultValue
            )
        }
    }

    /// The effective settings as an aligned table: key, value, origin.
    public func renderTable() -> String {
        let rows = effectiveSettings.map { [$0.key, $0.value ?? "(unset)", $0.origin.description] }
        return SettingsTable.render(header: ["KEY", "VALUE", "SOURCE"], rows: rows)
    }
}

/// One key of the effective configuration, for display.
public struct EffectiveSetting: Sendable, Hashable {
    /// The key path, e.g. `kafka.brokers`.
    public var key: String
    /// The environment variable that overrides it.
    public var environmentVariable: String
    /// The value as text, secrets masked; nil when unset.
    public var value: String?
    /// Where the value came from.
    public var origin: ConfigurationOrigin
}

/// Reads the configuration file, the environment and flags into a ``LoadedConfiguration``.
public enum ConfigurationLoader {
    /// The variable naming the configuration file when `--config` is not given.
    public static let fileVariable = "AUDITPIPE_CONFIG"

    /// Variables that start with `AUDITPIPE_` but are read by other tools (the command-line
    /// clients, the dev stack, tests), so they never draw a "did you mean" warning.
    static let foreignVariables: Set<String> = [
        fileVariable, "AUDITPIPE_KAFKA_CONTROL", "AUDITPIPE_PYTHON", "AUDITPIPE_STATE_DIR", "AUDITPIPE_HTTP",
        "AUDITPIPE_API_KEY", "AUDITPIPE_SERVER", "AUDITPIPE_CLI", "AUDITPIPE_BIN", "AUDITPIPE_CACHE_DIR",
        "AUDITPIPE_BOOTSTRAP_PYTHON", "AUDITPIPE_SCHEMA_REGISTRY", "AUDITPIPE_SCHEMA_REGISTRY_USER",
        "AUDITPIPE_SCHEMA_REGISTRY_PASSWORD",
    ]
    /// Prefixes of variable families of other tools.
    static let foreignPrefixes = ["AUDITPIPE_DEV_", "AUDITPIPE_CHAOS_"]

    /// Loads and validates the configuration.
    ///
    /// - Parameters:
    ///   - file: the file from `--config`; nil reads `AUDITPIPE_CONFIG` from `environment`, and
    ///     without either only the environment, flags and defaults apply.
    ///   - environment: the process environment (empty values count as unset).
    ///   - flags: flag values by key path (e.g. `["grpc.address": "0.0.0.0:50051"]`).
    /// - Throws: ``ConfigurationFileError`` listing every problem, each naming its key.
    public static func load(
        file: String?, environment: [String: String], flags: [String: String] = [:]
    ) throws(ConfigurationFileError) -> LoadedConfiguration {
        let path = file ?? environment[fileVariable].flatMap { $0.isEmpty ? nil : $0 }
        guard let path else {
            return try load(yaml: nil, fileName: nil, baseDirectory: FileManager.default.currentDirectoryPath, environment: environment, flags: flags)
        }
        let origin: ConfigurationOrigin = file != nil ? .flag("--config") : .environment(fileVariable)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationFileError(problems: [
                .init(key: "", origin: nil, problem: "cannot read the configuration file \(path) (\(origin)); check the path and its permissions")
            ])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationFileError(problems: [.init(key: "", origin: nil, problem: "\(path): the configuration file is not valid UTF-8")])
        }
        let directory = (URL(fileURLWithPath: path).deletingLastPathComponent().path)
        return try load(yaml: text, fileName: path, baseDirectory: directory, environment: environment, flags: flags)
    }

    /// Loads from YAML text (nil: no file). Relative paths in the file are resolved against
    /// `baseDirectory`; those from the environment and flags against the working directory.
    package static func load(
        yaml: String?, fileName: String?, baseDirectory: String,
        environment: [String: String], flags: [String: String]
    ) throws(ConfigurationFileError) -> LoadedConfiguration {
        var problems: [ConfigurationProblem] = []
        var settings = ResolvedSettings(configuration: AuditPipeConfiguration(), logLevel: .info)
        var origins: [String: ConfigurationOrigin] = [:]
        let keys = Dictionary(uniqueKeysWithValues: ConfigurationKeys.all.map { ($0.path, $0) })

        func apply(_ key: ConfigurationKey, _ input: SettingInput) {
            do {
                try key.apply(&settings, input)
                origins[key.path] = input.origin
            } catch let invalid as InvalidValue {
                problems.append(.init(key: key.path, origin: input.origin, problem: invalid.message))
            } catch {
                problems.append(.init(key: key.path, origin: input.origin, problem: "\(error)"))
            }
        }

        // 1. The file.
        if let yaml, let fileName {
            var reader = ConfigurationFileReader(fileName: fileName, baseDirectory: baseDirectory)
            let entries = reader.read(yaml: yaml)
            problems += reader.problems
            for entry in entries {
                guard let key = keys[entry.key] else { continue }
                apply(key, entry.input)
            }
        }
        // 2. The environment.
        let cwd = FileManager.default.currentDirectoryPath
        for key in ConfigurationKeys.all {
            guard let value = environment[key.environment], !value.isEmpty else { continue }
            apply(key, SettingInput(raw: .text(value), origin: .environment(key.environment), baseDirectory: cwd))
        }
        // 3. Flags.
        for (path, value) in flags.sorted(by: { $0.key < $1.key }) {
            guard let key = keys[path] else {
                problems.append(.init(key: path, origin: nil, problem: "not a configuration key (internal error: a flag maps to an unknown key)"))
                continue
            }
            apply(key, SettingInput(raw: .text(value), origin: .flag(key.flag ?? "--\(path)"), baseDirectory: cwd))
        }
        // 4. Rules between keys (only when every value parsed, so each problem is reported once).
        if problems.isEmpty {
            if settings.configuration.kafkaBootstrapServers.isEmpty {
                problems.append(.init(
                    key: "kafka.brokers", origin: nil,
                    problem: "required: no Kafka bootstrap servers; set kafka.brokers in the file, AUDITPIPE_KAFKA_BROKERS or --kafka-brokers (for the dev stack: source .dev/env after Deploy/dev/up)"
                ))
            } else {
                do {
                    try settings.configuration.validate()
                } catch {
                    let key = ConfigurationKeys.all.first { error.setting.contains($0.environment) }
                    problems.append(.init(key: key?.path ?? error.setting, origin: key.flatMap { origins[$0.path] }, problem: error.problem))
                }
            }
        }
        guard problems.isEmpty else { throw ConfigurationFileError(problems: inFileOrder(problems)) }
        return LoadedConfiguration(
            configuration: settings.configuration, logLevel: settings.logLevel, file: fileName, origins: origins,
            warnings: misspeltVariables(in: environment)
        )
    }

    /// The file's problems by line and column, then the others in the order found.
    static func inFileOrder(_ problems: [ConfigurationProblem]) -> [ConfigurationProblem] {
        func position(_ problem: ConfigurationProblem) -> (Int, Int, Int)? {
            if case .file(_, let line, let column) = problem.origin { return (0, line, column) }
            return nil
        }
        return problems.enumerated().sorted { a, b in
            switch (position(a.element), position(b.element)) {
            case (let x?, let y?): return x == y ? a.offset < b.offset : x < y
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return a.offset < b.offset
            }
        }.map(\.element)
    }

    /// `AUDITPIPE_*` variables that are not keys but are close to one.
    static func misspeltVariables(in environment: [String: String]) -> [String] {
        let known = Set(ConfigurationKeys.all.map(\.environment))
        return environment.keys.sorted().compactMap { name in
            guard name.hasPrefix("AUDITPIPE_"), !known.contains(name), !foreignVariables.contains(name),
                !foreignPrefixes.contains(where: { name.hasPrefix($0) })
            else { return nil }
            guard let suggestion = closest(to: name, in: Array(known), maxDistance: 2) else { return nil }
            return "\(name) is not a configuration variable and is ignored; did you mean \(suggestion)?"
        }
    }

    /// The candidate nearest to `word` by edit distance, if within `maxDistance`.
    static func closest(to word: String, in candidates: [String], maxDistance: Int) -> String? {
        var best: (String, Int)?
        for candidate in candidates {
            let distance = editDistance(word, candidate)
            if distance <= maxDistance, distance < (best?.1 ?? .max) { best = (candidate, distance) }
        }
        return best?.0
    }

    /// Levenshtein distance over Unicode scalars.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

// MARK: - Values

/// A raw value before it is parsed for its key.
enum RawSetting: Sendable, Hashable {
    case text(String)
    case list([String])
    case map([(String, String)])

    static func == (lhs: RawSetting, rhs: RawSetting) -> Bool {
        switch (lhs, rhs) {
        case (.text(let a), .text(let b)): a == b
        case (.list(let a), .list(let b)): a == b
        case (.map(let a), .map(let b)): a.map { [$0.0, $0.1] } == b.map { [$0.0, $0.1] }
        default: false
        }
    }

    func hash(into hasher: inout Hasher) {
        switch self {
        case .text(let text): hasher.combine(text)
        case .list(let list): hasher.combine(list)
        case .map(let map): for (k, v) in map { hasher.combine(k); hasher.combine(v) }
        }
    }
}

/// One value for one key, with where it came from.
struct SettingInput: Sendable {
    var raw: RawSetting
    var origin: ConfigurationOrigin
    /// Relative paths are resolved against this directory.
    var baseDirectory: String
}

/// What a key's parser throws: the problem, without the key (the loader adds it).
struct InvalidValue: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// The settings being built.
struct ResolvedSettings: Sendable {
    var configuration: AuditPipeConfiguration
    var logLevel: Logger.Level
}

// MARK: - Keys

/// One configuration key: its path in the file, its variable and flag, its default and meaning,
/// and how its value is parsed, stored and shown.
package struct ConfigurationKey: Sendable {
    /// The dotted path in the file, e.g. `sink.batch_max_rows`.
    package let path: String
    /// The environment variable, e.g. `AUDITPIPE_SINK_BATCH_MAX_ROWS`.
    package let environment: String
    /// The `auditpipe serve` flag, if there is one.
    package let flag: String?
    /// The default as documented (`-` when unset by default).
    package let defaultText: String
    /// What the key means, for the reference.
    package let meaning: String
    /// Masked in `config check` output and logs.
    package let isSecret: Bool
    let apply: @Sendable (inout ResolvedSettings, SettingInput) throws -> Void
    let show: @Sendable (ResolvedSettings) -> String?

    /// The effective value as text, masked if secret (URL passwords are always masked).
    func display(_ settings: ResolvedSettings) -> String? {
        guard let value = show(settings), !value.isEmpty else { return nil }
        if isSecret { return "********" }
        return maskURLPassword(value)
    }
}

/// Every key AuditPipe reads, in reference order.
package enum ConfigurationKeys {
    package static let all: [ConfigurationKey] = [
        // server
        key("server.roles", "AUDITPIPE_ROLES", "--roles", "- (every role its settings allow)",
            "what this process runs: a YAML list or comma-separated ingest, sink, recent, query, registry (or all); unset: ingest, the built-in registry unless schema_registry.url is set, sink and query with clickhouse.url, recent with redis.url",
            set: { s, v in s.configuration.requestedRoles = try roles(v) }, show: { $0.configuration.requestedRoles?.listed }),
        // grpc
        key("grpc.address", "AUDITPIPE_GRPC_ADDR", "--grpc-addr", "127.0.0.1:50051",
            "gRPC listen address, host:port (port 0: any free port)",
            set: { s, v in s.configuration.grpcAddress = try hostAndPort(v) }, show: { $0.configuration.grpcAddress.description }),
        key("grpc.tls.certificate", "AUDITPIPE_TLS_CERT", "--tls-cert", "-",
            "PEM certificate chain for TLS on the gRPC port (with grpc.tls.private_key)",
            set: { s, v in s.configuration.tlsCertificatePath = try existingFile(v) }, show: { $0.configuration.tlsCertificatePath }),
        key("grpc.tls.private_key", "AUDITPIPE_TLS_KEY", "--tls-key", "-",
            "PEM private key for TLS on the gRPC port",
            set: { s, v in s.configuration.tlsPrivateKeyPath = try existingFile(v) }, show: { $0.configuration.tlsPrivateKeyPath }),
        key("grpc.tls.client_ca", "AUDITPIPE_TLS_CLIENT_CA", "--tls-client-ca", "-",
            "PEM CA for client certificates: turns on mutual TLS (every client must present a certificate)",
            set: { s, v in s.configuration.tlsClientCAPath = try existingFile(v) }, show: { $0.configuration.tlsClientCAPath }),
        key("grpc.max_concurrent_streams", "AUDITPIPE_GRPC_MAX_CONCURRENT_STREAMS", nil, "100",
            "MAX_CONCURRENT_STREAMS advertised on each gRPC connection: clients queue streams beyond it; 1 to 10000",
            set: { s, v in s.configuration.grpcMaxConcurrentStreams = try integer(v, in: 1...10_000) },
            show: { String($0.configuration.grpcMaxConcurrentStreams) }),
        key("grpc.stream_idle_timeout_ms", "AUDITPIPE_GRPC_STREAM_IDLE_TIMEOUT_MS", nil, "300000",
            "an Ingest stream that sends nothing for this long (none of its events in flight) is ended with DEADLINE_EXCEEDED, in milliseconds",
            set: { s, v in s.configuration.grpcStreamIdleTimeoutMilliseconds = try integer(v, in: 100...86_400_000) },
            show: { String($0.configuration.grpcStreamIdleTimeoutMilliseconds) }),
        // http
        key("http.address", "AUDITPIPE_HTTP_ADDR", "--http-addr", "127.0.0.1:8080",
            "HTTP listen address: /metrics, /healthz, /readyz, the built-in schema registry, legacy intake",
            set: { s, v in s.configuration.httpAddress = try hostAndPort(v) }, show: { $0.configuration.httpAddress.description }),
        // kafka
        key("kafka.brokers", "AUDITPIPE_KAFKA_BROKERS", "--kafka-brokers", "- (required)",
            "Kafka bootstrap servers: a YAML list or a comma-separated string of host:port",
            set: { s, v in s.configuration.kafkaBrokers = try brokers(v) }, show: { $0.configuration.kafkaBrokers }),
        key("kafka.events_topic", "AUDITPIPE_EVENTS_TOPIC", "--events-topic", "auditpipe.events",
            "topic audit events are produced to (key = tenant_id); its registry subject is <topic>-value",
            set: { s, v in s.configuration.eventsTopic = try topic(v) }, show: { $0.configuration.eventsTopic }),
        key("kafka.dead_letter_topic", "AUDITPIPE_DLQ_TOPIC", "--dlq-topic", "auditpipe.events.dlq",
            "topic for records that can never be written to ClickHouse (reason in headers)",
            set: { s, v in s.configuration.deadLetterTopic = try topic(v) }, show: { $0.configuration.deadLetterTopic }),
        key("kafka.quarantine_topic", "AUDITPIPE_QUARANTINE_TOPIC", "--quarantine-topic", "auditpipe.quarantine",
            "topic for refused legacy events, with their original bytes and reasons",
            set: { s, v in s.configuration.quarantineTopic = try topic(v) }, show: { $0.configuration.quarantineTopic }),
        key("kafka.produce_timeout_ms", "AUDITPIPE_PRODUCE_TIMEOUT_MS", "--produce-timeout-ms", "10000",
            "how long ingest waits for Kafka's acknowledgement (acks=all) before answering UNAVAILABLE, in milliseconds",
            set: { s, v in s.configuration.produceTimeoutMilliseconds = try integer(v, in: 1...3_600_000) },
            show: { String($0.configuration.produceTimeoutMilliseconds) }),
        key("kafka.linger_ms", "AUDITPIPE_KAFKA_LINGER_MS", nil, "25",
            "how long the producer lets records gather before sending them (librdkafka's linger.ms); lower is a lower acknowledgement latency on an idle cluster and more CPU per event under load; 0 to 900000",
            set: { s, v in s.configuration.kafkaLingerMilliseconds = try integer(v, in: 0...900_000) },
            show: { String($0.configuration.kafkaLingerMilliseconds) }),
        key("kafka.session_timeout_ms", "AUDITPIPE_KAFKA_SESSION_TIMEOUT_MS", nil, "6000",
            "consumer groups' session timeout: a killed instance's partitions move after about this long (the heartbeat is a third of it); a Kafka broker refuses less than its group.min.session.timeout.ms (6000 by default); 1000 to 300000",
            set: { s, v in s.configuration.kafkaSessionTimeoutMilliseconds = try integer(v, in: 1000...300_000) },
            show: { String($0.configuration.kafkaSessionTimeoutMilliseconds) }),
        key("kafka.group_instance_id", "AUDITPIPE_KAFKA_GROUP_INSTANCE_ID", nil, "- (dynamic membership)",
            "static group membership: a stable id per instance (a pod name) so a restarted instance gets its partitions back without a rebalance; needs a broker with KIP-345 (the dev cluster ignores it)",
            set: { s, v in s.configuration.kafkaGroupInstanceID = try text(v) }, show: { $0.configuration.kafkaGroupInstanceID }),
        // clickhouse
        key("clickhouse.url", "AUDITPIPE_CLICKHOUSE_URL", "--clickhouse-url", "- (no ClickHouse sink, no reports)",
            "ClickHouse HTTP interface, http(s)://host:port",
            set: { s, v in s.configuration.clickHouseURL = try url(v, schemes: ["http", "https"]) }, show: { $0.configuration.clickHouseURL }),
        key("clickhouse.user", "AUDITPIPE_CLICKHOUSE_USER", "--clickhouse-user", "default",
            "ClickHouse user",
            set: { s, v in s.configuration.clickHouseUser = try text(v) }, show: { $0.configuration.clickHouseUser }),
        key("clickhouse.password", "AUDITPIPE_CLICKHOUSE_PASSWORD", "--clickhouse-password", "-",
            "ClickHouse password (secret: prefer the variable or the file, flags show in `ps`)",
            secret: true, set: { s, v in s.configuration.clickHousePassword = try text(v, allowEmpty: true) }, show: { $0.configuration.clickHousePassword }),
        key("clickhouse.database", "AUDITPIPE_CLICKHOUSE_DATABASE", "--clickhouse-database", "auditpipe",
            "database for AuditPipe's tables (created, then migrated, at start)",
            set: { s, v in s.configuration.clickHouseDatabase = try identifier(v) }, show: { $0.configuration.clickHouseDatabase }),
        key("clickhouse.insert_compression", "AUDITPIPE_CLICKHOUSE_INSERT_COMPRESSION", nil, "none",
            "how the sink's inserts travel: none (loopback, fast network: compressing costs more CPU than it saves) or gzip (a remote ClickHouse over a slow link)",
            set: { s, v in
                switch try text(v).trimmingCharacters(in: .whitespaces).lowercased() {
                case "none": s.configuration.clickHouseInsertGzip = false
                case "gzip": s.configuration.clickHouseInsertGzip = true
                case let other: throw InvalidValue("must be none or gzip, got \(quoted(other))")
                }
            },
            show: { $0.configuration.clickHouseInsertGzip ? "gzip" : "none" }),
        // redis
        key("redis.url", "AUDITPIPE_REDIS_URL", "--redis-url", "- (no recent-events view)",
            "Redis for the recent-events view, redis://[:password@]host:port[/db] (the password is masked in output)",
            set: { s, v in s.configuration.redisURL = try url(v, schemes: ["redis"]) }, show: { $0.configuration.redisURL }),
        // schema registry
        key("schema_registry.url", "AUDITPIPE_SCHEMA_REGISTRY_URL", "--schema-registry-url", "- (built-in registry)",
            "external Confluent-compatible schema registry, http(s)://...; unset: AuditPipe serves its own on the HTTP port",
            set: { s, v in s.configuration.schemaRegistryURL = try url(v, schemes: ["http", "https"]) }, show: { $0.configuration.schemaRegistryURL }),
        key("schema_registry.topic", "AUDITPIPE_REGISTRY_TOPIC", "--registry-topic", "_auditpipe_schemas",
            "compacted, 1-partition topic storing the built-in registry",
            set: { s, v in s.configuration.registryTopic = try topic(v) }, show: { $0.configuration.registryTopic }),
        key("schema_registry.version", "AUDITPIPE_SCHEMA_VERSION", "--schema-version", "- (latest)",
            "encode events with this version of the events subject instead of the latest",
            set: { s, v in s.configuration.schemaVersion = try integer(v, in: 1...Int(Int32.max)) },
            show: { $0.configuration.schemaVersion.map(String.init) }),
        // sink
        key("sink.group", "AUDITPIPE_SINK_GROUP", "--sink-group", "auditpipe-sink",
            "the ClickHouse sink's consumer group; the recent-events group is <group>-recent and the dead-letter re-driver's <group>-dlq-redriver; instances sharing it split the partitions",
            set: { s, v in s.configuration.sinkGroup = try text(v) }, show: { $0.configuration.sinkGroup }),
        key("sink.batch_max_rows", "AUDITPIPE_SINK_BATCH_MAX_ROWS", nil, "50000",
            "a ClickHouse batch is cut at this many rows (ClickHouse advises 10k-100k rows per insert); 1 to 1000000",
            set: { s, v in s.configuration.sinkBatchMaxRows = try integer(v, in: 1...1_000_000) },
            show: { String($0.configuration.sinkBatchMaxRows) }),
        key("sink.batch_max_delay_ms", "AUDITPIPE_SINK_BATCH_MAX_DELAY_MS", nil, "500",
            "... or when its oldest record has waited this long, in milliseconds (how soon events are queryable)",
            set: { s, v in s.configuration.sinkBatchMaxDelayMilliseconds = try integer(v, in: 1...600_000) },
            show: { String($0.configuration.sinkBatchMaxDelayMilliseconds) }),
        key("sink.lag_interval_ms", "AUDITPIPE_LAG_INTERVAL_MS", nil, "5000",
            "how often the consumer-lag gauges of the sink and recent-events groups are refreshed, in milliseconds",
            set: { s, v in s.configuration.lagIntervalMilliseconds = try integer(v, in: 100...600_000) },
            show: { String($0.configuration.lagIntervalMilliseconds) }),
        // legacy
        key("legacy.rules", "AUDITPIPE_LEGACY_RULES", "--legacy-rules", "- (no legacy intake)",
            "YAML mapping rules for legacy JSON producers; enables POST /v1/legacy/{source}",
            set: { s, v in s.configuration.legacyRulesPath = try existingFile(v) }, show: { $0.configuration.legacyRulesPath }),
        key("legacy.bridges", "AUDITPIPE_LEGACY_BRIDGES", "--legacy-bridges", "-",
            "legacy Kafka topics to bridge: a YAML mapping source: topic, or source=topic,source=topic",
            set: { s, v in s.configuration.legacyBridges = try bridges(v) },
            show: { $0.configuration.legacyBridges.isEmpty ? nil : $0.configuration.legacyBridges.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }),
        // auth
        key("auth.config", "AUDITPIPE_AUTH_CONFIG", "--auth-config", "- (development mode)",
            "JSON file of API keys (SHA-256 hashes) and client certificates with their tenants and roles; unset: every caller may act for every tenant",
            set: { s, v in s.configuration.authConfigPath = try existingFile(v) }, show: { $0.configuration.authConfigPath }),
        key("auth.cursor_key", "AUDITPIPE_CURSOR_KEY", nil, "- (random per process)",
            "secret that signs report cursors; give every instance the same one (secret)",
            secret: true, set: { s, v in s.configuration.cursorKey = try text(v) }, show: { $0.configuration.cursorKey }),
        // integrity (tamper evidence)
        key("integrity.hash_chain", "AUDITPIPE_HASH_CHAIN", nil, "true",
            "put every stored row on its tenant's hash chain; false only to measure its cost",
            set: { s, v in s.configuration.hashChain = try boolean(v) }, show: { String($0.configuration.hashChain) }),
        key("integrity.checkpoint_key_file", "AUDITPIPE_CHECKPOINT_KEY_FILE", nil, "- (no signed checkpoints)",
            "file holding the Ed25519 seed that signs chain checkpoints (make one with `auditpipe verify keygen`)",
            set: { s, v in s.configuration.checkpointKeyFile = try existingFile(v) }, show: { $0.configuration.checkpointKeyFile }),
        key("integrity.public_keys", "AUDITPIPE_CHECKPOINT_PUBLIC_KEYS", nil, "-",
            "public keys (hex or base64) the Verify RPC trusts besides the signing key's own, e.g. rotated-out keys: a YAML list or comma-separated",
            set: { s, v in s.configuration.checkpointPublicKeys = try list(v) },
            show: { $0.configuration.checkpointPublicKeys.isEmpty ? nil : $0.configuration.checkpointPublicKeys.joined(separator: ",") }),
        key("integrity.checkpoint_interval_ms", "AUDITPIPE_CHECKPOINT_INTERVAL_MS", nil, "60000",
            "an advanced chain is signed at least this often, in milliseconds",
            set: { s, v in s.configuration.checkpointIntervalMilliseconds = try integer(v, in: 1...86_400_000) },
            show: { String($0.configuration.checkpointIntervalMilliseconds) }),
        key("integrity.checkpoint_every_events", "AUDITPIPE_CHECKPOINT_EVERY_EVENTS", nil, "10000",
            "... and once it advanced this many events",
            set: { s, v in s.configuration.checkpointEveryEvents = try integer(v, in: 1...100_000_000) },
            show: { String($0.configuration.checkpointEveryEvents) }),
        key("integrity.checkpoint_topic", "AUDITPIPE_CHECKPOINT_TOPIC", nil, "auditpipe.checkpoints",
            "Kafka topic signed checkpoints are published to; empty (\"\") publishes none",
            set: { s, v in
                let value = try text(v, allowEmpty: true)
                s.configuration.checkpointTopic = value.isEmpty ? "" : try topic(v)
            },
            show: { $0.configuration.checkpointTopic.isEmpty ? "\"\" (none)" : $0.configuration.checkpointTopic }),
        key("integrity.checkpoint_export_dir", "AUDITPIPE_CHECKPOINT_EXPORT_DIR", nil, "-",
            "directory receiving one JSON file per checkpoint, for an external witness",
            set: { s, v in s.configuration.checkpointExportDirectory = try directory(v) }, show: { $0.configuration.checkpointExportDirectory }),
        // log
        key("log.level", "AUDITPIPE_LOG_LEVEL", "--log-level", "info",
            "trace, debug, info, notice, warning, error or critical",
            set: { s, v in s.logLevel = try logLevel(v) }, show: { $0.logLevel.rawValue }),
    ]

    private static func key(
        _ path: String, _ environment: String, _ flag: String?, _ defaultText: String, _ meaning: String,
        secret: Bool = false,
        set: @escaping @Sendable (inout ResolvedSettings, SettingInput) throws -> Void,
        show: @escaping @Sendable (ResolvedSettings) -> String?
    ) -> ConfigurationKey {
        ConfigurationKey(path: path, environment: environment, flag: flag, defaultText: defaultText, meaning: meaning, isSecret: secret, apply: set, show: show)
    }

    /// Section paths (`grpc`, `grpc.tls`, ...) that hold keys.
    static let sections: Set<String> = {
        var sections = Set<String>()
        for key in all {
            var parts = key.path.split(separator: ".").dropLast()
            while !parts.isEmpty {
                sections.insert(parts.joined(separator: "."))
                parts = parts.dropLast()
            }
        }
        return sections
    }()
}

// MARK: - Parsers

private func text(_ input: SettingInput, allowEmpty: Bool = false) throws -> String {
    guard case .text(let value) = input.raw else { throw InvalidValue("expected a single value, got \(input.raw.kind)") }
    if !allowEmpty, value.trimmingCharacters(in: .whitespaces).isEmpty { throw InvalidValue("must not be empty") }
    return value
}

private func integer(_ input: SettingInput, in range: ClosedRange<Int>) throws -> Int {
    let value = try text(input, allowEmpty: true)
    let positive = range.lowerBound == 1
    guard let number = Int(value.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")) else {
        let rule = positive ? "must be a positive integer" : "must be a whole number from \(range.lowerBound) to \(range.upperBound)"
        throw InvalidValue("\(rule), got \(quoted(value))")
    }
    guard range.contains(number) else {
        let rule = positive ? "must be a positive integer up to \(range.upperBound)" : "must be a whole number from \(range.lowerBound) to \(range.upperBound)"
        throw InvalidValue("\(rule), got \(number)")
    }
    return number
}

private func boolean(_ input: SettingInput) throws -> Bool {
    let value = try text(input, allowEmpty: true)
    switch value.trimmingCharacters(in: .whitespaces).lowercased() {
    case "true", "yes", "on", "1": return true
    case "false", "no", "off", "0": return false
    default: throw InvalidValue("must be true or false, got \(quoted(value))")
    }
}

private func list(_ input: SettingInput) throws -> [String] {
    switch input.raw {
    case .text(let value): return value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    case .list(let items): return items.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    case .map: throw InvalidValue("expected a list, got a mapping")
    }
}

/// A directory path, resolved like files; it need not exist yet (it is created when needed).
private func directory(_ input: SettingInput) throws -> String {
    let value = try text(input)
    let path = value.hasPrefix("/") ? value : URL(fileURLWithPath: input.baseDirectory).appendingPathComponent(value).standardized.path
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
        throw InvalidValue("\(path) is a file, not a directory")
    }
    return path
}

private func hostAndPort(_ input: SettingInput) throws -> HostAndPort {
    let value = try text(input)
    do {
        return try HostAndPort(parsing: value, setting: "")
    } catch {
        throw InvalidValue(error.problem)
    }
}

private func roles(_ input: SettingInput) throws -> Set<ServerRole> {
    var roles = Set<ServerRole>()
    for name in try list(input) {
        if name.lowercased() == "all" {
            roles.formUnion(ServerRole.allCases)
        } else if let role = ServerRole(rawValue: name.lowercased()) {
            roles.insert(role)
        } else {
            throw InvalidValue("unknown role \(quoted(name)); the roles are \(ServerRole.allCases.map(\.rawValue).joined(separator: ", ")) and all")
        }
    }
    guard !roles.isEmpty else { throw InvalidValue("must name at least one role") }
    return roles
}

private func brokers(_ input: SettingInput) throws -> String {
    let items: [String]
    switch input.raw {
    case .text(let value): items = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    case .list(let list): items = list.map { $0.trimmingCharacters(in: .whitespaces) }
    case .map: throw InvalidValue("expected a list of host:port, got a mapping")
    }
    guard !items.isEmpty else { throw InvalidValue("must name at least one broker as host:port") }
    for item in items {
        do { _ = try HostAndPort(parsing: item, setting: "") } catch { throw InvalidValue("broker \(quoted(item)): \(error.problem)") }
    }
    return items.joined(separator: ",")
}

private func topic(_ input: SettingInput) throws -> String {
    let value = try text(input)
    let allowed = value.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._-".unicodeScalars.contains($0) }
    guard allowed, value.count <= 249, value != ".", value != ".." else {
        throw InvalidValue("must be a Kafka topic name (letters, digits, '.', '_', '-'; at most 249), got \(quoted(value))")
    }
    return value
}

private func identifier(_ input: SettingInput) throws -> String {
    let value = try text(input)
    guard let first = value.unicodeScalars.first, !CharacterSet.decimalDigits.contains(first),
        value.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_") })
    else { throw InvalidValue("must be a ClickHouse identifier [A-Za-z_][A-Za-z0-9_]*, got \(quoted(value))") }
    return value
}

private func url(_ input: SettingInput, schemes: [String]) throws -> String {
    let value = try text(input).trimmingCharacters(in: .whitespaces)
    guard let parsed = URL(string: value), let scheme = parsed.scheme?.lowercased(), schemes.contains(scheme),
        let host = parsed.host, !host.isEmpty
    else {
        throw InvalidValue("must be a URL \(schemes.map { "\($0)://host:port" }.joined(separator: " or ")), got \(quoted(maskURLPassword(value)))")
    }
    return value
}

private func existingFile(_ input: SettingInput) throws -> String {
    let value = try text(input)
    let path = value.hasPrefix("/") ? value : URL(fileURLWithPath: input.baseDirectory).appendingPathComponent(value).standardized.path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
        let relative = value.hasPrefix("/") ? "" : " (relative to \(input.baseDirectory))"
        throw InvalidValue("no such file: \(path)\(relative)")
    }
    guard FileManager.default.isReadableFile(atPath: path) else { throw InvalidValue("cannot read \(path): check its permissions") }
    return path
}

private func bridges(_ input: SettingInput) throws -> [String: String] {
    var pairs: [(String, String)] = []
    switch input.raw {
    case .map(let map): pairs = map
    case .text(let value):
        for item in value.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw InvalidValue("entry \(quoted(String(item))) must be source=topic")
            }
            pairs.append((parts[0], parts[1]))
        }
    case .list: throw InvalidValue("expected a mapping of source: topic, got a list")
    }
    var result: [String: String] = [:]
    for (source, topicName) in pairs {
        guard result[source] == nil else { throw InvalidValue("source \(quoted(source)) is bridged twice") }
        _ = try topic(SettingInput(raw: .text(topicName), origin: input.origin, baseDirectory: input.baseDirectory))
        result[source] = topicName
    }
    return result
}

private func logLevel(_ input: SettingInput) throws -> Logger.Level {
    let value = try text(input)
    guard let level = Logger.Level(rawValue: value.lowercased()) else {
        throw InvalidValue("must be one of trace, debug, info, notice, warning, error, critical; got \(quoted(value))")
    }
    return level
}

private func quoted(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}

/// `redis://:secret@host` → `redis://:********@host`; text without a URL password unchanged.
func maskURLPassword(_ text: String) -> String {
    guard let schemeEnd = text.range(of: "://") else { return text }
    let rest = text[schemeEnd.upperBound...]
    let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
    let authority = rest[..<authorityEnd]
    guard let at = authority.lastIndex(of: "@") else { return text }
    let userInfo = authority[..<at]
    guard let colon = userInfo.firstIndex(of: ":") else { return text }
    return String(text[..<colon]) + ":********" + String(text[at...])
}

extension RawSetting {
    var kind: String {
        switch self {
        case .text: "a single value"
        case .list: "a list"
        case .map: "a mapping"
        }
    }
}

// MARK: - The YAML reader

/// Walks the file's YAML tree against the key table: sections are mappings, keys are leaves.
struct ConfigurationFileReader {
    struct Entry {
        var key: String
        var input: SettingInput
    }

    let fileName: String
    let baseDirectory: String
    var problems: [ConfigurationProblem] = []

    init(fileName: String, baseDirectory: String) {
        self.fileName = fileName
        self.baseDirectory = baseDirectory
    }

    private func origin(_ node: Node) -> ConfigurationOrigin {
        .file(path: fileName, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0)
    }

    private mutating func problem(_ node: Node?, _ key: String, _ message: String) {
        let at: ConfigurationOrigin = node.map { origin($0) } ?? .file(path: fileName, line: 0, column: 0)
        problems.append(.init(key: key, origin: at, problem: message))
    }

    mutating func read(yaml: String) -> [Entry] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            func at(_ mark: Mark) -> ConfigurationOrigin { .file(path: fileName, line: mark.line, column: mark.column) }
            switch error {
            case .duplicatedKeysInMapping(let duplicates, let context):
                problems.append(.init(key: duplicates.joined(separator: ", "), origin: at(context.mark), problem: "appears more than once in the same mapping; keep one"))
            case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _), .composer(let context, let problem, let mark, _):
                let detail = context.map { "\($0.text) " } ?? ""
                problems.append(.init(key: "", origin: at(mark), problem: "not valid YAML: \(detail)\(problem)"))
            default:
                let first = String(String(describing: error).split(separator: "\n").first ?? "")
                problems.append(.init(key: "", origin: nil, problem: "\(fileName): not valid YAML: \(first)"))
            }
            return []
        } catch {
            problems.append(.init(key: "", origin: nil, problem: "\(fileName): not valid YAML: \(error)"))
            return []
        }
        guard let root else { return [] }  // an empty file: defaults and environment only
        if case .scalar(let scalar) = root, isNull(scalar) { return [] }
        var entries: [Entry] = []
        section(root, prefix: "", into: &entries)
        return entries
    }

    private mutating func section(_ node: Node, prefix: String, into entries: inout [Entry]) {
        guard case .mapping(let mapping) = node else {
            let expected = ConfigurationKeys.all.compactMap { key -> String? in
                guard prefix.isEmpty || key.path.hasPrefix(prefix + ".") else { return nil }
                return String(key.path.dropFirst(prefix.isEmpty ? 0 : prefix.count + 1).split(separator: ".").first ?? "")
            }
            var seen = Set<String>()
            let names = expected.filter { seen.insert($0).inserted }
            problem(node, prefix, "expected a mapping with keys \(names.joined(separator: ", ")), got \(describe(node))")
            return
        }
        var seen: [String: Int] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                problem(keyNode, prefix, "keys must be plain text")
                continue
            }
            let name = scalar.string
            let path = prefix.isEmpty ? name : "\(prefix).\(name)"
            if let line = seen[name] {
                problem(keyNode, path, "appears twice in this mapping (first on line \(line)); keep one")
                continue
            }
            seen[name] = keyNode.mark?.line ?? 0
            if ConfigurationKeys.all.contains(where: { $0.path == path }) {
                if let raw = leaf(value, path: path) {
                    entries.append(Entry(key: path, input: SettingInput(raw: raw, origin: origin(value), baseDirectory: baseDirectory)))
                }
            } else if ConfigurationKeys.sections.contains(path) {
                if case .scalar(let scalar) = value, isNull(scalar) { continue }  // `redis:` with nothing under it
                section(value, prefix: path, into: &entries)
            } else {
                problem(keyNode, path, "unknown key" + suggestion(for: path))
            }
        }
    }

    /// The value of a key; nil for YAML null (the key then keeps its default).
    private mutating func leaf(_ node: Node, path: String) -> RawSetting? {
        switch node {
        case .scalar(let scalar):
            if isNull(scalar) { return nil }
            return .text(scalar.string)
        case .sequence(let sequence):
            var items: [String] = []
            for item in sequence {
                guard case .scalar(let scalar) = item else {
                    problem(item, path, "list items must be single values, got \(describe(item))")
                    return nil
                }
                items.append(scalar.string)
            }
            return .list(items)
        case .mapping(let mapping):
            var pairs: [(String, String)] = []
            for (k, v) in mapping {
                guard case .scalar(let key) = k, case .scalar(let value) = v else {
                    problem(k, path, "expected name: value pairs")
                    return nil
                }
                pairs.append((key.string, value.string))
            }
            return .map(pairs)
        case .alias:
            problem(node, path, "YAML aliases are not supported here; write the value")
            return nil
        }
    }

    private func isNull(_ scalar: Node.Scalar) -> Bool {
        scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    private func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): "the value \(quoted(scalar.string))"
        case .sequence: "a list"
        case .mapping: "a mapping"
        case .alias: "an alias"
        }
    }

    /// `; did you mean sink.batch_max_rows?` when a known key or section is close, or the same
    /// key name exists in another section.
    private func suggestion(for path: String) -> String {
        let name = String(path.split(separator: ".").last ?? "")
        let candidates = ConfigurationKeys.all.map(\.path) + ConfigurationKeys.sections.sorted()
        if let moved = ConfigurationKeys.all.first(where: { $0.path.split(separator: ".").last.map(String.init) == name }) {
            return "; did you mean \(moved.path)?"
        }
        let allowance = max(1, min(3, path.count / 5))
        if let close = ConfigurationLoader.closest(to: path, in: candidates, maxDistance: allowance) {
            return "; did you mean \(close)?"
        }
        // An abbreviation of a key of the same section, e.g. `grpc.tls.cert`; else list the section's keys.
        let prefix = path.split(separator: ".").dropLast().joined(separator: ".")
        let siblings = ConfigurationKeys.all.filter { $0.path.split(separator: ".").dropLast().joined(separator: ".") == prefix }
        if name.count >= 3, let abbreviated = siblings.first(where: { $0.path.split(separator: ".").last.map { $0.hasPrefix(name) } ?? false }) {
            return "; did you mean \(abbreviated.path)?"
        }
        if !siblings.isEmpty {
            return "; the keys of \(prefix.isEmpty ? "the top level" : prefix) are " + siblings.map { String($0.path.split(separator: ".").last ?? "") }.joined(separator: ", ")
        }
        return "; see docs/configuration.md for the keys"
    }
}

// MARK: - Table rendering

/// Left-aligned text columns separated by two spaces.
enum SettingsTable {
    /// Renders `rows` under `header`.
    static func render(header: [String], rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
