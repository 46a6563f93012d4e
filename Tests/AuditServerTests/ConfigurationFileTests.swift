import Foundation
import Logging
import Testing

@testable import AuditServer

/// The repository root of the real checkout (this file's folder may be reached through a symlink).
private let repositoryRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Loads YAML text as the file `test.yaml` in `directory`, with `environment` and `flags`.
private func load(
    _ yaml: String?, environment: [String: String] = [:], flags: [String: String] = [:],
    directory: String = FileManager.default.temporaryDirectory.path
) throws(ConfigurationFileError) -> LoadedConfiguration {
    try ConfigurationLoader.load(yaml: yaml, fileName: yaml == nil ? nil : "test.yaml", baseDirectory: directory, environment: environment, flags: flags)
}

/// The problems' descriptions, or [] when the configuration loads.
private func problems(
    _ yaml: String?, environment: [String: String] = [:], flags: [String: String] = [:]
) -> [String] {
    do {
        _ = try load(yaml, environment: environment, flags: flags)
        return []
    } catch {
        return error.problems.map(\.description)
    }
}

private let brokers = "kafka:\n  brokers: [127.0.0.1:9092]\n"

@Suite("Configuration file, environment and flags")
struct ConfigurationFileTests {
    @Test("defaults apply when nothing else is given; every origin is `default` except what was set")
    func defaults() throws {
        let loaded = try load(nil, environment: ["AUDITPIPE_KAFKA_BROKERS": "k1:9092,k2:9092"])
        let defaults = AuditPipeConfiguration()
        #expect(loaded.configuration.kafkaBootstrapServers == ["k1:9092", "k2:9092"])
        #expect(loaded.configuration.grpcAddress == defaults.grpcAddress)
        #expect(loaded.configuration.sinkBatchMaxRows == 50_000)
        #expect(loaded.configuration.sinkBatchMaxDelayMilliseconds == 500)
        #expect(loaded.configuration.lagIntervalMilliseconds == 5_000)
        #expect(loaded.logLevel == .info)
        #expect(loaded.origins == ["kafka.brokers": .environment("AUDITPIPE_KAFKA_BROKERS")])
        #expect(loaded.file == nil)
    }

    @Test("a file sets values with their line and column; lists and mappings are accepted")
    func fileValues() throws {
        let yaml = """
            grpc:
              address: 0.0.0.0:50052
            kafka:
              brokers:
                - a:9092
                - b:9092
              events_topic: audit.events
            sink:
              batch_max_rows: 20_000
              batch_max_delay_ms: 250
            legacy:
              rules: \(repositoryRoot.appendingPathComponent("Deploy/legacy-rules.yaml").path)
              bridges:
                vpn: legacy.vpn
                badge: legacy.badge
            log:
              level: debug
            redis:
            """
        let loaded = try load(yaml)
        let c = loaded.configuration
        #expect(c.grpcAddress == HostAndPort(host: "0.0.0.0", port: 50052))
        #expect(c.kafkaBrokers == "a:9092,b:9092")
        #expect(c.eventsTopic == "audit.events")
        #expect(c.sinkBatchMaxRows == 20_000)
        #expect(c.sinkBatchMaxDelayMilliseconds == 250)
        #expect(c.legacyBridges == ["vpn": "legacy.vpn", "badge": "legacy.badge"])
        #expect(loaded.logLevel == .debug)
        #expect(loaded.origins["grpc.address"] == .file(path: "test.yaml", line: 2, column: 12))
        #expect(loaded.origins["sink.batch_max_rows"] == .file(path: "test.yaml", line: 9, column: 19))
        #expect(loaded.origins["redis.url"] == nil)
        #expect(c.redisURL == "")
    }

    @Test("precedence: flags over environment over file over defaults")
    func precedence() throws {
        let yaml = brokers + "http:\n  address: 127.0.0.1:9001\ngrpc:\n  address: 127.0.0.1:9101\nsink:\n  group: from-file\n"
        let loaded = try load(
            yaml,
            environment: ["AUDITPIPE_HTTP_ADDR": "127.0.0.1:9002", "AUDITPIPE_SINK_GROUP": "from-env"],
            flags: ["http.address": "127.0.0.1:9003"]
        )
        #expect(loaded.configuration.httpAddress.port == 9003)
        #expect(loaded.origins["http.address"] == .flag("--http-addr"))
        #expect(loaded.configuration.sinkGroup == "from-env")
        #expect(loaded.origins["sink.group"] == .environment("AUDITPIPE_SINK_GROUP"))
        #expect(loaded.configuration.grpcAddress.port == 9101)
        #expect(loaded.origins["grpc.address"] == .file(path: "test.yaml", line: 6, column: 12))
        #expect(loaded.configuration.eventsTopic == "auditpipe.events")
        #expect(loaded.origins["kafka.events_topic"] == nil)
    }

