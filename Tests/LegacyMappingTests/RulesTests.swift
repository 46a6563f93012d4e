import Foundation
import LegacyMapping
import Testing

@Suite struct RulesTests {
    static let minimal = """
        version: 1
        sources:
          - name: svc
            tenant: {path: org, default: acme}
            event_id: {path: id}
            timestamp: {path: ts, format: iso8601}
            fields:
              actor_id: {path: user.id}
              event_type: {constant: auth}
              resource: {constant: session}
              action: {path: op}
            metadata: {unmapped: none}
        """

    /// The problems of `yaml`, as printed.
    func problems(_ yaml: String) -> [String] {
        do {
            _ = try LegacyRuleSet.parse(yaml: yaml, fileName: "rules.yaml")
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func aMinimalFileLoads() throws {
        let rules = try LegacyRuleSet.parse(yaml: Self.minimal)
        let svc = try #require(rules[source: "svc"])
        #expect(svc.fields[.tenantID] == LegacyValueRule(origin: .paths([try LegacyPath(parsing: "org")]), defaultValue: "acme"))
        #expect(svc.eventID == .path([try LegacyPath(parsing: "id")], prefix: "svc:"))
        #expect(svc.timestamp == LegacyTimestampRule(paths: [try LegacyPath(parsing: "ts")], format: .iso8601, assumeOffsetSeconds: 0, useReceivedTimeWhenMissing: false))
        #expect(svc.metadata.unmapped == .none)
    }

    @Test func unknownKeysAreRejectedWithLineSourceAndKey() {
        let yaml = Self.minimal.replacingOccurrences(of: "actor_id: {path: user.id}", with: "actor_id: {pth: user.id}")
        #expect(problems(yaml) == [
            "rules.yaml:8:18: source `svc`, `sources[0].fields.actor_id.pth`: unknown key; expected one of `path`, `constant`, `default`, `map`, `unknown_values`",
            "rules.yaml:8:17: source `svc`, `sources[0].fields.actor_id`: give `path` (where the value is in the input) or `constant`",
        ])
        let topLevel = Self.minimal.replacingOccurrences(of: "    metadata: {unmapped: none}", with: "    metadata: {unmapped: none}\n    tenant_id: {constant: x}")
        #expect(problems(topLevel) == [
            "rules.yaml:13:5: source `svc`, `sources[0].tenant_id`: unknown key; expected one of `name`, `description`, `tenant`, `event_id`, `timestamp`, `fields`, `value_maps`, `metadata`"
        ])
    }

    @Test func badPathsAndUnknownTimestampFormatsAreRejected() {
        let yaml = Self.minimal
            .replacingOccurrences(of: "{path: user.id}", with: "{path: \"user..id\"}")
            .replacingOccurrences(of: "format: iso8601", with: "format: unix")
        #expect(problems(yaml) == [
            "rules.yaml:6:35: source `svc`, `sources[0].timestamp.format`: unknown timestamp format `unix`; use one of `iso8601`, `rfc2822`, `epoch_seconds`, `epoch_milliseconds`, `epoch_auto`",
            "rules.yaml:8:24: source `svc`, `sources[0].fields.actor_id.path`: invalid path `user..id`: expected a name after '.' at character 6",
        ])
        for bad in ["events[x]", "$", "a b", "x[\"unterminated"] {
            #expect(throws: LegacyPathError.self, "\(bad)") { try LegacyPath(parsing: bad) }
        }
    }

    @Test func aNamedZoneWithDaylightSavingIsRefused() {
        let yaml = Self.minimal.replacingOccurrences(of: "format: iso8601}", with: "format: iso8601, assume_zone: Europe/Berlin}")
        #expect(problems(yaml).count == 1)
        #expect(problems(yaml).first?.contains("`sources[0].timestamp.assume_zone`: `Europe/Berlin` is not `UTC` or a fixed offset") == true)
        let onEpoch = Self.minimal.replacingOccurrences(of: "format: iso8601}", with: "format: epoch_seconds, assume_zone: \"+01:00\"}")
        #expect(problems(onEpoch).first?.contains("only applies to `iso8601`") == true)
    }

    @Test func everyCanonicalFieldMustBeSetExactlyOnce() {
        let missing = Self.minimal.replacingOccurrences(of: "      resource: {constant: session}\n", with: "")
        #expect(problems(missing) == [
            "rules.yaml:3:5: source `svc`, `sources[0].fields.resource`: no rule sets `resource`; add `fields.resource` (a path or a constant) or a value map that sets it"
        ])
        let twice = Self.minimal.replacingOccurrences(of: "    metadata: {unmapped: none}", with: """
                value_maps:
                  - path: status
                    cases:
                      ok: {event_type: auth, action: login}
                metadata: {unmapped: none}
            """)
        let found = problems(twice)
        #expect(found.count == 2)
        #expect(found.allSatisfy { $0.contains("`sources[0].value_maps[0]`: `") && $0.contains("is set both here and by `fields.") })
    }

    @Test func valueMapCasesMustSetTheSameFields() {
        let yaml = Self.minimal
            .replacingOccurrences(of: "      event_type: {constant: auth}\n", with: "")
            .replacingOccurrences(of: "      action: {path: op}\n", with: "")
            .replacingOccurrences(of: "    metadata: {unmapped: none}", with: """
                value_maps:
                  - path: status
                    cases:
                      ok: {event_type: auth, action: login}
                      bye: {event_type: auth}
                metadata: {unmapped: none}
            """)
        let found = problems(yaml)
        #expect(found.count == 1)
        #expect(found.first?.contains("`sources[0].value_maps[0].cases.bye`: sets event_type but the other cases set event_type, action; every case must set the same fields") == true)
    }

    @Test func fileLevelProblems() {
        #expect(problems("version: 2\nsources: []") == [
            "rules.yaml:1:10: `version`: unsupported version; this AuditPipe reads version 1",
            "rules.yaml:2:10: `sources`: no sources are defined",
        ])
        #expect(problems("") == ["rules.yaml: ``: the file is empty; it needs `version: 1` and `sources:`"])
        #expect(problems("version: 1\nsources: [\n").first?.hasPrefix("rules.yaml: ``: not valid YAML") == true)
        let duplicate = Self.minimal + "\n" + Self.minimal.split(separator: "\n").dropFirst(2).joined(separator: "\n")
        #expect(problems(duplicate).contains { $0.contains("`sources[1].name`: source `svc` is defined twice") })
        let badName = Self.minimal.replacingOccurrences(of: "name: svc", with: "name: Billing Service")
        #expect(problems(badName).first?.contains("`sources[0].name`: use 1 to 48 characters of a-z, 0-9") == true)
        let nullValue = Self.minimal.replacingOccurrences(of: "{constant: session}", with: "{constant: null}")
        #expect(problems(nullValue).first?.contains("`sources[0].fields.resource.constant`: is empty (null)") == true)
    }

    @Test func theDeployedRuleFileIsValid() throws {
        let rules = try LegacyRuleSet.load(contentsOfFile: CorpusTests.rulesFile.path)
        #expect(rules.sources.count == 12)
    }
}
