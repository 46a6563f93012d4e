import ArgumentParser
import AuditEvents
import Foundation
import LegacyMapping

/// `auditpipe legacy`: tools for the legacy-producer mapping rules.
struct LegacyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "legacy",
        abstract: "Legacy producers: check and test mapping rules offline (Deploy/legacy-rules.yaml), and the conformance report.",
        subcommands: [LegacyCheckCommand.self, LegacyTestCommand.self, LegacyReportCommand.self]
    )
}

/// `auditpipe legacy report`: the server's conformance view per legacy source.
struct LegacyReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Print the conformance report of a running server: per legacy source, events accepted and quarantined, and the top failing fields and rules.",
        discussion: """
            Counts since the server started (the same counts are on /metrics as \
            auditpipe_legacy_events_total and auditpipe_legacy_failures_total). Each quarantined \
            event, with its original bytes and reasons, is in the quarantine topic.
            """
    )

    @Option(help: "The server's HTTP address, host:port. [env: AUDITPIPE_HTTP_ADDR, default 127.0.0.1:8080]")
    var http: String?

    func run() async throws {
        print(try await ServerHTTP.get("/v1/legacy/report", address: ServerHTTP.address(http)), terminator: "")
    }
}

/// `auditpipe legacy check --rules FILE`: validates a rule file as the server does at start-up.
struct LegacyCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a legacy rule file; print every problem with its line, source and key.",
        discussion: "Exit status 0 when the file is valid, 1 otherwise."
    )

    @Option(name: .customLong("rules"), help: "The YAML rule file. [env: AUDITPIPE_LEGACY_RULES, default Deploy/legacy-rules.yaml]")
    var rulesPath: String?

    func run() throws {
        let path = LegacyRulesPath.resolve(rulesPath)
        do {
            let rules = try LegacyRuleSet.load(contentsOfFile: path)
            print("\(path): \(rules.sources.count) source\(rules.sources.count == 1 ? "" : "s") valid: \(rules.sources.map(\.name).joined(separator: ", "))")
        } catch {
            FileHandle.standardError.write(Data("\(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}

/// `auditpipe legacy test --rules FILE --source S sample.json`: maps a sample offline.
struct LegacyTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Map a sample payload with a source's rules; print each canonical event or the reasons it fails.",
        discussion: """
            The sample may hold one JSON object, an array of objects, or NDJSON (detected, or set \
            with --format). One JSON line is printed per event: {"index":…,"event":{…}} when it \
            maps and validates exactly as Ingest would validate it, or {"index":…,"rejected":\
            {"stage":…,"reasons":[…]}} with every reason (field, rule, description). Exit status 0 \
            when every event is accepted, 1 otherwise (or when the rules are invalid or do not \
            define the source), 64 for a usage error.
            """
    )

    @Option(name: .customLong("rules"), help: "The YAML rule file. [env: AUDITPIPE_LEGACY_RULES, default Deploy/legacy-rules.yaml]")
    var rulesPath: String?

    @Option(name: .customLong("source"), help: "The source whose rules to use.")
    var source: String

    @Option(name: .customLong("format"), help: "auto, object, array or ndjson. [default auto]")
    var format: String = "auto"

    @Option(name: .customLong("position"), help: "A Kafka position TOPIC:PARTITION:OFFSET, for sources whose event_id derives from it.")
    var position: String?

    @Option(name: .customLong("now-ms"), help: "The current time in ms since the epoch (for the future-timestamp rule and missing timestamps). [default: now]")
    var nowMilliseconds: Int64?

    @Argument(help: "The sample file (JSON object, array or NDJSON); `-` reads standard input.")
    var sample: String

    func run() throws {
        let path = LegacyRulesPath.resolve(rulesPath)
        let rules: LegacyRuleSet
        do {
            rules = try LegacyRuleSet.load(contentsOfFile: path)
        } catch {
            FileHandle.standardError.write(Data("\(error.description)\n".utf8))
            throw ExitCode.failure
        }
        guard let sourceRules = rules[source: source] else {
            FileHandle.standardError.write(Data("\(path) defines no source `\(source)`; it defines: \(rules.sources.map(\.name).joined(separator: ", "))\n".utf8))
            throw ExitCode.failure
        }
        guard let payloadFormat = LegacyPayloadFormat(rawValue: format) else {
            throw ValidationError("--format must be auto, object, array or ndjson, not `\(format)`")
        }
        var kafkaPosition: LegacySourcePosition?
        if let position {
            let parts = position.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count >= 3, let partition = Int32(parts[parts.count - 2]), let offset = Int64(parts[parts.count - 1]) else {
                throw ValidationError("--position must be TOPIC:PARTITION:OFFSET, e.g. vpn.events:0:42")
            }
            kafkaPosition = LegacySourcePosition(topic: parts.dropLast(2).joined(separator: ":"), partition: partition, offset: offset)
        }
        let data: Data?
        if sample == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            data = FileManager.default.contents(atPath: sample)
        }
        guard let data else { throw ValidationError("cannot read the sample file \(sample)") }

        let now = nowMilliseconds ?? UnixTime.nowMilliseconds()
        let mapper = LegacyMapper(rules: sourceRules)
        let result = mapper.mapPayload(
            Array(data), format: payloadFormat, position: kafkaPosition,
            receivedAtMilliseconds: now, nowMilliseconds: now
        )
        let (text, allAccepted) = LegacyOutput.render(result)
        print(text, terminator: "")
        if !allAccepted { throw ExitCode.failure }
    }
}

/// Where the rule file is when no flag names it.
enum LegacyRulesPath {
    static func resolve(_ flag: String?) -> String {
        if let flag { return flag }
        if let value = ProcessInfo.processInfo.environment["AUDITPIPE_LEGACY_RULES"], !value.isEmpty { return value }
        return "Deploy/legacy-rules.yaml"
    }
}