    @Test("a bad value names the key, where it came from and what is expected")
    func badValues() {
        #expect(problems(brokers + "sink:\n  batch_max_rows: ten\n") == [#"test.yaml:4:19: sink.batch_max_rows: must be a positive integer, got "ten""#])
        #expect(problems(brokers + "sink:\n  batch_max_rows: 0\n") == ["test.yaml:4:19: sink.batch_max_rows: must be a positive integer up to 1000000, got 0"])
        #expect(
            problems(brokers, environment: ["AUDITPIPE_SINK_BATCH_MAX_ROWS": "ten"])
                == [#"sink.batch_max_rows (from AUDITPIPE_SINK_BATCH_MAX_ROWS): must be a positive integer, got "ten""#]
        )
        #expect(problems(brokers, flags: ["log.level": "loud"]) == [#"log.level (from --log-level): must be one of trace, debug, info, notice, warning, error, critical; got "loud""#])
        #expect(problems(brokers + "grpc:\n  address: localhost\n") == ["test.yaml:4:12: grpc.address: `localhost` has no port; write it as host:port, e.g. 127.0.0.1:50051"])
        #expect(problems(brokers + "clickhouse:\n  url: ftp://x\n") == [#"test.yaml:4:8: clickhouse.url: must be a URL http://host:port or https://host:port, got "ftp://x""#])
        #expect(problems("kafka:\n  brokers: a:1\n  events_topic: [a, b]\n") == ["test.yaml:3:17: kafka.events_topic: expected a single value, got a list"])
        #expect(problems("kafka:\n  brokers: [kafka-1]\n") == [#"test.yaml:2:12: kafka.brokers: broker "kafka-1": `kafka-1` has no port; write it as host:port, e.g. 127.0.0.1:50051"#])
        #expect(
            problems("kafka:\n  brokers: a:1\n  events_topic: \"audit events\"\n")
                == [#"test.yaml:3:17: kafka.events_topic: must be a Kafka topic name (letters, digits, '.', '_', '-'; at most 249), got "audit events""#]
        )
        // The same key twice in one mapping.
        #expect(problems(brokers + "kafka:\n  events_topic: x\n") == ["test.yaml:1:1: kafka: appears more than once in the same mapping; keep one"])
    }

    @Test("integrity keys: booleans, lists, an empty topic")
    func integrityKeys() throws {
        let loaded = try load(brokers + "integrity:\n  hash_chain: off\n  public_keys: [k1, k2]\n  checkpoint_topic: \"\"\n")
        #expect(loaded.configuration.hashChain == false)
        #expect(loaded.configuration.checkpointPublicKeys == ["k1", "k2"])
        #expect(loaded.configuration.checkpointTopic == "")
        let fromEnvironment = try load(nil, environment: [
            "AUDITPIPE_KAFKA_BROKERS": "a:1", "AUDITPIPE_HASH_CHAIN": "TRUE", "AUDITPIPE_CHECKPOINT_PUBLIC_KEYS": "k1, k2,",
        ])
        #expect(fromEnvironment.configuration.hashChain == true)
        #expect(fromEnvironment.configuration.checkpointPublicKeys == ["k1", "k2"])
        #expect(problems(brokers + "integrity:\n  hash_chain: maybe\n") == [#"test.yaml:4:15: integrity.hash_chain: must be true or false, got "maybe""#])
    }

    @Test("every problem is reported, not only the first")
    func allProblems() {
        let found = problems(brokers + "sink:\n  batch_max_rows: ten\n  batch_max_delay_ms: soon\nlog:\n  level: loud\n")
        #expect(found.count == 3)
        #expect(found.map { $0.split(separator: ":").prefix(4).joined(separator: ":") } == [
            "test.yaml:4:19: sink.batch_max_rows", "test.yaml:5:23: sink.batch_max_delay_ms", "test.yaml:7:10: log.level",
        ])
    }

    @Test("unknown keys are errors, with a suggestion when one is close")
    func unknownKeys() {
        #expect(problems(brokers + "sink:\n  batch_max_row: 5\n") == ["test.yaml:4:3: sink.batch_max_row: unknown key; did you mean sink.batch_max_rows?"])
        #expect(problems("kafka:\n  broker: a:9092\n") == ["test.yaml:2:3: kafka.broker: unknown key; did you mean kafka.brokers?"])
        #expect(problems(brokers + "sink:\n  events_topic: x\n") == ["test.yaml:4:3: sink.events_topic: unknown key; did you mean kafka.events_topic?"])
        #expect(problems(brokers + "clickhous:\n  url: http://x:8123\n") == ["test.yaml:3:1: clickhous: unknown key; did you mean clickhouse?"])
        #expect(problems(brokers + "grpc:\n  tls:\n    cert: a.pem\n") == ["test.yaml:5:5: grpc.tls.cert: unknown key; did you mean grpc.tls.certificate?"])
        let far = problems(brokers + "metrics:\n  port: 9090\n")
        #expect(far == ["test.yaml:3:1: metrics: unknown key; see docs/configuration.md for the keys"])
        let farKey = problems(brokers + "sink:\n  parallelism: 4\n")
        #expect(farKey == ["test.yaml:4:3: sink.parallelism: unknown key; the keys of sink are group, batch_max_rows, batch_max_delay_ms, lag_interval_ms"])
    }

    @Test("structure errors: a section that is not a mapping, a key twice, YAML syntax")
    func structure() {
        #expect(problems(brokers + "sink: 5\n") == [#"test.yaml:3:7: sink: expected a mapping with keys group, batch_max_rows, batch_max_delay_ms, lag_interval_ms, got the value "5""#])
        #expect(problems(brokers + "sink:\n  group: a\n  group: b\n") == ["test.yaml:4:3: group: appears more than once in the same mapping; keep one"])
        let syntax = problems("kafka: [\n")
        #expect(syntax.count == 1)
        #expect(syntax.first?.hasPrefix("test.yaml:2:1: not valid YAML: ") == true, "\(syntax)")
        #expect(problems("- a\n- b\n").first?.contains("expected a mapping with keys server, grpc, http, kafka") == true)
    }

    @Test("an empty file or a file of comments means defaults; the brokers are still required")
    func requiredBrokers() {
        #expect(problems("# nothing\n") == [
            "kafka.brokers: required: no Kafka bootstrap servers; set kafka.brokers in the file, AUDITPIPE_KAFKA_BROKERS or --kafka-brokers (for the dev stack: source .dev/env after Deploy/dev/up)"
        ])
        #expect(problems("", environment: ["AUDITPIPE_KAFKA_BROKERS": "a:1"]) == [])
        // An empty variable counts as unset.
        #expect(problems(brokers, environment: ["AUDITPIPE_SINK_BATCH_MAX_ROWS": ""]) == [])
    }

    @Test("rules between keys name a key and its origin")
    func crossKeyRules() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("x".utf8).write(to: directory.appendingPathComponent("server.crt"))
        do {
            _ = try load(brokers + "grpc:\n  tls:\n    certificate: server.crt\n", directory: directory.path)
            Issue.record("a certificate without a key was accepted")
        } catch {
            #expect(error.description == "test.yaml:5:18: grpc.tls.certificate: set both the certificate chain and the private key, or neither")
        }
        #expect(
            problems(brokers + "legacy:\n  bridges: {vpn: legacy.vpn}\n")
                == ["test.yaml:4:12: legacy.bridges: bridges need mapping rules; set AUDITPIPE_LEGACY_RULES too"]
        )
        #expect(problems(brokers + "grpc:\n  address: 127.0.0.1:7000\nhttp:\n  address: 127.0.0.1:7000\n").first?.hasPrefix("test.yaml:6:12: http.address: the HTTP address") == true)
    }

    @Test("relative paths in the file are resolved against its folder; a missing file is named")
    func paths() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("version: 1\n".utf8).write(to: directory.appendingPathComponent("rules.yaml"))
        let loaded = try load(brokers + "legacy:\n  rules: rules.yaml\n", directory: directory.path)
        #expect(loaded.configuration.legacyRulesPath == directory.appendingPathComponent("rules.yaml").path)
        do {
            _ = try load(brokers + "auth:\n  config: missing.json\n", directory: directory.path)
            Issue.record("a missing auth file was accepted")
        } catch {
            #expect(error.description == "test.yaml:4:11: auth.config: no such file: \(directory.path)/missing.json (relative to \(directory.path))")
        }
    }

    @Test("the effective table masks secrets, including URL passwords, and shows each origin")
    func maskedTable() throws {
        let loaded = try load(
            brokers + "clickhouse:\n  password: hunter2\n",
            environment: ["AUDITPIPE_REDIS_URL": "redis://:s3cret@127.0.0.1:6379/0", "AUDITPIPE_CURSOR_KEY": "cursor-secret"]
        )
        let table = loaded.renderTable()
        #expect(!table.contains("hunter2"))
        #expect(!table.contains("s3cret"))
        #expect(!table.contains("cursor-secret"))
        let lines = table.split(separator: "\n").map(String.init)
        // Columns are separated by at least two spaces.
        let columns = { (line: String) in
            line.components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        #expect(lines.first.map(columns) == ["KEY", "VALUE", "SOURCE"])
        let row = { (key: String) in lines.first { $0.hasPrefix(key + " ") }.map(columns) ?? [] }
        #expect(row("clickhouse.password") == ["clickhouse.password", "********", "file test.yaml:4:13"])
        #expect(row("redis.url") == ["redis.url", "redis://:********@127.0.0.1:6379/0", "env AUDITPIPE_REDIS_URL"])
        #expect(row("auth.cursor_key") == ["auth.cursor_key", "********", "env AUDITPIPE_CURSOR_KEY"])
        #expect(row("grpc.address") == ["grpc.address", "127.0.0.1:50051", "default"])
        #expect(row("schema_registry.url") == ["schema_registry.url", "(unset)", "default"])
        #expect(lines.count == ConfigurationKeys.all.count + 1)
        // Effective settings in reference order, one per key.
        #expect(loaded.effectiveSettings.map(\.key) == ConfigurationKeys.all.map(\.path))
    }

    @Test("URL password masking")
    func urlMasking() {
        #expect(maskURLPassword("redis://:pw@h:1/0") == "redis://:********@h:1/0")
        #expect(maskURLPassword("https://user:pw@registry:8081/x@y") == "https://user:********@registry:8081/x@y")
        #expect(maskURLPassword("http://user@h:1") == "http://user@h:1")
        #expect(maskURLPassword("http://h:1/a:b@c") == "http://h:1/a:b@c")
        #expect(maskURLPassword("plain") == "plain")
    }

    @Test("an AUDITPIPE_ variable close to a key draws a warning; tool variables do not")
    func misspeltVariables() throws {
        let loaded = try load(brokers, environment: [
            "AUDITPIPE_SINK_GRUOP": "x", "AUDITPIPE_PYTHON": "/usr/bin/python3", "AUDITPIPE_KAFKA_CONTROL": "127.0.0.1:1", "AUDITPIPE_SOMETHING_ELSE": "1",
        ])
        #expect(loaded.warnings == ["AUDITPIPE_SINK_GRUOP is not a configuration variable and is ignored; did you mean AUDITPIPE_SINK_GROUP?"])
    }

    @Test("keys are unique and every key has a distinct variable")
    func keyTable() {
        let paths = ConfigurationKeys.all.map(\.path)
        #expect(Set(paths).count == paths.count)
        let variables = ConfigurationKeys.all.map(\.environment)
        #expect(Set(variables).count == variables.count)
        #expect(variables.allSatisfy { $0.hasPrefix("AUDITPIPE_") })
        #expect(!ConfigurationKeys.sections.contains { paths.contains($0) })
    }

    @Test("edit distance")
    func editDistance() {
        #expect(ConfigurationLoader.editDistance("kitten", "sitting") == 3)
        #expect(ConfigurationLoader.editDistance("", "abc") == 3)
        #expect(ConfigurationLoader.editDistance("same", "same") == 0)
    }

    @Test("server.roles: by default every role the settings allow; named roles need their settings")
    func roles() throws {
        // Defaults follow the settings, as before roles existed.
        #expect(try load(brokers).configuration.roles == [.ingest, .registry])
        let full = brokers + "clickhouse:\n  url: http://ch:8123\nredis:\n  url: redis://r:6379\n"
        #expect(try load(full).configuration.roles == Set(ServerRole.allCases))
        #expect(try load(full + "schema_registry:\n  url: http://sr:8081\n").configuration.roles == [.ingest, .sink, .recent, .query])
        // Named: a list, a comma-separated value, `all`; unneeded settings of a shared file are ignored.
        #expect(try load(full + "server:\n  roles: [sink, query]\n").configuration.roles == [.sink, .query])
        #expect(try load(full, flags: ["server.roles": "ingest, registry"]).configuration.roles == [.ingest, .registry])
        #expect(try load(full, environment: ["AUDITPIPE_ROLES": "all"]).configuration.roles == Set(ServerRole.allCases))
        #expect(try load(full, flags: ["server.roles": "ingest"]).configuration.roles.listed == "ingest")
        // Refused, naming the role and what it needs.
        #expect(problems(brokers, flags: ["server.roles": "ingest,writer"]) == [#"server.roles (from --roles): unknown role "writer"; the roles are ingest, sink, recent, query, registry and all"#])
        #expect(problems(brokers, flags: ["server.roles": " , "]) == ["server.roles (from --roles): must name at least one role"])
        #expect(problems(brokers, flags: ["server.roles": "ingest,sink"]).count == 1)
        #expect(problems(brokers, flags: ["server.roles": "ingest,sink"]).first?.contains("the sink role reads and writes ClickHouse; set clickhouse.url") == true)
        #expect(problems(brokers, flags: ["server.roles": "recent"]).first?.contains("the recent role keeps the view in Redis; set redis.url") == true)
        #expect(
            problems(brokers + "schema_registry:\n  url: http://sr:8081\n", flags: ["server.roles": "ingest,registry"]).first?
                .contains("the registry role serves the built-in registry, but schema_registry.url names an external one") == true
        )
    }

    @Test("docs/configuration.md lists every key with its variable and default")
    func reference() throws {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        for key in ConfigurationKeys.all {
            let row = text.split(separator: "\n").first { $0.hasPrefix("| `\(key.path)` |") }
            guard let row else {
                Issue.record("docs/configuration.md has no row for \(key.path)")
                continue
            }
            #expect(row.contains("`\(key.environment)`"), "\(key.path): variable \(key.environment) missing in \(row)")
            if let flag = key.flag { #expect(row.contains("`\(flag)`"), "\(key.path): flag \(flag) missing in \(row)") }
            let defaultValue = key.defaultText.split(separator: " ").first.map(String.init) ?? key.defaultText
            if defaultValue != "-" { #expect(row.contains("`\(defaultValue)`"), "\(key.path): default \(defaultValue) missing in \(row)") }
        }
    }

    @Test("Deploy/auditpipe.example.yaml is accepted by `config check` (without any environment)")
    func example() throws {
        let path = repositoryRoot.appendingPathComponent("Deploy/auditpipe.example.yaml").path
        let loaded = try ConfigurationLoader.load(file: path, environment: [:])
        #expect(loaded.file == path)
        #expect(loaded.configuration.kafkaBootstrapServers.count == 3)
        #expect(loaded.configuration.legacyRulesPath == repositoryRoot.appendingPathComponent("Deploy/legacy-rules.yaml").path)
        #expect(loaded.configuration.httpAddress == HostAndPort(host: "0.0.0.0", port: 8080))
        #expect(loaded.warnings.isEmpty)
        // Everything in it came from the file, not the defaults.
        #expect(loaded.origins.values.allSatisfy { if case .file = $0 { true } else { false } })
        #expect(loaded.origins.count >= 15)
    }

    @Test("AUDITPIPE_CONFIG names the file when --config is not given; an unreadable file is named")
    func fileVariable() throws {
        let path = repositoryRoot.appendingPathComponent("Deploy/auditpipe.example.yaml").path
        let loaded = try ConfigurationLoader.load(file: nil, environment: ["AUDITPIPE_CONFIG": path])
        #expect(loaded.file == path)
        do {
            _ = try ConfigurationLoader.load(file: "/nonexistent/auditpipe.yaml", environment: [:])
            Issue.record("a missing file was accepted")
        } catch {
            #expect(error.description == "cannot read the configuration file /nonexistent/auditpipe.yaml (flag --config); check the path and its permissions")
        }
    }
}
